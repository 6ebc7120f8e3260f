"""Models: the functional ``Model(inputs, outputs)`` and ``Sequential``, with Keras's compile /
fit / evaluate / predict and a NumPy training loop (``compute_gradients``)."""

from .functional import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
