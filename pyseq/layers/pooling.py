"""Keras's 1-D pooling layers on the pooling ops (one kernel call each way)."""

import numpy as np

from .. import ops
from . import _conv_utils as cu
from .base import Layer
from .core import cast_float

__all__ = ["MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D",
           "MaxPool1D", "AvgPool1D", "GlobalMaxPool1D", "GlobalAvgPool1D"]


class _Pooling1D(Layer):

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        n = type(self).__name__
        self.pool_size = (cu.positive_int(n, "pool_size", pool_size),)
        self.strides = (self.pool_size if strides is None
                        else (cu.positive_int(n, "strides", strides),))
        self.padding = cu.padding_mode(n, padding, ("valid", "same"))
        self.data_format = cu.data_format(n, data_format)

    def _length(self, shape):
        return shape[1] if self.data_format == "channels_last" else shape[2]

    def _check(self, shape):
        shape = cu.check_rank3(type(self).__name__, shape)
        T = self._length(shape)
        if self.padding == "valid" and T is not None and T < self.pool_size[0]:
            raise ValueError(f"[{type(self).__name__}] with padding 'valid' the input needs at "
                             f"least pool_size = {self.pool_size[0]} steps, got shape {shape}")
        return shape

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape, **call_kwargs):
        shape = self._check(input_shape)
        T2 = cu.output_length(self._length(shape), self.pool_size[0], self.strides[0],
                              self.padding)
        if self.data_format == "channels_last":
            return (shape[0], T2, shape[2])
        return (shape[0], shape[1], T2)

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        self._check(x.shape)
        fwd, _ = self._ops()
        y, saved = fwd(cu.to_channels_last(x, self.data_format), self.pool_size[0],
                       strides=self.strides[0], padding=self.padding)
        return cu.to_channels_last(y, self.data_format), saved

    def backward(self, cache, d_outputs):
        d = None if d_outputs is None else cu.to_channels_last(
            np.asarray(d_outputs, self.dtype), self.data_format)
        _, bwd = self._ops()
        (dx,) = bwd(d, cache)
        return {"inputs": cu.to_channels_last(dx, self.data_format)}, []

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      data_format=self.data_format)
        return config


class MaxPooling1D(_Pooling1D):
    """Max over windows of pool_size steps (strides default to pool_size)."""

    def _ops(self):
        return ops.max_pool1d_forward, ops.max_pool1d_backward


class AveragePooling1D(_Pooling1D):
    """Mean over windows of pool_size steps; with "same", over the real steps only."""

    def _ops(self):
        return ops.avg_pool1d_forward, ops.avg_pool1d_backward


class _GlobalPooling1D(Layer):
    """Pooling over all steps; where the class uses it (``_uses_mask``), a (B, T) mask excludes
    padded steps, as in Keras 3."""

    supports_masking = True
    _uses_mask = True


    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = cu.data_format(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        cu.check_rank3(type(self).__name__, input_shape)
        self.built = True

    def compute_output_shape(self, input_shape, **call_kwargs):
        shape = cu.check_rank3(type(self).__name__, input_shape)
        C = shape[2] if self.data_format == "channels_last" else shape[1]
        if not self.keepdims:
            return (shape[0], C)
        return (shape[0], 1, C) if self.data_format == "channels_last" else (shape[0], C, 1)

    def compute_mask(self, inputs, mask=None, **call_kwargs):
        return None

    def _ops(self):
        raise NotImplementedError

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        cu.check_rank3(type(self).__name__, x.shape)
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        if mask is not None:
            mask = np.asarray(mask, dtype=bool) if self._uses_mask else None
        fwd, _ = self._ops()
        y, saved = fwd(cu.to_channels_last(x, self.data_format), mask)
        if self.keepdims:
            y = y[:, None, :] if self.data_format == "channels_last" else y[:, :, None]
        return y, saved

    def backward(self, cache, d_outputs):
        _, bwd = self._ops()
        d = None
        if d_outputs is not None:
            d = np.asarray(d_outputs, self.dtype)
            if self.keepdims:
                d = d[:, 0, :] if self.data_format == "channels_last" else d[:, :, 0]
        (dx,) = bwd(d, cache)
        return {"inputs": cu.to_channels_last(dx, self.data_format)}, []

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over all steps, masked ones included: Keras 3's GlobalMaxPooling1D takes no mask, so
    padded steps can win the max (the same numbers as Keras). ``ops.global_max_pool1d_forward``
    with a mask skips them, for code that wants that."""

    _uses_mask = False

    def _ops(self):
        return ops.global_max_pool1d_forward, ops.global_max_pool1d_backward


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the steps; with a mask, over the valid steps only (Keras)."""

    def _ops(self):
        return ops.global_avg_pool1d_forward, ops.global_avg_pool1d_backward


MaxPool1D, AvgPool1D = MaxPooling1D, AveragePooling1D
GlobalMaxPool1D, GlobalAvgPool1D = GlobalMaxPooling1D, GlobalAveragePooling1D
