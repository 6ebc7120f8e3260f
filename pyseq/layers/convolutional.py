"""Keras ``Conv1D`` on ``ops.conv1d_forward/backward`` (one kernel call each way)."""

import numpy as np

from .. import activations as _activations
from .. import ops
from . import _conv_utils as cu
from . import _regularization as _reg
from ._keras_args import pop_keras_only
from .base import Layer
from .core import cast_float

__all__ = ["Conv1D"]


class Conv1D(Layer):
    """1-D convolution: kernel (kernel_size, channels/groups, filters), bias (filters,)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        opts = _reg.pop_weight_options("Conv1D", kwargs, ("kernel", "bias"))
        super().__init__(**pop_keras_only("Conv1D", kwargs))
        _reg.set_weight_options(self, opts, lists_activity=True)
        n = "Conv1D"
        self.filters = cu.positive_int(n, "filters", filters)
        self.kernel_size = (cu.positive_int(n, "kernel_size", kernel_size),)
        self.strides = (cu.positive_int(n, "strides", strides),)
        self.dilation_rate = (cu.positive_int(n, "dilation_rate", dilation_rate),)
        self.groups = cu.positive_int(n, "groups", groups)
        self.padding = cu.padding_mode(n, padding, ("valid", "same", "causal"))
        self.data_format = cu.data_format(n, data_format)
        if self.filters % self.groups:
            raise ValueError(f"[Conv1D] filters ({self.filters}) must be divisible by groups "
                             f"({self.groups})")
        try:
            self.activation = _activations.get(activation)
        except ValueError as exc:
            raise ValueError(f"[Conv1D] {exc}") from None
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _channels(self, shape):
        return shape[-1] if self.data_format == "channels_last" else shape[1]

    def build(self, input_shape):
        shape = cu.check_rank3("Conv1D", input_shape)
        C = self._channels(shape)
        if C is None:
            raise ValueError(f"[Conv1D] the channel axis must be known, got shape {shape}")
        if C % self.groups:
            raise ValueError(f"[Conv1D] input channels ({C}) must be divisible by groups "
                             f"({self.groups}), got input shape {shape}")
        self.input_channels = int(C)
        self._check_length(shape)
        self.kernel = self.add_weight("kernel", (self.kernel_size[0], C // self.groups,
                                                 self.filters), self.kernel_initializer,
                                      options="kernel")
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer,
                                     options="bias")
                     if self.use_bias else None)
        self.built = True

    def _span(self):
        return self.dilation_rate[0] * (self.kernel_size[0] - 1) + 1

    def _check_length(self, shape):
        T = shape[1] if self.data_format == "channels_last" else shape[2]
        if self.padding == "valid" and T is not None and T < self._span():
            raise ValueError(f"[Conv1D] with padding 'valid' the input needs at least "
                             f"{self._span()} steps (kernel_size {self.kernel_size[0]}, "
                             f"dilation_rate {self.dilation_rate[0]}), got shape {tuple(shape)}")

    def compute_output_shape(self, input_shape, **call_kwargs):
        shape = cu.check_rank3("Conv1D", input_shape)
        T = shape[1] if self.data_format == "channels_last" else shape[2]
        T2 = cu.output_length(T, self._span(), self.strides[0], self.padding)
        if self.data_format == "channels_last":
            return (shape[0], T2, self.filters)
        return (shape[0], self.filters, T2)

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        cu.check_rank3("Conv1D", x.shape)
        if self._channels(x.shape) != self.input_channels:
            raise ValueError(f"[Conv1D] was built for {self.input_channels} input channels, "
                             f"got inputs of shape {x.shape}")
        self._check_length(x.shape)
        pre, saved = ops.conv1d_forward(
            cu.to_channels_last(x, self.data_format), self.kernel.value,
            None if self.bias is None else self.bias.value, stride=self.strides[0],
            padding=self.padding, dilation=self.dilation_rate[0], groups=self.groups)
        # the activation sees the output in the caller's layout, as Keras's (softmax's axis)
        pre = cu.to_channels_last(pre, self.data_format)
        y = self.activation(pre) if self.activation.name != "linear" else pre
        return y, (saved, pre, y)

    def backward(self, cache, d_outputs):
        saved, pre, y = cache
        if d_outputs is None:
            d_outputs = np.zeros_like(y)
        d = np.asarray(d_outputs, self.dtype)
        if self.activation.name != "linear":
            d = self.activation.backward(pre, y, d)
        dx, dk, db = ops.conv1d_backward(cu.to_channels_last(d, self.data_format), saved)
        grads = [(self.kernel, dk)]
        if self.use_bias:
            grads.append((self.bias, db))
        return {"inputs": cu.to_channels_last(dx, self.data_format)}, grads

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding, data_format=self.data_format,
                      dilation_rate=self.dilation_rate, groups=self.groups,
                      activation=self.activation.name, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer)
        return config
