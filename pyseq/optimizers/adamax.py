"""Adamax (Keras 3 update: the infinity-norm variant of Adam, epsilon added to u)."""

import numpy as np

from .base_optimizer import Optimizer, _number


class Adamax(Optimizer):
    """m += (g - m)*(1 - beta_1); u = max(beta_2*u, |g|);
    var -= lr * m / ((1 - beta_1^t) * (u + epsilon))."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adamax", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.beta_1 = _number("Adamax", "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _number("Adamax", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _number("Adamax", "epsilon", epsilon, 0.0)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        m = self.slot(variable, "momentum")
        u = self.slot(variable, "norm")
        m += (gradient - m) * t(1 - self.beta_1)
        u *= t(self.beta_2)
        np.maximum(u, np.abs(gradient), out=u)
        bias = t(1 - self.beta_1 ** (self.iterations + 1))
        variable.value -= m * t(learning_rate) / ((u + t(self.epsilon)) * bias)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
