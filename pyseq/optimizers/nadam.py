"""Nadam (Keras 3 update: Adam with Nesterov momentum and Dozat's momentum schedule
u_t = beta_1 * (1 - 0.5 * 0.96^t), whose running product is kept once per step)."""

import numpy as np

from .base_optimizer import Optimizer, _number


class Nadam(Optimizer):
    """With u_t as above and U_t = u_1*...*u_t: m += (g - m)*(1 - beta_1);
    v += (g^2 - v)*(1 - beta_2); m_hat = u_{t+1}*m/(1 - U_t*u_{t+1}) + (1 - u_t)*g/(1 - U_t);
    var -= lr * m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="nadam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name, **kwargs)
        self.beta_1 = _number("Nadam", "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _number("Nadam", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _number("Nadam", "epsilon", epsilon, 0.0)
        self._u_product = 1.0

    def _extra_state_size(self):
        return 1, 4     # Keras keeps the momentum-schedule product in a float32 variable

    def _u(self, step):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** step)

    def _update_all(self, grads, variables, learning_rate):
        # the product of the momentum schedule advances once per step, not per variable
        self._u_product *= self._u(self.iterations + 1)
        super()._update_all(grads, variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        t = variable.dtype.type
        step = self.iterations + 1
        u_t, u_next = self._u(step), self._u(step + 1)
        prod_t = self._u_product
        m = self.slot(variable, "momentum")
        v = self.slot(variable, "velocity")
        m += (gradient - m) * t(1 - self.beta_1)
        v += (np.square(gradient) - v) * t(1 - self.beta_2)
        m_hat = m * t(u_next / (1 - prod_t * u_next))
        m_hat += gradient * t((1 - u_t) / (1 - prod_t))
        v_hat = v / t(1 - self.beta_2 ** step)
        m_hat *= t(learning_rate)
        m_hat /= np.sqrt(v_hat) + t(self.epsilon)
        variable.value -= m_hat

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
