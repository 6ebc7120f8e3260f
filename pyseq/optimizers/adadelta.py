"""Adadelta (Keras 3 update, with Keras's learning_rate scaling the step; default 0.001)."""

import numpy as np

from .base_optimizer import Optimizer, _number


class Adadelta(Optimizer):
    """acc_g = rho*acc_g + (1-rho)*g^2; delta = -sqrt(acc_dx + eps) / sqrt(acc_g + eps) * g;
    acc_dx = rho*acc_dx + (1-rho)*delta^2; var += lr * delta."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="adadelta",
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.rho = _number("Adadelta", "rho", rho, 0.0, 1.0)
        self.epsilon = _number("Adadelta", "epsilon", epsilon, 0.0)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        rho, eps = t(self.rho), t(self.epsilon)
        acc_g = self.slot(variable, "accumulated_grad")
        acc_dx = self.slot(variable, "accumulated_delta_var")
        acc_g *= rho
        acc_g += t(1 - self.rho) * np.square(gradient)
        delta = np.sqrt(acc_dx + eps) * gradient
        delta /= np.sqrt(acc_g + eps)
        np.negative(delta, out=delta)
        acc_dx *= rho
        acc_dx += t(1 - self.rho) * np.square(delta)
        variable.value += t(learning_rate) * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
