"""Lion (Keras 3 update: the sign of an interpolated momentum, then the momentum's update)."""

import numpy as np

from .base_optimizer import Optimizer, _number


class Lion(Optimizer):
    """var -= lr * sign(beta_1*m + (1 - beta_1)*g); m = beta_2*m + (1 - beta_2)*g."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="lion", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        # beta_1 = 0 would make Lion signSGD (Keras refuses it too)
        self.beta_1 = _number("Lion", "beta_1", beta_1, 0.0, 1.0, low_open=True)
        self.beta_2 = _number("Lion", "beta_2", beta_2, 0.0, 1.0)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        m = self.slot(variable, "momentum")
        c = m * t(self.beta_1) + gradient * t(1 - self.beta_1)
        variable.value -= t(learning_rate) * np.sign(c)
        m *= t(self.beta_2)
        m += gradient * t(1 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
