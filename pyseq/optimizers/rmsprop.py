"""RMSprop (Keras 3 update: epsilon inside the square root, optional momentum and centering)."""

import numpy as np

from .base_optimizer import Optimizer


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        rho = t(self.rho)
        velocity = self.slot(variable, "velocity")
        velocity *= rho
        velocity += t(1 - self.rho) * np.square(gradient)
        if self.centered:
            avg = self.slot(variable, "average_gradient")
            avg *= rho
            avg += t(1 - self.rho) * gradient
            denominator = velocity - np.square(avg) + t(self.epsilon)
        else:
            denominator = velocity + t(self.epsilon)
        increment = t(learning_rate) * gradient
        increment /= np.sqrt(denominator)
        if self.momentum > 0:
            mom = self.slot(variable, "momentum")
            mom *= t(self.momentum)
            mom += increment
            variable.value -= mom
        else:
            variable.value -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
