"""SGD with momentum and Nesterov momentum (Keras 3 update)."""

from .base_optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"[SGD] momentum must be in [0, 1], got {momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        lr = t(learning_rate)
        var = variable.value
        if self.momentum != 0:
            m = self.slot(variable, "momentum")
            step = gradient * lr
            m *= t(self.momentum)
            m -= step                      # m = m * momentum - g * lr
            if self.nesterov:
                var += m * t(self.momentum) - step
            else:
                var += m
        else:
            var -= gradient * lr

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
