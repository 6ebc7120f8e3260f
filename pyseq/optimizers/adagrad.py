"""Adagrad (Keras 3 update: epsilon inside the square root of the accumulated squares)."""

import numpy as np

from .base_optimizer import Optimizer, _number


class Adagrad(Optimizer):
    """accumulator += g^2 (starting at initial_accumulator_value);
    var -= lr * g / sqrt(accumulator + epsilon)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.initial_accumulator_value = _number("Adagrad", "initial_accumulator_value",
                                                 initial_accumulator_value, 0.0)
        self.epsilon = _number("Adagrad", "epsilon", epsilon, 0.0)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        acc = self.slot(variable, "accumulator", self.initial_accumulator_value)
        acc += np.square(gradient)
        step = gradient * t(learning_rate)
        step /= np.sqrt(acc + t(self.epsilon))
        variable.value -= step

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
