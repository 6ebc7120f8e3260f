"""Shape-only layers: Flatten, Reshape, RepeatVector."""

import math

import numpy as np

from .base import Layer
from .core import as_array, check_rank


class Flatten(Layer):
    """(B, d1, d2, ...) -> (B, d1*d2*...); with data_format="channels_first" the channel axis
    (axis 1) moves last before flattening, as in Keras."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"[{self.name}] data_format must be 'channels_last' or "
                             f"'channels_first', got {data_format!r}")
        self.data_format = data_format or "channels_last"

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config

    def build(self, input_shape):
        check_rank(self, input_shape, min_rank=1)

    def compute_output_shape(self, input_shape, **kwargs):
        check_rank(self, input_shape, min_rank=1)
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))

    def _order(self, ndim):
        if self.data_format == "channels_first" and ndim > 2:
            return (0, *range(2, ndim), 1)
        return None

    def forward(self, inputs, *, training=False, mask=None):
        x = as_array(inputs, self.name)
        check_rank(self, x.shape, min_rank=1)
        order = self._order(x.ndim)
        moved = x if order is None else np.transpose(x, order)
        return moved.reshape(x.shape[0], math.prod(x.shape[1:])), (moved.shape, order)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {"inputs": None}, []
        shape, order = cache
        d = d_outputs.reshape(shape)
        return {"inputs": d if order is None else np.transpose(d, np.argsort(order))}, []


class Reshape(Layer):
    """(B, ...) -> (B, *target_shape); one entry of target_shape may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target_shape = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise TypeError(f"[{self.name}] target_shape must be a tuple of ints, got "
                            f"{target_shape!r}") from None
        if sum(d == -1 for d in target_shape) > 1 or any(d < -1 or d == 0 for d in target_shape):
            raise ValueError(f"[{self.name}] target_shape takes positive sizes and at most one "
                             f"-1, got {target_shape}")
        self.target_shape = target_shape

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config

    def _resolve(self, in_shape):
        size = None if any(d is None for d in in_shape) else math.prod(in_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size is None:
                return tuple(None if d == -1 else d for d in self.target_shape)
            if size % known:
                raise ValueError(f"[{self.name}] cannot reshape inputs of shape {in_shape} "
                                 f"(size {size}) to {self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size is not None and size != known:
            raise ValueError(f"[{self.name}] cannot reshape inputs of shape {in_shape} (size "
                             f"{size}) to {self.target_shape} (size {known})")
        return self.target_shape

    def build(self, input_shape):
        check_rank(self, input_shape, min_rank=1)
        self._resolve(tuple(input_shape[1:]))

    def compute_output_shape(self, input_shape, **kwargs):
        return (input_shape[0],) + self._resolve(tuple(input_shape[1:]))

    def forward(self, inputs, *, training=False, mask=None):
        x = as_array(inputs, self.name)
        check_rank(self, x.shape, min_rank=1)
        return x.reshape((x.shape[0],) + self._resolve(x.shape[1:])), x.shape

    def backward(self, cache, d_outputs):
        return {"inputs": None if d_outputs is None else d_outputs.reshape(cache)}, []


class RepeatVector(Layer):
    """(B, F) -> (B, n, F)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"[{self.name}] n must be a positive int, got {n!r}")
        self.n = int(n)

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config

    def build(self, input_shape):
        check_rank(self, input_shape, exact=2)

    def compute_output_shape(self, input_shape, **kwargs):
        check_rank(self, input_shape, exact=2)
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, inputs, *, training=False, mask=None):
        x = as_array(inputs, self.name)
        if x.ndim != 2:
            raise ValueError(f"[{self.name}] (RepeatVector) expects inputs of rank 2, got shape "
                             f"{x.shape}")
        return np.repeat(x[:, None, :], self.n, axis=1), None

    def backward(self, cache, d_outputs):
        return {"inputs": None if d_outputs is None else d_outputs.sum(axis=1)}, []
