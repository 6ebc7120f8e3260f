"""Keras 3's weight constraints on NumPy arrays.

A constraint maps a weight to its projection, ``new_w = constraint(w)``; the optimizer assigns
it to the variable after each update (Keras's ``optimizer.apply``). Formulas as Keras's, with
norms over ``axis`` (default 0: for a Dense kernel (in, units), the weights into each unit) and
Keras's epsilon 1e-7:

- ``MaxNorm(max_value=2, axis=0)``: ``w * clip(norm, 0, max_value) / (1e-7 + norm)``.
- ``NonNeg()``: ``max(w, 0)``.
- ``UnitNorm(axis=0)``: ``w / (1e-7 + norm)``.
- ``MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0)``:
  ``w * (rate * clip(norm, min_value, max_value) + (1 - rate) * norm) / (1e-7 + norm)``.

Note that, as in Keras, MaxNorm scales every weight by norm / (norm + 1e-7), so a weight already
inside the bound shrinks by a relative 1e-7 / norm at each step.
"""

import numpy as np

from ._keras_config import deserialize_builtin, get_builtin, serialize_builtin

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg",
           "unit_norm", "min_max_norm", "get", "serialize", "deserialize"]

_EPSILON = 1e-7  # Keras's backend.epsilon()


def _number(owner, name, value, low=0.0, high=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"[{owner}] {name} must be a number, got {value!r:.60}")
    if not (value >= low and (high is None or value <= high)):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"[{owner}] {name} must be {bound}, got {value}")
    return value


def _axis(owner, axis):
    """An int or a list/tuple of ints (kept as given, for get_config)."""
    items = axis if isinstance(axis, (list, tuple)) else [axis]
    if not items or any(isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer))
                        for a in items):
        raise TypeError(f"[{owner}] axis must be an int or a list of ints, got {axis!r:.60}")
    return list(axis) if isinstance(axis, (list, tuple)) else int(axis)


class Constraint:
    """Base class: ``constraint(w)`` returns the projected weight (the base returns w)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _NormConstraint(Constraint):
    """What MaxNorm, UnitNorm and MinMaxNorm share: the norms of w over ``axis``."""

    def _norms(self, w):
        w = np.asarray(w)
        if w.dtype.kind != "f":
            raise TypeError(f"[{type(self).__name__}] expects a float array, got dtype {w.dtype}")
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -w.ndim <= a < w.ndim for a in axes):
            raise ValueError(f"[{type(self).__name__}] axis {self.axis} is out of range for a "
                             f"weight of shape {w.shape}")
        return w, np.sqrt(np.sum(np.square(w), axis=tuple(axes), keepdims=True))

    def _rescale(self, w, norms, desired):
        return w * (desired / (w.dtype.type(_EPSILON) + norms))


class MaxNorm(_NormConstraint):
    """Rescales each slice along ``axis`` to a norm of at most ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = _number("MaxNorm", "max_value", max_value)
        self.axis = _axis("MaxNorm", axis)

    def __call__(self, w):
        w, norms = self._norms(w)
        return self._rescale(w, norms, np.clip(norms, 0, w.dtype.type(self.max_value)))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Zeroes the negative weights."""

    def __call__(self, w):
        w = np.asarray(w)
        return np.maximum(w, w.dtype.type(0))


class UnitNorm(_NormConstraint):
    """Rescales each slice along ``axis`` to unit norm."""

    def __init__(self, axis=0):
        self.axis = _axis("UnitNorm", axis)

    def __call__(self, w):
        w, norms = self._norms(w)
        return w / (w.dtype.type(_EPSILON) + norms)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(_NormConstraint):
    """Moves each slice's norm towards [min_value, max_value] by the fraction ``rate``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _number("MinMaxNorm", "min_value", min_value)
        self.max_value = _number("MinMaxNorm", "max_value", max_value)
        if self.max_value < self.min_value:
            raise ValueError(f"[MinMaxNorm] max_value must be >= min_value, got min_value="
                             f"{min_value}, max_value={max_value}")
        self.rate = _number("MinMaxNorm", "rate", rate, 0.0, 1.0)
        self.axis = _axis("MinMaxNorm", axis)

    def __call__(self, w):
        w, norms = self._norms(w)
        t = w.dtype.type
        desired = (t(self.rate) * np.clip(norms, t(self.min_value), t(self.max_value))
                   + t(1 - self.rate) * norms)
        return self._rescale(w, norms, desired)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


# Keras 3 exports the lowercase names as aliases of the classes.
max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm

_CLASSES = {cls.__name__: cls for cls in (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)}
# Keras's string names: the class names and their snake_case forms.
_NAMES = dict(_CLASSES, constraint=Constraint, max_norm=MaxNorm, non_neg=NonNeg,
              unit_norm=UnitNorm, min_max_norm=MinMaxNorm)


def serialize(constraint):
    """Keras's form for a built-in constraint (``{"module": "keras.constraints", "class_name":
    "MaxNorm", "config": {...}, "registered_name": None}``); None stays None, and a custom
    constraint or function is returned as itself."""
    return serialize_builtin(constraint, "keras.constraints", tuple(_CLASSES.values()))


def deserialize(config, custom_objects=None):
    """The constraint of a ``{"class_name": ..., "config": {...}}`` dict (Keras's form)."""
    return deserialize_builtin("constraint", config, _NAMES, _CLASSES, custom_objects)


def get(identifier):
    """A constraint from None, a name ('max_norm', 'non_neg', 'unit_norm', 'min_max_norm' or a
    class name), a dict from :func:`serialize`, a class, an instance or any callable."""
    return get_builtin("constraint", identifier, _NAMES, _CLASSES, Constraint, deserialize,
                       "'max_norm', 'non_neg', 'unit_norm', 'min_max_norm'")
