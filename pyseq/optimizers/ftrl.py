"""FTRL-proximal (Keras 3 update, with L1, L2, L2-shrinkage and beta)."""

import numpy as np

from .base_optimizer import Optimizer, _number


class Ftrl(Optimizer):
    """With p = -learning_rate_power, n the accumulator (from initial_accumulator_value),
    z the linear term: g' = g + 2*l2_shrinkage*var; n' = n + g^2;
    z += g' - (n'^p - n^p)/lr * var; var = (clip(z, -l1, l1) - z) / (n'^p/lr + 2*l2 + beta/lr);
    n = n'."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="ftrl", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.learning_rate_power = _number("Ftrl", "learning_rate_power",
                                           learning_rate_power, high=0.0)
        self.initial_accumulator_value = _number("Ftrl", "initial_accumulator_value",
                                                 initial_accumulator_value, 0.0)
        self.l1_regularization_strength = _number("Ftrl", "l1_regularization_strength",
                                                  l1_regularization_strength, 0.0)
        self.l2_regularization_strength = _number("Ftrl", "l2_regularization_strength",
                                                  l2_regularization_strength, 0.0)
        self.l2_shrinkage_regularization_strength = _number(
            "Ftrl", "l2_shrinkage_regularization_strength",
            l2_shrinkage_regularization_strength, 0.0)
        self.beta = _number("Ftrl", "beta", beta)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        lr = t(learning_rate)
        p = t(-self.learning_rate_power)
        var = variable.value
        accum = self.slot(variable, "accumulator", self.initial_accumulator_value)
        linear = self.slot(variable, "linear")
        l2 = t(self.l2_regularization_strength + self.beta / (2.0 * learning_rate))
        g = gradient + t(2 * self.l2_shrinkage_regularization_strength) * var
        new_accum = accum + np.square(gradient)
        new_pow = np.power(new_accum, p)
        linear += g - (new_pow - np.power(accum, p)) / lr * var
        quadratic = new_pow / lr + t(2) * l2
        l1 = t(self.l1_regularization_strength)
        var[...] = (np.clip(linear, -l1, l1) - linear) / quadratic
        accum[...] = new_accum

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength":
                    self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
