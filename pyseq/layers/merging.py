"""Merge layers over a list of inputs: Add, Subtract, Multiply, Average, Concatenate, and the
functions add, subtract, multiply, average, concatenate. Element-wise merges broadcast (a
constant without the batch axis, a scalar); their output mask is the OR of the input masks
(None if any input has none), Concatenate's as Keras computes it."""

import numpy as np

from .base import Layer


def _as_shape(s):
    return s if isinstance(s, tuple) else ()


def _broadcast_shapes(layer, shapes):
    shapes = [_as_shape(s) for s in shapes]
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dims = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"[{layer.name}] ({type(layer).__name__}) inputs have incompatible "
                             f"shapes {[tuple(s) for s in shapes]}")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _reduce_to(grad, shape):
    """Sum a broadcast gradient back to ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, d in enumerate(shape)
                                       if d == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes).reshape(shape)


class _Merge(Layer):
    supports_masking = True
    _min_inputs = 2

    def _check(self, input_shape):
        if not isinstance(input_shape, list) and not (isinstance(input_shape, tuple) and
                                                      input_shape and
                                                      isinstance(input_shape[0], tuple)):
            raise ValueError(f"[{self.name}] ({type(self).__name__}) takes a list of inputs, got "
                             f"one input of shape {input_shape}")
        if len(input_shape) < self._min_inputs:
            raise ValueError(f"[{self.name}] ({type(self).__name__}) takes at least "
                             f"{self._min_inputs} inputs, got {len(input_shape)}")

    def build(self, input_shape):
        self._check(input_shape)
        _broadcast_shapes(self, input_shape)

    def compute_output_shape(self, input_shape, **kwargs):
        self._check(input_shape)
        return _broadcast_shapes(self, input_shape)

    def compute_mask(self, inputs, mask=None, **kwargs):
        if mask is None or any(m is None for m in mask):
            return None
        out = mask[0]
        for m in mask[1:]:
            out = out | m
        return out

    def _arrays(self, inputs):
        return [np.asarray(x, dtype=self.dtype) if not (isinstance(x, np.ndarray) and
                                                       x.dtype == self.dtype) else x
                for x in inputs]

    def forward(self, inputs, *, training=False, mask=None):
        xs = self._arrays(inputs)
        return self._merge(xs), xs

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        xs = cache
        return {"inputs": [_reduce_to(g, x.shape) for g, x in
                           zip(self._grads(xs, d_outputs), xs)]}, []


class Add(_Merge):
    def _merge(self, xs):
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out += x
        return out

    def _grads(self, xs, d):
        return [d] * len(xs)


class Subtract(_Merge):
    def _check(self, input_shape):
        super()._check(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"[{self.name}] (Subtract) takes exactly 2 inputs, got "
                             f"{len(input_shape)}")

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _grads(self, xs, d):
        return [d, -d]


class Multiply(_Merge):
    def _merge(self, xs):
        out = xs[0] * xs[1]
        for x in xs[2:]:
            out *= x
        return out

    def _grads(self, xs, d):
        out = []
        for i in range(len(xs)):
            g = d
            for j, x in enumerate(xs):
                if j != i:
                    g = g * x
            out.append(g)
        return out


class Average(_Merge):
    def _merge(self, xs):
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out += x
        out *= out.dtype.type(1.0 / len(xs))
        return out

    def _grads(self, xs, d):
        g = d * d.dtype.type(1.0 / len(xs))
        return [g] * len(xs)


class Concatenate(_Merge):
    """Joins inputs along ``axis`` (default -1); other axes must agree."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config

    def _out_shape(self, shapes):
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"[{self.name}] (Concatenate) inputs must have the same rank, got "
                             f"shapes {shapes}")
        axis = self.axis % rank
        out = list(shapes[0])
        for s in shapes[1:]:
            for i, d in enumerate(s):
                if i == axis:
                    out[i] = None if out[i] is None or d is None else out[i] + d
                elif out[i] is None:
                    out[i] = d
                elif d is not None and d != out[i]:
                    raise ValueError(f"[{self.name}] (Concatenate) along axis {self.axis} needs "
                                     f"matching shapes on the other axes, got {shapes}")
        return tuple(out)

    def build(self, input_shape):
        self._check(input_shape)
        self._out_shape([tuple(s) for s in input_shape])

    def compute_output_shape(self, input_shape, **kwargs):
        self._check(input_shape)
        return self._out_shape([tuple(s) for s in input_shape])

    def compute_mask(self, inputs, mask=None, **kwargs):
        if mask is None or all(m is None for m in mask):
            return None
        masks = []
        for x, m in zip(inputs, mask):
            x = np.asarray(x)
            if m is None:
                masks.append(np.ones(x.shape, dtype=bool))
            elif m.ndim < x.ndim:
                masks.append(np.broadcast_to(m[..., None], x.shape))
            else:
                masks.append(m)
        return np.any(np.concatenate(masks, axis=self.axis), axis=-1)

    def _merge(self, xs):
        return np.concatenate(xs, axis=self.axis)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        xs = cache
        bounds = np.cumsum([x.shape[self.axis] for x in xs])[:-1]
        return {"inputs": np.split(d_outputs, bounds, axis=self.axis)}, []


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


class Maximum(_Merge):
    """The element-wise maximum; the gradient goes to the (first) input that holds it."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = np.maximum(out, x)
        return out

    def _grads(self, xs, d):
        return _select_grads(xs, d, np.argmax)


class Minimum(_Merge):
    """The element-wise minimum; the gradient goes to the (first) input that holds it."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = np.minimum(out, x)
        return out

    def _grads(self, xs, d):
        return _select_grads(xs, d, np.argmin)


def _select_grads(xs, d, pick):
    shape = np.broadcast_shapes(*(x.shape for x in xs))
    which = pick(np.stack([np.broadcast_to(x, shape) for x in xs]), axis=0)
    return [np.where(which == i, d, 0).astype(d.dtype) for i in range(len(xs))]


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)
