"""Merge layers over a list of inputs: Add, Subtract, Multiply, Average, Concatenate, and the
functions add, subtract, multiply, average, concatenate. Element-wise merges broadcast (a
constant without the batch axis, a scalar); their output mask is the OR of the input masks
(None if any input has none), Concatenate's as Keras computes it."""

import numpy as np

from .base import Layer
from .core import cast_float


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


def _keras_expansion(shapes):
    """How many unit axes Keras inserts after the batch axis of each input, or None: inputs of
    one batch (the same leading size) but of different ranks are expanded at axis 1 to the
    largest rank before broadcasting, as Keras's merge layers do; anything else (a constant
    without the batch axis) broadcasts as NumPy arrays do."""
    shapes = [_as_shape(s) for s in shapes]
    ranks = [len(s) for s in shapes]
    if len(set(ranks)) == 1 or min(ranks) < 1 or len({s[0] for s in shapes}) != 1:
        return None
    return [max(ranks) - r for r in ranks]


def _expanded(shape, k):
    shape = _as_shape(shape)
    return shape[:1] + (1,) * k + shape[1:]


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
    _takes_list = True
    _min_inputs = 2
    _elementwise = True   # broadcasting merges (not Concatenate, Dot)

    def _check(self, input_shape):
        if not isinstance(input_shape, list) and not (isinstance(input_shape, tuple) and
                                                      input_shape and
                                                      isinstance(input_shape[0], tuple)):
            raise ValueError(f"[{self.name}] ({type(self).__name__}) takes a list of inputs, got "
                             f"one input of shape {input_shape}")
        if len(input_shape) < self._min_inputs:
            raise ValueError(f"[{self.name}] ({type(self).__name__}) takes at least "
                             f"{self._min_inputs} inputs, got {len(input_shape)}")

    def _shapes_as_keras(self, input_shape, expand):
        if expand is None:
            return input_shape
        return [_expanded(s, k) for s, k in zip(input_shape, expand)]

    def build(self, input_shape):
        self._check(input_shape)
        # decided once, on the shapes the layer is built for (a None batch in a model)
        self._expand = _keras_expansion(input_shape)
        _broadcast_shapes(self, self._shapes_as_keras(input_shape, self._expand))

    def compute_output_shape(self, input_shape, **kwargs):
        self._check(input_shape)
        return _broadcast_shapes(self, self._shapes_as_keras(input_shape,
                                                             _keras_expansion(input_shape)))

    def compute_mask(self, inputs, mask=None, **kwargs):
        if mask is None or any(m is None for m in mask):
            return None
        out = mask[0]
        for m in mask[1:]:
            out = out | m
        return out

    def _arrays(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"[{self.name}] ({type(self).__name__}) takes a list of inputs, got "
                             f"{type(inputs).__name__}")
        xs = [cast_float(x, self.dtype, self.name) for x in inputs]
        self._check([x.shape for x in xs])
        return xs

    def _expansion(self, shapes):
        expand = getattr(self, "_expand", None)
        if expand is not None and len(expand) == len(shapes) and \
                len({len(s) + k for s, k in zip(shapes, expand)}) == 1:
            return expand
        return _keras_expansion(shapes)

    def _masks(self, mask, xs):
        """The input masks as booleans over each input's entries ((B, T) -> (B, T, F)), as
        Keras broadcasts them; None where an input has none."""
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        if len(mask) != len(xs):
            raise ValueError(f"[{self.name}] ({type(self).__name__}) got {len(mask)} masks for "
                             f"{len(xs)} inputs")
        out = []
        for x, m in zip(xs, mask):
            if m is None:
                out.append(None)
                continue
            m = np.asarray(m, dtype=bool)
            try:
                out.append(np.broadcast_to(m[..., None] if m.ndim < x.ndim else m, x.shape))
            except ValueError:
                raise ValueError(f"[{self.name}] ({type(self).__name__}) a mask of shape "
                                 f"{m.shape} does not fit its input of shape {x.shape}") from None
        return out

    def forward(self, inputs, *, training=False, mask=None):
        xs = self._arrays(inputs)
        if not self._elementwise:
            return self._merge(xs), xs
        shapes = [x.shape for x in xs]
        expand = self._expansion(shapes)
        if expand is not None:
            xs = [x.reshape(_expanded(x.shape, k)) for x, k in zip(xs, expand)]
        _broadcast_shapes(self, [x.shape for x in xs])   # ValueError naming the layer
        y, saved = self._merge_masked(xs, self._masks(mask, xs))
        return y, (xs, shapes, saved)

    def _merge_masked(self, xs, masks):
        return self._merge(xs), None          # Add, Subtract, Average: values ignore masks

    def _grads_masked(self, xs, d, saved):
        return self._grads(xs, d)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        xs, shapes, saved = cache
        grads = self._grads_masked(xs, d_outputs, saved)
        return {"inputs": [_reduce_to(g, x.shape).reshape(s) for g, x, s in
                           zip(grads, xs, shapes)]}, []


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

    def _merge_masked(self, xs, masks):
        # Keras: a masked entry counts as 1; with every input masked, entries masked in all
        # of them come out 0
        if masks is None:
            return self._merge(xs), None
        one = xs[0].dtype.type(1)
        xs = [x if m is None else np.where(m, x, one) for x, m in zip(xs, masks)]
        y = self._merge(xs)
        keep = None
        if all(m is not None for m in masks):
            keep = np.logical_or.reduce(np.broadcast_arrays(*masks))
            y = np.where(keep, y, y.dtype.type(0))
        return y, (xs, masks, keep)

    def _grads_masked(self, xs, d, saved):
        if saved is None:
            return self._grads(xs, d)
        xs, masks, keep = saved
        if keep is not None:
            d = np.where(keep, d, 0).astype(d.dtype)
        return [g if m is None else np.where(m, g, 0).astype(g.dtype)
                for g, m in zip(self._grads(xs, d), masks)]


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

    _elementwise = False

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
        self._out_shape([x.shape for x in xs])   # ValueError naming the layer
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
    """The element-wise maximum, reduced pairwise as Keras does; a tie splits the gradient
    in halves (torch.maximum's rule) and a masked entry takes the running result's value."""

    _op = staticmethod(np.maximum)
    _wins = staticmethod(np.greater)

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = self._op(out, x)
        return out

    def _merge_masked(self, xs, masks):
        # Keras's _apply_merge_op_and_or_mask, step by step (kept for backward)
        out, out_mask, steps = xs[0], None if masks is None else masks[0], []
        for i in range(1, len(xs)):
            x, m = xs[i], None if masks is None else masks[i]
            if m is not None:
                x = np.where(m, x, out)
            if out_mask is not None:
                out = np.where(out_mask, out, x)
            steps.append((out, x, m, out_mask))
            out_mask = out_mask | m if m is not None and out_mask is not None else None
            out = self._op(out, x)
        return out, steps

    def _grads_masked(self, xs, d, steps):
        grads = [None] * len(xs)
        for i in range(len(xs) - 1, 0, -1):
            a, b, m, a_mask = steps[i - 1]
            half = d * d.dtype.type(0.5)
            da = np.where(a == b, half, np.where(self._wins(a, b), d, 0))
            db = np.where(a == b, half, np.where(self._wins(a, b), 0, d))
            if a_mask is not None:                    # a = where(a_mask, previous, b)
                da, db = np.where(a_mask, da, 0), db + np.where(a_mask, 0, da)
            if m is not None:                         # b = where(m, x_i, previous)
                da, db = da + np.where(m, 0, db), np.where(m, db, 0)
            grads[i] = db.astype(d.dtype, copy=False)
            d = da.astype(d.dtype, copy=False)
        grads[0] = d
        return grads


class Minimum(Maximum):
    """The element-wise minimum, with Maximum's rules for ties and masks."""

    _op = staticmethod(np.minimum)
    _wins = staticmethod(np.less)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


class Dot(_Merge):
    """Keras ``Dot``: the batch-wise dot product of two inputs over ``axes`` (an int, or one
    axis per input; negative axes count from the end), as Keras's batch_dot: the result holds
    x1's other axes then x2's, at least (B, 1). ``normalize`` L2-normalises both along their
    axis first (the norm floored at 1e-7). No output mask, as Keras."""

    _EPS = 1e-7
    _elementwise = False

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, (int, np.integer)) and
                                         not isinstance(a, bool) for a in axes):
                raise ValueError(f"[{self.name}] (Dot) axes must be an int or two ints, got "
                                 f"{axes!r}")
            axes = [int(a) for a in axes]
        elif isinstance(axes, bool) or not isinstance(axes, (int, np.integer)):
            raise TypeError(f"[{self.name}] (Dot) axes must be an int or two ints, got {axes!r}")
        else:
            axes = int(axes)
        self.axes, self.normalize = axes, bool(normalize)

    def get_config(self):
        config = super().get_config()
        config.update(axes=self.axes, normalize=self.normalize)
        return config

    def _axes(self, shapes):
        a = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        # Keras: an int axis >= 0 is used as is for both inputs, negative ones per input
        return [ax % len(s) if ax < 0 else ax for ax, s in zip(a, shapes)]

    def _check(self, input_shape):
        super()._check(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"[{self.name}] (Dot) takes exactly 2 inputs, got "
                             f"{len(input_shape)}")
        s1, s2 = input_shape
        if len(s1) < 2 or len(s2) < 2:
            raise ValueError(f"[{self.name}] (Dot) takes inputs of rank >= 2 (batch first), got "
                             f"shapes {tuple(s1)} and {tuple(s2)}")
        if s1[0] is not None and s2[0] is not None and s1[0] != s2[0]:
            raise ValueError(f"[{self.name}] (Dot) inputs must have the same batch size, got "
                             f"shapes {tuple(s1)} and {tuple(s2)}")
        a1, a2 = self._axes(input_shape)
        if not (1 <= a1 < len(s1) and 1 <= a2 < len(s2)):
            raise ValueError(f"[{self.name}] (Dot) axes {self.axes} must be non-batch axes of "
                             f"inputs of shapes {tuple(s1)} and {tuple(s2)}")
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(f"[{self.name}] (Dot) incompatible shapes: {s1[a1]} (axis {a1} of "
                             f"{tuple(s1)}) != {s2[a2]} (axis {a2} of {tuple(s2)})")

    def build(self, input_shape):
        self._check(input_shape)

    def compute_output_shape(self, input_shape, **kwargs):
        self._check(input_shape)
        s1, s2 = (tuple(s) for s in input_shape)
        a1, a2 = self._axes(input_shape)
        out = (s1[0],) + s1[1:a1] + s1[a1 + 1:] + s2[1:a2] + s2[a2 + 1:]
        return out if len(out) > 1 else out + (1,)

    def compute_mask(self, inputs, mask=None, **kwargs):
        return None

    def _unit(self, x, axis):
        ss = np.sum(np.square(x), axis=axis, keepdims=True)
        inv = 1.0 / np.sqrt(np.maximum(ss, x.dtype.type(self._EPS ** 2)))
        return x * inv, (x * inv, inv, ss <= x.dtype.type(self._EPS ** 2), axis)

    @staticmethod
    def _unit_backward(d, saved):
        u, inv, floored, axis = saved
        proj = np.where(floored, 0, np.sum(d * u, axis=axis, keepdims=True))
        return inv * (d - u * proj)

    def forward(self, inputs, *, training=False, mask=None):
        x1, x2 = self._arrays(inputs)
        self._check([x1.shape, x2.shape])
        a1, a2 = self._axes([x1.shape, x2.shape])
        n1 = n2 = None
        if self.normalize:
            x1, n1 = self._unit(x1, a1)
            x2, n2 = self._unit(x2, a2)
        m1 = np.moveaxis(x1, a1, -1)                  # (B, *rest1, n)
        m2 = np.moveaxis(x2, a2, 1)                   # (B, n, *rest2)
        B, n = m1.shape[0], m1.shape[-1]
        y = m1.reshape(B, -1, n) @ m2.reshape(B, n, -1)
        out_shape = m1.shape[:-1] + m2.shape[2:]
        y = y.reshape(out_shape if len(out_shape) > 1 else out_shape + (1,))
        return y, (m1, m2, a1, a2, n1, n2)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        m1, m2, a1, a2, n1, n2 = cache
        B, n = m1.shape[0], m1.shape[-1]
        d = d_outputs.reshape(B, -1, int(np.prod(m2.shape[2:], dtype=np.int64)))
        d1 = (d @ np.swapaxes(m2.reshape(B, n, -1), 1, 2)).reshape(m1.shape)
        d2 = (np.swapaxes(m1.reshape(B, -1, n), 1, 2) @ d).reshape(m2.shape)
        d1, d2 = np.moveaxis(d1, -1, a1), np.moveaxis(d2, 1, a2)
        if self.normalize:
            d1, d2 = self._unit_backward(d1, n1), self._unit_backward(d2, n2)
        return {"inputs": [d1, d2]}, []


def dot(inputs, axes=-1, normalize=False, **kwargs):
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
