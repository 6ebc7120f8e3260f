"""Keras 3's weight and activity regularizers on NumPy arrays, each with its gradient.

A regularizer maps an array to a scalar penalty that training adds to the loss: a layer's
``kernel_regularizer`` (and the other ``*_regularizer`` arguments) penalises a weight,
``activity_regularizer`` the layer's output (divided by the output's batch size, as Keras does).
Penalties follow Keras's formulas exactly:

- ``L1(l1)``: ``l1 * sum(|x|)``; ``L2(l2)``: ``l2 * sum(x**2)`` (no 1/2);
  ``L1L2(l1, l2)``: both.
- ``OrthogonalRegularizer(factor, mode)``: the rows (or columns) of a 2-D x are normalised to
  unit length (norms below 1e-7 are taken as 1e-7), and the penalty is
  ``factor * 0.5 * sum(|P - diag(P)|) / (n (n - 1) / 2)`` with ``P`` their Gram matrix and
  ``n`` the number of rows (columns).

pyseq has no automatic differentiation, so each regularizer also gives ``gradient(x)``, the
gradient of its penalty with respect to x (|x| has gradient sign(x), 0 at 0, as in PyTorch). A
custom regularizer subclasses :class:`Regularizer` and defines ``__call__`` and ``gradient``;
a plain function (``lambda w: ...``) is accepted, and its penalty is reported, but training a
weight it penalises raises TypeError since pyseq cannot differentiate it.
"""

import math

import numpy as np

from ._keras_config import deserialize_builtin, get_builtin, serialize_builtin

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize"]

_EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest norm OrthogonalRegularizer divides by


def _factor(owner, name, value):
    """A penalty factor as Keras validates it: a finite number >= 0 (None means the default)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"[{owner}] {name} must be a non-negative number, got {value!r:.60}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"[{owner}] {name} must be a non-negative finite number, got {value}")
    return value


def _array(owner, x):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"[{owner}] expects a float array, got dtype {x.dtype}")
    return x


class Regularizer:
    """Base class: ``penalty = regularizer(x)`` (a scalar), ``regularizer.gradient(x)``.

    The base penalty is 0 (Keras's). Subclasses override ``__call__`` and ``gradient``, and
    ``get_config`` for ``from_config`` round trips.
    """

    def __call__(self, x):
        return 0.0

    def gradient(self, x):
        """d penalty / d x, shaped like x."""
        if type(self).__call__ is Regularizer.__call__:
            return np.zeros_like(np.asarray(x))
        raise NotImplementedError(
            f"{type(self).__name__} defines a penalty but no gradient(x): pyseq needs both to "
            "train (it has no automatic differentiation)")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    def __repr__(self):
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``; both factors default to 0 (Keras 3's class)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("L1L2", "l1", 0.0 if l1 is None else l1)
        self.l2 = _factor("L1L2", "l2", 0.0 if l2 is None else l2)

    def __call__(self, x):
        x = _array(type(self).__name__, x)
        penalty = x.dtype.type(0)
        if self.l1:
            penalty += x.dtype.type(self.l1) * np.sum(np.abs(x))
        if self.l2:
            penalty += x.dtype.type(self.l2) * np.sum(np.square(x))
        return penalty

    def gradient(self, x):
        x = _array(type(self).__name__, x)
        g = np.zeros_like(x)
        if self.l1:
            g += x.dtype.type(self.l1) * np.sign(x)
        if self.l2:
            g += x.dtype.type(2.0 * self.l2) * x
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)``; l1 defaults to 0.01."""

    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else _factor("L1", "l1", l1))

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)``; l2 defaults to 0.01 (no 1/2, as Keras)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=0.01 if l2 is None else _factor("L2", "l2", l2))

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns (``"columns"``) of a 2-D weight towards
    orthogonality: ``factor`` times the mean |cosine| over the pairs of distinct rows
    (columns)."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(f"[OrthogonalRegularizer] mode must be 'rows' or 'columns', got "
                             f"{mode!r}")
        self.mode = mode

    def _parts(self, x):
        x = _array("OrthogonalRegularizer", x)
        if x.ndim != 2:
            raise ValueError(f"[OrthogonalRegularizer] expects a 2-D array, got shape {x.shape}")
        rows = x if self.mode == "rows" else x.T
        norms = np.sqrt(np.sum(np.square(rows), axis=1, keepdims=True))
        # Keras: x * min(1/norm, 1/eps), i.e. x / max(norm, eps)
        denom = np.maximum(norms, x.dtype.type(_EPSILON))
        unit = rows / denom
        gram = unit @ unit.T
        np.fill_diagonal(gram, 0)
        n = rows.shape[0]
        # n = 1 has no pairs: Keras divides 0 by 0 (NaN); the penalty of one row is 0 here
        pairs = n * (n - 1) / 2.0
        scale = x.dtype.type(0.5 * self.factor / pairs if pairs else 0.0)
        return x, rows, norms, denom, unit, gram, scale

    def __call__(self, x):
        _, _, _, _, _, gram, scale = self._parts(x)
        return scale * np.sum(np.abs(gram))

    def gradient(self, x):
        x, rows, norms, denom, unit, gram, scale = self._parts(x)
        # penalty = scale * sum_{i != j} |u_i . u_j|: d/du_i = 2 scale sum_j sign(G_ij) u_j
        d_unit = (2 * scale) * (np.sign(gram) @ unit)
        # u = r / max(|r|, eps): through the norm only where |r| > eps
        radial = np.sum(d_unit * unit, axis=1, keepdims=True)
        d_rows = np.where(norms > _EPSILON, (d_unit - unit * radial) / denom, d_unit / denom)
        return d_rows if self.mode == "rows" else d_rows.T

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras 3 exports the lowercase names as aliases of the classes.
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_CLASSES = {cls.__name__: cls for cls in (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)}
# Keras's string names: the class names and their snake_case forms ('l1l2' for L1L2).
_NAMES = dict(_CLASSES, regularizer=Regularizer, l1=L1, l2=L2, l1l2=L1L2,
              orthogonal_regularizer=OrthogonalRegularizer)


def serialize(regularizer):
    """Keras's form for a built-in regularizer (``{"module": "keras.regularizers",
    "class_name": "L2", "config": {"l2": 0.01}, "registered_name": None}``); None stays None,
    and a custom regularizer or function is returned as itself (pyseq keeps configs in Python,
    it does not write them to JSON)."""
    return serialize_builtin(regularizer, "keras.regularizers", tuple(_CLASSES.values()))


def deserialize(config, custom_objects=None):
    """The regularizer of a ``{"class_name": ..., "config": {...}}`` dict (Keras's form)."""
    return deserialize_builtin("regularizer", config, _NAMES, _CLASSES, custom_objects)


def get(identifier):
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2', 'L1L2', 'orthogonal_regularizer',
    ...), a dict from :func:`serialize`, a class, an instance or any callable.

    'l1_l2' gives L1L2(l1=0.01, l2=0.01), the defaults Keras documents for that string (Keras
    3.15 itself fails to resolve it); 'L1L2' and 'l1l2' give L1L2() as in Keras.
    """
    if identifier == "l1_l2":  # Keras's documented default (Keras 3.15 itself raises)
        return L1L2(l1=0.01, l2=0.01)
    return get_builtin("regularizer", identifier, _NAMES, _CLASSES, Regularizer, deserialize,
                       "'l1', 'l2', 'l1_l2', 'orthogonal_regularizer'")
