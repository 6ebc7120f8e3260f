"""Weight regularizers with Keras 3's names and arithmetic: ``L1`` (l1 * sum|w|), ``L2``
(l2 * sum w^2), ``L1L2``. A layer given ``kernel_regularizer=`` (``recurrent_``, ``bias_``,
``embeddings_``, ``gamma_``/``beta_``, ``depthwise_``/``pointwise_``, ``alpha_``) attaches it
to those weights; ``fit``/``evaluate`` add the penalties to the loss (Keras's ``model.losses``)
and their gradients to the weights' gradients."""

import numpy as np


class Regularizer:
    def __call__(self, x):
        """The penalty for weight array ``x`` (a float)."""
        raise NotImplementedError

    def grad(self, x):
        """d penalty / dx, shaped like x."""
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _factor(cls, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or value < 0:
        raise ValueError(f"[{cls}] {name} must be a number >= 0, got {value!r}")
    return float(value)


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(type(self).__name__, "l1", l1)
        self.l2 = _factor(type(self).__name__, "l2", l2)

    def __call__(self, x):
        x = np.asarray(x)
        out = 0.0
        if self.l1:
            out += self.l1 * float(np.sum(np.abs(x), dtype=np.float64))
        if self.l2:
            out += self.l2 * float(np.sum(np.square(x), dtype=np.float64))
        return out

    def grad(self, x):
        x = np.asarray(x)
        g = np.zeros_like(x)
        if self.l1:
            g += x.dtype.type(self.l1) * np.sign(x)
        if self.l2:
            g += x.dtype.type(2.0 * self.l2) * x
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2
_BY_NAME = {"l1": L1, "l2": L2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A Regularizer from None, a name ('l1', 'l2'), a Keras config dict or an instance."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_NAME:
        return _BY_NAME[identifier["class_name"]].from_config(identifier.get("config") or {})
    raise ValueError(f"[regularizers.get] unknown regularizer {identifier!r}; expected None, "
                     f"'l1', 'l2', an L1/L2/L1L2 instance or its config")


__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get"]
