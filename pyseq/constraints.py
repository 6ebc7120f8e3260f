"""Weight constraints with Keras 3's names and arithmetic, applied by the optimizer to a
weight after each update (a layer's ``<prefix>_constraint=`` attaches one): ``MaxNorm``,
``NonNeg``, ``UnitNorm``, ``MinMaxNorm``. Norms run over ``axis`` (0 by default: the
incoming weights of each unit of a Dense kernel) and are offset by 1e-7 as in Keras."""

import numpy as np

_EPS = 1e-7


class Constraint:
    def __call__(self, w):
        """The projected weight array (a new array shaped like w)."""
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _norms(w, axis):
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis  # Keras takes lists
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        n = _norms(w, self.axis)
        return (w * (np.clip(n, 0, self.max_value) / (_EPS + n))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return np.maximum(w, 0).astype(w.dtype, copy=False)


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return (w / (_EPS + _norms(w, self.axis))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        n = _norms(w, self.axis)
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return (w * (desired / (_EPS + n))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
_BY_NAME = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
            "min_max_norm": MinMaxNorm}
for _cls in (MaxNorm, NonNeg, UnitNorm, MinMaxNorm):
    _BY_NAME[_cls.__name__] = _cls


def get(identifier):
    """A Constraint from None, a name ('max_norm', 'non_neg' ...), a Keras config dict or an
    instance."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_NAME:
        return _BY_NAME[identifier["class_name"]].from_config(identifier.get("config") or {})
    raise ValueError(f"[constraints.get] unknown constraint {identifier!r}; expected None, "
                     f"one of {sorted(k for k in _BY_NAME if k.islower())}, a Constraint or "
                     f"its config")


__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg",
           "unit_norm", "min_max_norm", "get"]
