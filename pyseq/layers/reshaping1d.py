"""Keras's sequence reshaping layers: ZeroPadding1D, Cropping1D, UpSampling1D on the time axis
of (B, T, F) inputs, and Permute of the non-batch axes. All four drop a mask, as Keras's do."""

import numpy as np

from .base import Layer
from .core import as_array, check_rank


def _pair(layer, name, value):
    """An int or a pair of non-negative ints as (left, right)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        left, right = (int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"[{layer.name}] {name} must be an int or a pair of ints, got "
                        f"{value!r}") from None
    if left < 0 or right < 0:
        raise ValueError(f"[{layer.name}] {name} must be >= 0, got {value!r}")
    return left, right


class ZeroPadding1D(Layer):
    """(B, T, F) -> (B, left + T + right, F) with zero steps (the last axis padded instead with
    data_format="channels_first"); ``padding`` an int or a pair."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"[{self.name}] data_format must be 'channels_last' or "
                             f"'channels_first', got {data_format!r}")
        self.data_format = data_format or "channels_last"
        self.padding = _pair(self, "padding", padding)

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, data_format=self.data_format)
        return config

    def _axis(self):
        return 2 if self.data_format == "channels_first" else 1

    def build(self, input_shape):
        check_rank(self, input_shape, exact=3)

    def compute_output_shape(self, input_shape, **kwargs):
        check_rank(self, input_shape, exact=3)
        shape = list(input_shape)
        T = shape[self._axis()]
        shape[self._axis()] = None if T is None else T + sum(self.padding)
        return tuple(shape)

    def forward(self, inputs, *, training=False, mask=None):
        x = as_array(inputs, self.name)
        check_rank(self, x.shape, exact=3)
        pads = [(0, 0)] * 3
        pads[self._axis()] = self.padding
        return np.pad(x, pads), x.shape[self._axis()]

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        keep = slice(self.padding[0], self.padding[0] + cache)
        d = d_outputs[:, :, keep] if self._axis() == 2 else d_outputs[:, keep]
        return {"inputs": d}, []


class Cropping1D(Layer):
    """(B, T, F) -> (B, T - left - right, F); ``cropping`` an int or a pair."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair(self, "cropping", cropping)

    def get_config(self):
        config = super().get_config()
        config["cropping"] = self.cropping
        return config

    def _steps(self, T):
        if T is not None and T - sum(self.cropping) < 0:
            raise ValueError(f"[{self.name}] cropping {self.cropping} removes more than the "
                             f"{T} steps of the input")
        if T is not None and T == sum(self.cropping):  # Keras refuses an empty output too
            raise ValueError(f"[{self.name}] cropping {self.cropping} removes all the {T} steps "
                             f"of the input; at least one must remain")
        return None if T is None else T - sum(self.cropping)

    def build(self, input_shape):
        check_rank(self, input_shape, exact=3)
        self._steps(input_shape[1])

    def compute_output_shape(self, input_shape, **kwargs):
        check_rank(self, input_shape, exact=3)
        return (input_shape[0], self._steps(input_shape[1]), input_shape[2])

    def forward(self, inputs, *, training=False, mask=None):
        x = as_array(inputs, self.name)
        check_rank(self, x.shape, exact=3)
        T = self._steps(x.shape[1])
        return x[:, self.cropping[0]:self.cropping[0] + T], x.shape

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        dx = np.zeros(cache, d_outputs.dtype)
        dx[:, self.cropping[0]:self.cropping[0] + d_outputs.shape[1]] = d_outputs
        return {"inputs": dx}, []


class UpSampling1D(Layer):
    """(B, T, F) -> (B, size * T, F), each step repeated ``size`` times."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"[{self.name}] size must be a positive int, got {size!r}")
        self.size = int(size)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config

    def build(self, input_shape):
        check_rank(self, input_shape, exact=3)

    def compute_output_shape(self, input_shape, **kwargs):
        check_rank(self, input_shape, exact=3)
        T = input_shape[1]
        return (input_shape[0], None if T is None else T * self.size, input_shape[2])

    def forward(self, inputs, *, training=False, mask=None):
        x = as_array(inputs, self.name)
        check_rank(self, x.shape, exact=3)
        return np.repeat(x, self.size, axis=1), None

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        B, TS, F = d_outputs.shape
        return {"inputs": d_outputs.reshape(B, TS // self.size, self.size, F).sum(axis=2)}, []


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is a permutation of 1..rank-1 (Keras's)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise TypeError(f"[{self.name}] dims must be a tuple of ints, got {dims!r}") from None
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"[{self.name}] dims must be a permutation of 1..{len(dims)}, got "
                             f"{dims}")
        self.dims = dims

    def get_config(self):
        config = super().get_config()
        config["dims"] = self.dims
        return config

    def build(self, input_shape):
        check_rank(self, input_shape, exact=len(self.dims) + 1)

    def compute_output_shape(self, input_shape, **kwargs):
        check_rank(self, input_shape, exact=len(self.dims) + 1)
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, inputs, *, training=False, mask=None):
        x = as_array(inputs, self.name)
        check_rank(self, x.shape, exact=len(self.dims) + 1)
        return np.transpose(x, (0,) + self.dims), None

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        return {"inputs": np.transpose(d_outputs, np.argsort((0,) + self.dims))}, []
