"""Adamax and Nadam (Keras 3 updates: Adam with the infinity norm, Adam with Nesterov
momentum)."""

import numpy as np

from .base_optimizer import Optimizer


class Adamax(Optimizer):
    """m += (g - m)(1 - beta_1); u = max(beta_2 u, |g|);
    var -= lr m / ((1 - beta_1^t)(u + epsilon))."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adamax", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        m = self.slot(variable, "momentum")
        u = self.slot(variable, "norm")
        m += (gradient - m) * t(1 - self.beta_1)
        np.maximum(u * t(self.beta_2), np.abs(gradient), out=u)
        denom = t(1 - self.beta_1 ** (self.iterations + 1)) * (u + t(self.epsilon))
        variable.value -= t(learning_rate) * m / denom


class Nadam(Optimizer):
    """Keras's Nadam: momentum schedule u_t = beta_1 (1 - 0.5 * 0.96^t) and its running
    product, Nesterov-corrected m_hat, Adam's v_hat."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="nadam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self._u_product = 1.0

    def _u(self, step):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** step)

    def _before_updates(self):
        self._u_product *= self._u(self.iterations + 1)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        step = self.iterations + 1
        u_t, u_t1 = self._u(step), self._u(step + 1)
        u_prod = self._u_product
        m = self.slot(variable, "momentum")
        v = self.slot(variable, "velocity")
        m += (gradient - m) * t(1 - self.beta_1)
        v += (np.square(gradient) - v) * t(1 - self.beta_2)
        m_hat = t(u_t1 / (1 - u_prod * u_t1)) * m + t((1 - u_t) / (1 - u_prod)) * gradient
        v_hat = v / t(1 - self.beta_2 ** step)
        variable.value -= m_hat * t(learning_rate) / (np.sqrt(v_hat) + t(self.epsilon))
