"""Adafactor (Keras 3 update: second moments factored over the last two axes of variables of
rank >= 2, a relative step size and update clipping)."""

import math

import numpy as np

from .base_optimizer import Optimizer, _number


def _rms(x):
    return np.sqrt(np.mean(np.square(x)))


class Adafactor(Optimizer):
    """At step t: rho = min(lr, 1/sqrt(t)); alpha = max(epsilon_2, rms(var)) * rho;
    beta = 1 - t^beta_2_decay; with G = g^2 + epsilon_1, rank >= 2:
    r = beta*r + (1-beta)*mean(G, -1), c = beta*c + (1-beta)*mean(G, -2),
    v = r/mean(r, -1) (outer) c; rank < 2: v = beta*v + (1-beta)*G;
    u = g/sqrt(v); var -= alpha * u / max(1, rms(u)/clip_threshold)."""

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30,
                 epsilon_2=1e-3, clip_threshold=1.0, relative_step=True, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="adafactor",
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.beta_2_decay = _number("Adafactor", "beta_2_decay", beta_2_decay)
        self.epsilon_1 = _number("Adafactor", "epsilon_1", epsilon_1, 0.0)
        self.epsilon_2 = _number("Adafactor", "epsilon_2", epsilon_2, 0.0)
        self.clip_threshold = _number("Adafactor", "clip_threshold", clip_threshold, 0.0,
                                      low_open=True)
        # Keras keeps relative_step, but rho = min(lr, 1/sqrt(t)) applies it either way
        self.relative_step = bool(relative_step)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        var = variable.value
        step = self.iterations + 1
        rho = min(learning_rate, 1.0 / math.sqrt(step))
        alpha = t(max(self.epsilon_2, float(_rms(var))) * rho)
        g2 = np.square(gradient) + t(self.epsilon_1)
        beta = t(1 - step ** self.beta_2_decay)
        if var.ndim >= 2:
            r = self._factor(variable, "r", var.shape[:-1])
            c = self._factor(variable, "c", var.shape[:-2] + var.shape[-1:])
            r *= beta
            r += (t(1) - beta) * np.mean(g2, axis=-1)
            c *= beta
            c += (t(1) - beta) * np.mean(g2, axis=-2)
            v = (r / np.mean(r, axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v = self.slot(variable, "velocity")
            v *= beta
            v += (t(1) - beta) * g2
        u = gradient / np.sqrt(v)
        u /= max(t(1), _rms(u) / t(self.clip_threshold))
        var -= alpha * u

    def _extra_state_size(self):
        # Keras keeps r, c and a velocity for every variable: scalar placeholders r, c for
        # rank < 2, and a velocity (unused) for the factored ranks >= 2
        count = nbytes = 0
        for v in self._ema_vars:
            if v.value.ndim >= 2:
                count, nbytes = count + v.value.size, nbytes + v.value.nbytes
            else:
                count, nbytes = count + 2, nbytes + 2 * v.value.itemsize
        return count, nbytes

    def _factor(self, variable, name, shape):
        key = (id(variable), name)
        if key not in self._slots:
            self._slots[key] = np.zeros(shape, variable.dtype)
        return self._slots[key]

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay,
                "epsilon_1": self.epsilon_1, "epsilon_2": self.epsilon_2,
                "clip_threshold": self.clip_threshold, "relative_step": self.relative_step}
