"""Adam and AdamW (Keras 3 update: var -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps))."""

import math

import numpy as np

from .. import ops
from .base_optimizer import Optimizer


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        step = self.iterations + 1
        alpha = t(learning_rate * math.sqrt(1 - self.beta_2 ** step) / (1 - self.beta_1 ** step))
        m = self.slot(variable, "momentum")
        v = self.slot(variable, "velocity")
        v_hat = self.slot(variable, "velocity_hat") if self.amsgrad else None
        var = variable.value
        if var.flags.c_contiguous and var.flags.writeable and gradient.dtype == var.dtype:
            # one fused pass over var, m, v (and v_hat): the same arithmetic as below
            ops.adam_update(var, m, v, gradient, alpha=alpha, beta_1=self.beta_1,
                            beta_2=self.beta_2, epsilon=self.epsilon, v_hat=v_hat)
            return
        tmp = np.subtract(gradient, m)
        tmp *= t(1 - self.beta_1)
        m += tmp                                   # m += (g - m) * (1 - beta_1)
        np.square(gradient, out=tmp)
        tmp -= v
        tmp *= t(1 - self.beta_2)
        v += tmp                                   # v += (g^2 - v) * (1 - beta_2)
        if v_hat is not None:
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        np.sqrt(v, out=tmp)
        tmp += t(self.epsilon)
        np.divide(m, tmp, out=tmp)
        tmp *= alpha
        var -= tmp

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: var -= var * weight_decay * lr before each update."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm,
                         clipvalue, global_clipnorm, name, **kwargs)
        if weight_decay is None:
            raise ValueError("[AdamW] weight_decay must be a number")
