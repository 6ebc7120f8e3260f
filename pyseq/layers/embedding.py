"""Embedding: integer indices to rows of a learned table, and TokenRows, its output left
unformed for a recurrent layer that takes token inputs (see ``Graph``)."""

import numpy as np

from .. import initializers as _initializers
from .. import ops
from ._keras_args import pop_keras_only
from . import _regularization as _reg
from .base import Layer


class Embedding(Layer):
    """(B, ...) integer indices -> (B, ..., output_dim); embeddings (input_dim, output_dim).

    ``mask_zero=True`` gives the mask ``inputs != 0`` to the layers that follow (as Keras).
    ``input_length`` is accepted for Keras 2 code and ignored.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 input_length=None, weights=None, **kwargs):   # Keras's positional order
        kwargs.update(embeddings_regularizer=embeddings_regularizer,
                      embeddings_constraint=embeddings_constraint)
        opts = _reg.pop_weight_options("Embedding", kwargs, ("embeddings",))
        super().__init__(**pop_keras_only("Embedding", kwargs))
        _reg.set_weight_options(self, opts, lists_activity=True)
        for arg, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"[{self.name}] {arg} must be a positive int, got {v!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = _initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length
        self._initial_weights = weights

    def get_config(self):
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      embeddings_initializer=self.embeddings_initializer,
                      mask_zero=self.mask_zero, quantization_config=None)  # as Keras lists it
        return config

    def build(self, input_shape=None):
        if input_shape is not None and not isinstance(input_shape, tuple):
            raise ValueError(f"[{self.name}] expects one input tensor")
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, options="embeddings")
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

    def forward_tokens(self, inputs):
        """The output as :class:`TokenRows` (nothing gathered); its consumer forms the rows or
        folds the table into its own input projection, and returns the table's gradient."""
        return TokenRows(self, self._indices(inputs)), None

    def forward(self, inputs, *, training=False, mask=None):
        # one native gather; the op checks the index range ([0, input_dim)) and dtype
        return ops.embedding_forward(self.embeddings.value, self._indices(inputs))

    def backward(self, cache, d_outputs):
        if d_outputs is None or not self.trainable:
            return {}, []
        d_table, _ = ops.embedding_backward(d_outputs, cache)
        return {}, [(self.embeddings, d_table)]


class TokenRows:
    """``table[ids]``, an Embedding's output, not yet formed: shape ids.shape + (output_dim,).

    The model graph passes one to a recurrent layer that is the Embedding's only consumer. That
    layer either folds the table into its input projection (``ops.lstm_forward_tokens``) or
    forms the rows with :meth:`gather`; either way it reports the table's gradient through
    :meth:`table_grads`, so the Embedding's own backward has nothing left to do.
    """

    __slots__ = ("layer", "ids")

    def __init__(self, layer, ids):
        self.layer, self.ids = layer, ids

    @property
    def table(self):
        return self.layer.embeddings.value

    @property
    def shape(self):
        return tuple(self.ids.shape) + (self.layer.output_dim,)

    def gather(self):
        """(rows, saved): the Embedding's forward; ``saved`` turns d_rows into the table's
        gradient in :meth:`table_grads`."""
        return ops.embedding_forward(self.table, self.ids)

    def table_grads(self, d_table=None, *, d_rows=None, saved=None):
        """[(embeddings, gradient)] from the table's gradient, or from the rows' gradient and
        :meth:`gather`'s saved; [] when the Embedding is frozen."""
        if not self.layer.trainable:
            return []
        if d_table is None:
            d_table, _ = ops.embedding_backward(d_rows.astype(self.table.dtype, copy=False),
                                                saved)
        return [(self.layer.embeddings, d_table)]
