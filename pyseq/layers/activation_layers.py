"""Keras's activation layers with arguments: Softmax (axis, mask), ReLU (max_value,
negative_slope, threshold), LeakyReLU, ELU, PReLU (a learned slope), and Identity."""

import numpy as np

from .. import initializers as _initializers
from . import _regularization as _reg
from ._keras_args import pop_keras_only
from .base import Layer
from .core import cast_float


def _number(layer, name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"[{layer.name}] {name} must be a number, got {value!r}")
    return float(value)


class _Elementwise(Layer):
    supports_masking = True

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        return self._f(x), x

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        return {"inputs": d_outputs * self._df(cache)}, []


class ReLU(_Elementwise):
    """Keras's relu: x where x > threshold (else 0), clipped to [0, max_value], minus
    negative_slope * max(threshold - x, 0)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _number(self, "max_value", max_value, allow_none=True)
        self.negative_slope = _number(self, "negative_slope", negative_slope)
        self.threshold = _number(self, "threshold", threshold)
        if (self.max_value is not None and self.max_value < 0) or self.negative_slope < 0 or \
                self.threshold < 0:
            raise ValueError(f"[{self.name}] max_value, negative_slope and threshold must be "
                             f">= 0, got {max_value!r}, {negative_slope!r} and {threshold!r}")

    def get_config(self):
        config = super().get_config()
        config.update(max_value=self.max_value, negative_slope=self.negative_slope,
                      threshold=self.threshold)
        return config

    def _f(self, x):
        t = x.dtype.type
        y = np.where(x > t(self.threshold), x, t(0))
        if self.max_value is not None:
            y = np.minimum(y, t(self.max_value))
        return y - t(self.negative_slope) * np.maximum(t(self.threshold) - x, t(0))

    def _df(self, x):
        # the slopes at the kinks are those of Keras's ops on torch: a negative_slope alone is
        # torch's leaky_relu (slope at 0); relu, relu6 and where give 0 at their kink, and
        # clipping to max_value passes the gradient at max_value itself (relu6 does not)
        t = x.dtype.type
        if self.negative_slope != 0 and self.max_value is None and self.threshold == 0:
            return np.where(x > 0, t(1), t(self.negative_slope))
        d = (x > t(self.threshold)).astype(x.dtype)
        if self.max_value is not None:
            relu6 = self.threshold == 0 and self.max_value == 6
            d *= (x < t(6)) if relu6 else (x <= t(self.max_value))
        return d + t(self.negative_slope) * (x < t(self.threshold))


class LeakyReLU(_Elementwise):
    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # the Keras 2 name
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _number(self, "negative_slope", negative_slope)
        if self.negative_slope < 0:
            raise ValueError(f"[{self.name}] negative_slope must be >= 0, got {negative_slope!r}")

    def get_config(self):
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config

    def _f(self, x):
        return np.where(x > 0, x, x.dtype.type(self.negative_slope) * x)

    def _df(self, x):  # torch's leaky_relu: the negative slope at 0
        return np.where(x > 0, x.dtype.type(1), x.dtype.type(self.negative_slope))


class ELU(_Elementwise):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number(self, "alpha", alpha)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config

    def _f(self, x):
        return np.where(x > 0, x, x.dtype.type(self.alpha) * np.expm1(np.minimum(x, 0)))

    def _df(self, x):
        return np.where(x > 0, x.dtype.type(1), x.dtype.type(self.alpha) * np.exp(np.minimum(x, 0)))


class Identity(_Elementwise):
    def _f(self, x):
        return x

    def _df(self, x):
        return np.ones((), x.dtype)


class Softmax(Layer):
    """Softmax over ``axis``; with a mask, masked entries get no probability (and rows with
    every entry masked give zeros), as Keras."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer))
                           for a in axes):
            raise TypeError(f"[{self.name}] axis must be an int or a list of ints, got {axis!r}")
        self.axis = axis if not isinstance(axis, (list, tuple)) else list(axis)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config

    def _axes(self, x):
        axes = tuple(self.axis) if isinstance(self.axis, list) else (self.axis,)
        if any(not -x.ndim <= a < x.ndim for a in axes):
            raise ValueError(f"[{self.name}] (Softmax) axis {self.axis} is out of range for "
                             f"inputs of shape {x.shape}")
        return axes

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        m = None
        if mask is not None:
            m = np.asarray(mask).astype(bool)
            try:
                if m.ndim > x.ndim:
                    raise ValueError
                np.broadcast_shapes(m.shape, x.shape)
            except ValueError:
                raise ValueError(f"[{self.name}] (Softmax) the mask must broadcast to the "
                                 f"inputs, got mask {m.shape} and inputs {x.shape}") from None
            x = np.where(m, x, x.dtype.type(-1e9))
        axes = self._axes(x)
        e = np.exp(x - np.max(x, axis=axes, keepdims=True))
        s = e / np.sum(e, axis=axes, keepdims=True)
        y = s if m is None else np.where(m, s, x.dtype.type(0))
        return y, (s, m)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        s, m = cache
        d = d_outputs if m is None else np.where(m, d_outputs, 0)
        dx = s * (d - np.sum(d * s, axis=self._axes(s), keepdims=True))
        return {"inputs": dx if m is None else np.where(m, dx, 0).astype(s.dtype)}, []


class PReLU(Layer):
    """max(x, 0) + alpha * min(x, 0) with a learned ``alpha`` per entry of the input's
    non-batch shape (size 1 on ``shared_axes``)."""

    supports_masking = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        kwargs.update(alpha_regularizer=alpha_regularizer, alpha_constraint=alpha_constraint)
        opts = _reg.pop_weight_options("PReLU", kwargs, ("alpha",))
        super().__init__(**pop_keras_only("PReLU", kwargs))
        _reg.set_weight_options(self, opts)
        self.alpha_initializer = _initializers.get(alpha_initializer)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, (int, np.integer)) else shared_axes
            self.shared_axes = [int(a) for a in axes]

    def get_config(self):
        config = super().get_config()
        config.update(alpha_initializer=self.alpha_initializer, shared_axes=self.shared_axes)
        return config

    def build(self, input_shape):
        if not isinstance(input_shape, tuple) or len(input_shape) < 2:
            raise ValueError(f"[{self.name}] (PReLU) expects one input of rank >= 2, got "
                             f"{input_shape}")
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            if not 1 <= a < len(input_shape):
                raise ValueError(f"[{self.name}] shared_axes {self.shared_axes} must be axes "
                                 f"1..{len(input_shape) - 1}")
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"[{self.name}] (PReLU) needs known sizes on the axes it does not "
                             f"share, got input shape {input_shape}")
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer,
                                     options="alpha")
        self.built = True

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        a = self.alpha.value
        if x.ndim != a.ndim + 1 or any(d != 1 and d != n for d, n in zip(a.shape, x.shape[1:])):
            raise ValueError(f"[{self.name}] (PReLU) was built for inputs of shape "
                             f"(batch, {', '.join(map(str, a.shape))}) (1 = shared), got "
                             f"{x.shape}")
        return np.maximum(x, 0) + a * np.minimum(x, 0), x

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        x = cache
        a = self.alpha.value
        # Keras: relu(x) - alpha * relu(-x), so no slope at 0 itself
        dx = d_outputs * np.where(x > 0, x.dtype.type(1), np.where(x < 0, a, x.dtype.type(0)))
        da = d_outputs * np.minimum(x, 0)
        # sum over the batch axis and the shared axes back to alpha's shape
        da = da.sum(axis=0, keepdims=True)
        axes = tuple(i + 1 for i, d in enumerate(a.shape) if d == 1 and da.shape[i + 1] != 1)
        da = da.sum(axis=axes, keepdims=True).reshape(a.shape)
        return {"inputs": dx}, [(self.alpha, da)]
