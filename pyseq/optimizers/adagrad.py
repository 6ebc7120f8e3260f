"""Adagrad and Adadelta (Keras 3 updates: per-coordinate steps from accumulated squares)."""

import numpy as np

from .base_optimizer import Optimizer


class Adagrad(Optimizer):
    """acc += g^2; var -= lr * g / sqrt(acc + epsilon), acc starting at
    initial_accumulator_value."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        acc = self.slot(variable, "accumulator", self.initial_accumulator_value)
        acc += np.square(gradient)
        variable.value -= t(learning_rate) * gradient / np.sqrt(acc + t(self.epsilon))


class Adadelta(Optimizer):
    """Keras's Adadelta: accumulated squared gradients and squared updates, both decayed by
    rho; the step lr * sqrt(acc_delta + eps) / sqrt(acc_grad + eps) * g."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="adadelta",
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        rho, eps = t(self.rho), t(self.epsilon)
        acc_grad = self.slot(variable, "accumulated_grad")
        acc_delta = self.slot(variable, "accumulated_delta_var")
        acc_grad *= rho
        acc_grad += t(1 - self.rho) * np.square(gradient)
        delta = -np.sqrt(acc_delta + eps) * gradient / np.sqrt(acc_grad + eps)
        acc_delta *= rho
        acc_delta += t(1 - self.rho) * np.square(delta)
        variable.value += t(learning_rate) * delta
