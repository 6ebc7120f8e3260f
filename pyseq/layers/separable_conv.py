"""Keras ``DepthwiseConv1D`` and ``SeparableConv1D`` on ``ops.conv1d_forward/backward``.

A depthwise convolution is a grouped one with one group per input channel: Keras's
depthwise kernel (K, C, depth_multiplier) is, reshaped without a copy, the (K, 1, C *
depth_multiplier) kernel of ``ops.conv1d`` with groups = C (output channel c * multiplier + m
in both). SeparableConv1D follows it with a pointwise (kernel 1) convolution to ``filters``.
"""

import numpy as np

from .. import activations as _activations
from .. import ops
from . import _conv_utils as cu
from . import _regularization as _reg
from ._keras_args import pop_keras_only
from .base import Layer
from .core import cast_float

__all__ = ["DepthwiseConv1D", "SeparableConv1D"]


class _Depthwise(Layer):
    """Arguments, shapes and the depthwise step that both layers share."""

    _name = "DepthwiseConv1D"

    def _init_common(self, kernel_size, strides, padding, depth_multiplier, data_format,
                     dilation_rate, activation, use_bias, bias_initializer, kwargs):
        n = self._name
        weights = ("depthwise", "pointwise", "bias") if n == "SeparableConv1D" else \
            ("depthwise", "bias")
        opts = _reg.pop_weight_options(n, kwargs, weights)
        super().__init__(**pop_keras_only(n, kwargs))
        _reg.set_weight_options(self, opts, lists_activity=True)
        self.kernel_size = (cu.positive_int(n, "kernel_size", kernel_size),)
        self.strides = (cu.positive_int(n, "strides", strides),)
        self.dilation_rate = (cu.positive_int(n, "dilation_rate", dilation_rate),)
        self.depth_multiplier = cu.positive_int(n, "depth_multiplier", depth_multiplier)
        self.padding = cu.padding_mode(n, padding, ("valid", "same", "causal"))
        self.data_format = cu.data_format(n, data_format)
        try:
            self.activation = _activations.get(activation)
        except ValueError as exc:
            raise ValueError(f"[{n}] {exc}") from None
        self.use_bias = bool(use_bias)
        self.bias_initializer = bias_initializer

    def _span(self):
        return self.dilation_rate[0] * (self.kernel_size[0] - 1) + 1

    def _steps(self, shape):
        return shape[1] if self.data_format == "channels_last" else shape[2]

    def _channels_of(self, shape):
        shape = cu.check_rank3(self._name, shape)
        C = shape[-1] if self.data_format == "channels_last" else shape[1]
        if C is None:
            raise ValueError(f"[{self._name}] the channel axis must be known, got shape {shape}")
        T = self._steps(shape)
        if self.padding == "valid" and T is not None and T < self._span():
            raise ValueError(f"[{self._name}] with padding 'valid' the input needs at least "
                             f"{self._span()} steps, got shape {shape}")
        return int(C)

    def _out_shape(self, input_shape, channels):
        shape = cu.check_rank3(self._name, input_shape)
        T2 = cu.output_length(self._steps(shape), self._span(), self.strides[0], self.padding)
        return (shape[0], T2, channels) if self.data_format == "channels_last" else \
            (shape[0], channels, T2)

    def _depthwise(self, x, kernel, bias):
        K, C, M = kernel.shape
        return ops.conv1d_forward(x, kernel.reshape(K, 1, C * M), bias, stride=self.strides[0],
                                  padding=self.padding, dilation=self.dilation_rate[0],
                                  groups=C)

    def _input(self, inputs):
        x = cast_float(inputs, self.dtype, self.name)
        if self._channels_of(x.shape) != self.input_channels:
            raise ValueError(f"[{self._name}] was built for {self.input_channels} input "
                             f"channels, got inputs of shape {x.shape}")
        return cu.to_channels_last(x, self.data_format)

    def _activate(self, pre):
        """(pre, y) in the caller's layout: the activation sees what Keras's does (softmax's
        axis)."""
        pre = cu.to_channels_last(pre, self.data_format)
        return pre, (self.activation(pre) if self.activation.name != "linear" else pre)

    def _d_pre(self, cache, d_outputs, pre, y):
        if d_outputs is None:
            d_outputs = np.zeros_like(y)
        d = np.asarray(d_outputs, self.dtype)
        if self.activation.name != "linear":
            d = self.activation.backward(pre, y, d)
        return cu.to_channels_last(d, self.data_format)

    def _common_config(self):
        config = Layer.get_config(self)
        config.update(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                      depth_multiplier=self.depth_multiplier, data_format=self.data_format,
                      dilation_rate=self.dilation_rate, activation=self.activation.name,
                      use_bias=self.use_bias, depthwise_initializer=self.depthwise_initializer,
                      bias_initializer=self.bias_initializer)
        return config


class DepthwiseConv1D(_Depthwise):
    """Each input channel convolved with its own depth_multiplier filters: kernel
    (kernel_size, C, depth_multiplier), bias (C * depth_multiplier,)."""

    _name = "DepthwiseConv1D"

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        self._init_common(kernel_size, strides, padding, depth_multiplier, data_format,
                          dilation_rate, activation, use_bias, bias_initializer, kwargs)
        self.depthwise_initializer = depthwise_initializer

    def build(self, input_shape):
        C = self._channels_of(input_shape)
        self.input_channels = C
        self.kernel = self.add_weight("kernel", (self.kernel_size[0], C, self.depth_multiplier),
                                      self.depthwise_initializer, options="depthwise")
        self.bias = (self.add_weight("bias", (C * self.depth_multiplier,),
                                     self.bias_initializer, options="bias") if self.use_bias else None)
        self.built = True

    def compute_output_shape(self, input_shape, **call_kwargs):
        return self._out_shape(input_shape, self._channels_of(input_shape) *
                               self.depth_multiplier)

    def forward(self, inputs, *, training=False, mask=None):
        pre, saved = self._depthwise(self._input(inputs), self.kernel.value,
                                     None if self.bias is None else self.bias.value)
        pre, y = self._activate(pre)
        return y, (saved, pre, y)

    def backward(self, cache, d_outputs):
        saved, pre, y = cache
        dx, dk, db = ops.conv1d_backward(self._d_pre(cache, d_outputs, pre, y), saved)
        grads = [(self.kernel, dk.reshape(self.kernel.shape))]
        if self.use_bias:
            grads.append((self.bias, db))
        return {"inputs": cu.to_channels_last(dx, self.data_format)}, grads

    def get_config(self):
        return self._common_config()


class SeparableConv1D(_Depthwise):
    """A depthwise convolution (no bias) then a pointwise one to ``filters``: weights
    depthwise_kernel (K, C, depth_multiplier), pointwise_kernel (1, C * depth_multiplier,
    filters), bias (filters,)."""

    _name = "SeparableConv1D"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        self._init_common(kernel_size, strides, padding, depth_multiplier, data_format,
                          dilation_rate, activation, use_bias, bias_initializer, kwargs)
        self.filters = cu.positive_int(self._name, "filters", filters)
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer

    def build(self, input_shape):
        C = self._channels_of(input_shape)
        self.input_channels = C
        M = self.depth_multiplier
        self.depthwise_kernel = self.add_weight("depthwise_kernel", (self.kernel_size[0], C, M),
                                                self.depthwise_initializer, options="depthwise")
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1, C * M, self.filters),
                                                self.pointwise_initializer, options="pointwise")
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer,
                                     options="bias")
                     if self.use_bias else None)
        self.built = True

    def compute_output_shape(self, input_shape, **call_kwargs):
        self._channels_of(input_shape)
        return self._out_shape(input_shape, self.filters)

    def forward(self, inputs, *, training=False, mask=None):
        mid, d_saved = self._depthwise(self._input(inputs), self.depthwise_kernel.value, None)
        pre, p_saved = ops.conv1d_forward(mid, self.pointwise_kernel.value,
                                          None if self.bias is None else self.bias.value)
        pre, y = self._activate(pre)
        return y, (d_saved, p_saved, pre, y)

    def backward(self, cache, d_outputs):
        d_saved, p_saved, pre, y = cache
        dmid, dpk, db = ops.conv1d_backward(self._d_pre(cache, d_outputs, pre, y), p_saved)
        dx, ddk, _ = ops.conv1d_backward(dmid, d_saved)
        grads = [(self.depthwise_kernel, ddk.reshape(self.depthwise_kernel.shape)),
                 (self.pointwise_kernel, dpk)]
        if self.use_bias:
            grads.append((self.bias, db))
        return {"inputs": cu.to_channels_last(dx, self.data_format)}, grads

    def get_config(self):
        config = self._common_config()
        config.update(filters=self.filters, pointwise_initializer=self.pointwise_initializer)
        return config
