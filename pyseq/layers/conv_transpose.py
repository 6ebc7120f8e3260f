"""Keras ``Conv1DTranspose`` in NumPy: the gradient of a strided, dilated 1-D convolution with
respect to its input, as K shifted products (no per-step Python).

Shapes: x (B, T, C), kernel (K, filters, C) (Keras's layout), bias (filters,). The full
result has (T - 1) * stride + span steps (span = dilation * (K - 1) + 1); Keras 3 then crops
(span - 1 - left_pad) steps on the left and (span - 1 - right_pad) on the right, a negative
crop meaning zero steps added, with left_pad/right_pad from ``padding`` and
``output_padding`` as below.
"""

import numpy as np

from .. import activations as _activations
from . import _conv_utils as cu
from . import _regularization as _reg
from ._keras_args import pop_keras_only
from .base import Layer
from .core import cast_float

__all__ = ["Conv1DTranspose"]


def _pads(span, stride, padding, output_padding):
    """(left_pad, right_pad) of Keras 3's conv_transpose (its JAX/torch rule)."""
    if padding == "valid":
        op = max(span, stride) - span if output_padding is None else output_padding
        return span - 1, span - 1 + op
    if output_padding is None:
        pad_len = stride + span - 2                 # output: T * stride
    else:
        pad_len = span + span % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, span - 1)
    return left, pad_len - left


class Conv1DTranspose(Layer):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        opts = _reg.pop_weight_options("Conv1DTranspose", kwargs, ("kernel", "bias"))
        super().__init__(**pop_keras_only("Conv1DTranspose", kwargs))
        _reg.set_weight_options(self, opts, lists_activity=True)
        n = "Conv1DTranspose"
        self.filters = cu.positive_int(n, "filters", filters)
        self.kernel_size = (cu.positive_int(n, "kernel_size", kernel_size),)
        self.strides = (cu.positive_int(n, "strides", strides),)
        self.dilation_rate = (cu.positive_int(n, "dilation_rate", dilation_rate),)
        self.padding = cu.padding_mode(n, padding, ("valid", "same"))
        self.data_format = cu.data_format(n, data_format)
        if output_padding is not None:
            op = output_padding[0] if isinstance(output_padding, (list, tuple)) and \
                len(output_padding) == 1 else output_padding
            if isinstance(op, bool) or not isinstance(op, (int, np.integer)) or op < 0:
                raise ValueError(f"[{n}] output_padding must be a non-negative int or None, "
                                 f"got {output_padding!r}")
            if op >= self.strides[0]:
                raise ValueError(f"[{n}] output_padding ({op}) must be smaller than strides "
                                 f"({self.strides[0]})")
            output_padding = (int(op),)
        self.output_padding = output_padding
        try:
            self.activation = _activations.get(activation)
        except ValueError as exc:
            raise ValueError(f"[{n}] {exc}") from None
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _span(self):
        return self.dilation_rate[0] * (self.kernel_size[0] - 1) + 1

    def _crops(self, T):
        """(left, right) crops of the full (T - 1) * stride + span steps; negative = add."""
        span = self._span()
        left, right = _pads(span, self.strides[0], self.padding,
                            None if self.output_padding is None else self.output_padding[0])
        return span - 1 - left, span - 1 - right

    def _out_length(self, T):
        if T is None:
            return None
        left, right = self._crops(T)
        return (T - 1) * self.strides[0] + self._span() - left - right

    def build(self, input_shape):
        shape = cu.check_rank3("Conv1DTranspose", input_shape)
        C = shape[-1] if self.data_format == "channels_last" else shape[1]
        if C is None:
            raise ValueError(f"[Conv1DTranspose] the channel axis must be known, got shape "
                             f"{shape}")
        self.input_channels = int(C)
        self.kernel = self.add_weight("kernel", (self.kernel_size[0], self.filters, C),
                                      self.kernel_initializer, options="kernel")
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer,
                                     options="bias")
                     if self.use_bias else None)
        self.built = True

    def compute_output_shape(self, input_shape, **call_kwargs):
        shape = cu.check_rank3("Conv1DTranspose", input_shape)
        if self.data_format == "channels_last":
            return (shape[0], self._out_length(shape[1]), self.filters)
        return (shape[0], self.filters, self._out_length(shape[2]))

    def _taps(self, T):
        # the full-output steps tap k writes: k * dilation + t * stride, t < T
        s, d = self.strides[0], self.dilation_rate[0]
        return [slice(k * d, k * d + (T - 1) * s + 1, s) for k in range(self.kernel_size[0])]

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        cu.check_rank3("Conv1DTranspose", x.shape)
        x = cu.to_channels_last(x, self.data_format)
        if x.shape[-1] != self.input_channels:
            raise ValueError(f"[Conv1DTranspose] was built for {self.input_channels} input "
                             f"channels, got inputs of shape {np.shape(inputs)}")
        B, T, _ = x.shape
        W = self.kernel.value
        full_len = (T - 1) * self.strides[0] + self._span()
        left, right = self._crops(T)
        # the full result, placed at offset max(-left, 0) in a buffer that also holds the
        # zero steps a negative crop adds
        lead = max(-left, 0)
        buf = np.zeros((B, lead + full_len + max(-right, 0), self.filters), x.dtype)
        for k, sl in enumerate(self._taps(T)):
            buf[:, lead + sl.start:lead + sl.stop:sl.step] += x @ W[k].T
        start = lead + max(left, 0)
        pre = buf[:, start:start + self._out_length(T)]
        if self.bias is not None:
            pre = pre + self.bias.value
        # the activation sees the output in the caller's layout, as Keras's (softmax's axis)
        pre = cu.to_channels_last(pre, self.data_format)
        y = self.activation(pre) if self.activation.name != "linear" else pre
        return y, (x, pre, y, lead, start, buf.shape)

    def backward(self, cache, d_outputs):
        x, pre, y, lead, start, buf_shape = cache
        if d_outputs is None:
            d_outputs = np.zeros_like(y)
        d = np.asarray(d_outputs, self.dtype)
        if self.activation.name != "linear":
            d = self.activation.backward(pre, y, d)
        d = cu.to_channels_last(d, self.data_format)
        dbuf = np.zeros(buf_shape, d.dtype)
        dbuf[:, start:start + d.shape[1]] = d
        W = self.kernel.value
        dx = np.zeros_like(x)
        dW = np.zeros_like(W)
        B, T, C = x.shape
        for k, sl in enumerate(self._taps(T)):
            dk = dbuf[:, lead + sl.start:lead + sl.stop:sl.step]   # (B, T, F)
            dx += dk @ W[k]
            dW[k] = dk.reshape(-1, self.filters).T @ x.reshape(-1, C)
        grads = [(self.kernel, dW)]
        if self.use_bias:
            grads.append((self.bias, d.sum(axis=(0, 1))))
        return {"inputs": cu.to_channels_last(dx, self.data_format)}, grads

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding, output_padding=self.output_padding,
                      data_format=self.data_format, dilation_rate=self.dilation_rate,
                      activation=self.activation.name, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer)
        return config
