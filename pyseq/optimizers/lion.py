"""Lion (Keras 3 update: the sign of an interpolated momentum)."""

import numpy as np

from .base_optimizer import Optimizer


class Lion(Optimizer):
    """var -= lr * sign(beta_1 m + (1 - beta_1) g); m = beta_2 m + (1 - beta_2) g."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="lion", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        if not 0.0 < beta_1 <= 1.0:
            raise ValueError(f"[Lion] beta_1 must be in (0, 1], got {beta_1!r}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        m = self.slot(variable, "momentum")
        variable.value -= t(learning_rate) * np.sign(m * t(self.beta_1) +
                                                     gradient * t(1 - self.beta_1))
        m *= t(self.beta_2)
        m += gradient * t(1 - self.beta_2)
