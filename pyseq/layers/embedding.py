"""Embedding: integer indices to rows of a learned table."""

import numpy as np

from .. import initializers as _initializers
from .. import ops
from .base import Layer


class Embedding(Layer):
    """(B, ...) integer indices -> (B, ..., output_dim); embeddings (input_dim, output_dim).

    ``mask_zero=True`` gives the mask ``inputs != 0`` to the layers that follow (as Keras).
    ``input_length`` is accepted for Keras 2 code and ignored.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 input_length=None, weights=None, **kwargs):
        super().__init__(**kwargs)
        for arg, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"[{self.name}] {arg} must be a positive int, got {v!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = _initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length
        self._initial_weights = weights

    def build(self, input_shape=None):
        if input_shape is not None and not isinstance(input_shape, tuple):
            raise ValueError(f"[{self.name}] expects one input tensor")
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer)
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape, **kwargs):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, inputs, mask=None, **kwargs):
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def _indices(self, inputs):
        idx = np.asarray(inputs)
        if idx.dtype.kind in "fb":  # Keras casts float (and bool) indices to integers
            if idx.dtype.kind == "f" and idx.size and not np.all(idx == np.floor(idx)):
                raise ValueError(f"[{self.name}] (Embedding) expects integer indices, got "
                                 f"non-integer values of dtype {idx.dtype}")
            idx = idx.astype(np.int64)
        return idx

    def forward(self, inputs, *, training=False, mask=None):
        # one native gather; the op checks the index range ([0, input_dim)) and dtype
        return ops.embedding_forward(self.embeddings.value, self._indices(inputs))

    def backward(self, cache, d_outputs):
        if d_outputs is None or not self.trainable:
            return {}, []
        d_table, _ = ops.embedding_backward(d_outputs, cache)
        return {}, [(self.embeddings, d_table)]
