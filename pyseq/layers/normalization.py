"""LayerNormalization and BatchNormalization (Keras 3 defaults: epsilon 1e-3)."""

import numpy as np

from .. import initializers as _initializers
from ._keras_args import pop_keras_only
from . import _regularization as _reg
from .base import Layer, number_arg
from .core import cast_float, check_rank


def _axes(layer, axis, rank):
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"[{layer.name}] axis {a} is out of bounds for inputs of rank {rank}")
        out.append(int(a) % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"[{layer.name}] axis {axis} names an axis twice for inputs of rank "
                         f"{rank}")
    return sorted(out)


def _axis_arg(layer, axis):
    """``axis`` as given if it is an int or a list/tuple of ints, else TypeError (Keras's)."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
        raise TypeError(f"[{layer.name}] axis must be an int or a list of ints, got {axis!r}")
    return axis


def _param_shape(layer, input_shape):
    """The normalised axes (kept on ``layer._ax``) and the shape of gamma/beta over them."""
    check_rank(layer, input_shape, min_rank=1)
    layer._ax = _axes(layer, layer.axis, len(input_shape))
    # Keras sorts the axis values as given, negatives first ([1, -1] -> [-1, 1]), and the weight
    # takes that order; its values are reshaped (not transposed) onto the axes in increasing
    # order, as both here and in Keras.
    given = [layer.axis] if isinstance(layer.axis, (int, np.integer)) else list(layer.axis)
    shape = tuple(input_shape[a] for a in sorted(int(a) for a in given))
    layer._sizes = (len(input_shape), tuple(input_shape[a] for a in layer._ax))
    if any(d is None for d in shape):
        raise ValueError(f"[{layer.name}] ({type(layer).__name__}) needs known sizes on axis "
                         f"{layer.axis}, got input shape {input_shape}")
    return shape


def _keras_built_axis(axis):
    # a built Keras LayerNormalization/RMSNormalization keeps (and configures) its axis as a
    # sorted list
    return [int(axis)] if isinstance(axis, (int, np.integer)) else sorted(int(a) for a in axis)


def _checked(layer, inputs):
    """The inputs in the layer's dtype, of the rank and normalised sizes it was built for."""
    x = cast_float(inputs, layer.dtype, layer.name)
    rank, sizes = layer._sizes
    if x.ndim != rank or tuple(x.shape[a] for a in layer._ax) != sizes:
        raise ValueError(f"[{layer.name}] ({type(layer).__name__}) was built for inputs of rank "
                         f"{rank} with sizes {sizes} on axis {layer.axis}, got shape {x.shape}")
    return x


class LayerNormalization(Layer):
    """Normalises over ``axis`` per example: (x - mean) / sqrt(var + epsilon) * gamma + beta."""

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", rms_scaling=False,
                 **kwargs):  # Keras's positional order (its rms_scaling is keyword-only)
        opts = _reg.pop_weight_options("LayerNormalization", kwargs, ("beta", "gamma"))
        super().__init__(**pop_keras_only("LayerNormalization", kwargs))
        _reg.set_weight_options(self, opts)
        self.axis, self.epsilon = _axis_arg(self, axis), number_arg(self.name, "epsilon", epsilon)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.gamma = self.beta = None

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale,
                      rms_scaling=self.rms_scaling, beta_initializer=self.beta_initializer,
                      gamma_initializer=self.gamma_initializer)
        return config

    def build(self, input_shape):
        shape = _param_shape(self, input_shape)
        self.axis = _keras_built_axis(self.axis)
        if self.scale or self.rms_scaling:  # Keras: rms_scaling always has gamma
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, options="gamma")
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, options="beta")
        self.built = True

    def _broadcast(self, w, x):
        shape = [x.shape[i] if i in self._ax else 1 for i in range(x.ndim)]
        return w.value.reshape(shape)

    def forward(self, inputs, *, training=False, mask=None):
        x = _checked(self, inputs)
        ax = tuple(self._ax)
        centered = x - np.mean(x, axis=ax, keepdims=True)
        var = np.mean(np.square(centered), axis=ax, keepdims=True)
        inv = 1.0 / np.sqrt(var + x.dtype.type(self.epsilon))
        chat = centered * inv
        # Keras's (deprecated) rms_scaling divides the uncentred x by the standard deviation
        xhat = x * inv if self.rms_scaling else chat
        y = xhat * self._broadcast(self.gamma, x) if self.gamma is not None else xhat.copy()
        if self.beta is not None:
            y += self._broadcast(self.beta, x)
        return y, (xhat, chat, inv)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        xhat, chat, inv = cache
        ax = tuple(self._ax)
        other = tuple(i for i in range(xhat.ndim) if i not in ax)
        grads = []
        if self.gamma is not None:
            grads.append((self.gamma, np.sum(d_outputs * xhat, axis=other).reshape(
                self.gamma.shape)))
            dxhat = d_outputs * self._broadcast(self.gamma, xhat)
        else:
            dxhat = d_outputs
        if self.beta is not None:
            grads.append((self.beta, np.sum(d_outputs, axis=other).reshape(self.beta.shape)))
        proj = np.mean(dxhat * xhat, axis=ax, keepdims=True)
        if self.rms_scaling:  # xhat = x * inv, inv = 1/sqrt(var + eps): d inv/dx = -inv² chat/N
            dx = inv * (dxhat - chat * proj)
        else:
            dx = inv * (dxhat - np.mean(dxhat, axis=ax, keepdims=True) - xhat * proj)
        return {"inputs": dx}, grads


class BatchNormalization(Layer):
    """Normalises each feature over the batch (and time) in training, with moving statistics
    (non-trainable weights) at inference; weights gamma, beta, moving_mean, moving_variance."""

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 synchronized=False, **kwargs):
        opts = _reg.pop_weight_options("BatchNormalization", kwargs, ("beta", "gamma"))
        super().__init__(**pop_keras_only("BatchNormalization", kwargs))
        _reg.set_weight_options(self, opts)
        self.axis = _axis_arg(self, axis)
        self.momentum = number_arg(self.name, "momentum", momentum)
        self.epsilon = number_arg(self.name, "epsilon", epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        self.gamma = self.beta = None

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon,
                      center=self.center, scale=self.scale,
                      beta_initializer=self.beta_initializer,
                      gamma_initializer=self.gamma_initializer,
                      moving_mean_initializer=self.moving_mean_initializer,
                      moving_variance_initializer=self.moving_variance_initializer,
                      # Keras's keys for what pyseq only has at its default
                      synchronized=False, renorm=False, renorm_clipping=None,
                      renorm_momentum=0.99)
        return config

    def build(self, input_shape):
        shape = _param_shape(self, input_shape)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, options="gamma")
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, options="beta")
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer, trainable=False)
        self.built = True

    def _shape(self, x):
        return [x.shape[i] if i in self._ax else 1 for i in range(x.ndim)]

    def forward(self, inputs, *, training=False, mask=None):
        x = _checked(self, inputs)
        shape = self._shape(x)
        red = tuple(i for i in range(x.ndim) if i not in self._ax)
        eps = x.dtype.type(self.epsilon)
        if training and self.trainable:
            if mask is None:
                w = None
                mean = np.mean(x, axis=red, keepdims=True)
                centered = x - mean
                var = np.mean(np.square(centered), axis=red, keepdims=True)
                denom = None
            else:
                if mask.ndim != x.ndim - 1:
                    raise ValueError(f"[{self.name}] the mask must have one axis less than the "
                                     f"inputs, got mask {mask.shape}, inputs {x.shape}")
                w = np.broadcast_to(mask[..., None], x.shape).astype(x.dtype)
                # Keras's masked moments: sums over valid entries / (count + 1e-7)
                denom = np.sum(w, axis=red, keepdims=True) + x.dtype.type(1e-7)
                mean = np.sum(x * w, axis=red, keepdims=True) / denom
                centered = x - mean
                var = np.sum(np.square(centered) * w, axis=red, keepdims=True) / denom
            m = self.momentum
            self.moving_mean.value[...] = (self.moving_mean.value * m +
                                           mean.reshape(self.moving_mean.shape) * (1.0 - m))
            self.moving_variance.value[...] = (self.moving_variance.value * m +
                                               var.reshape(self.moving_variance.shape) * (1.0 - m))
            cache_kind = (w, denom)
        else:
            mean = self.moving_mean.value.reshape(shape)
            var = self.moving_variance.value.reshape(shape)
            centered = x - mean
            cache_kind = None
        inv = 1.0 / np.sqrt(var + eps)
        xhat = centered * inv
        y = xhat * self.gamma.value.reshape(shape) if self.gamma is not None else xhat.copy()
        if self.beta is not None:
            y += self.beta.value.reshape(shape)
        return y, (xhat, centered, inv, cache_kind, red)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        xhat, centered, inv, stats, red = cache
        shape = self._shape(xhat)
        grads = []
        if self.gamma is not None:
            grads.append((self.gamma, np.sum(d_outputs * xhat, axis=red).reshape(
                self.gamma.shape)))
            dxhat = d_outputs * self.gamma.value.reshape(shape)
        else:
            dxhat = d_outputs
        if self.beta is not None:
            grads.append((self.beta, np.sum(d_outputs, axis=red).reshape(self.beta.shape)))
        if stats is None:  # moving statistics: constants
            return {"inputs": dxhat * inv}, grads
        w, denom = stats
        if w is None:
            dx = inv * (dxhat - np.mean(dxhat, axis=red, keepdims=True)
                        - xhat * np.mean(dxhat * xhat, axis=red, keepdims=True))
            return {"inputs": dx}, grads
        # weighted moments: mean = sum(w x)/S, var = sum(w (x-mean)^2)/S
        d_var = np.sum(dxhat * centered, axis=red, keepdims=True) * (-0.5 * inv ** 3)
        d_mean = (-inv * np.sum(dxhat, axis=red, keepdims=True)
                  + d_var * (-2.0 * np.sum(w * centered, axis=red, keepdims=True) / denom))
        dx = dxhat * inv + d_var * 2.0 * w * centered / denom + d_mean * w / denom
        return {"inputs": dx.astype(xhat.dtype, copy=False)}, grads


class RMSNormalization(Layer):
    """Keras ``RMSNormalization``: x / sqrt(mean(x^2 over axis) + epsilon) * scale, with a
    ``scale`` weight over the normalised axes (no centring, no beta); drops a mask as Keras."""

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = _axis_arg(self, axis), number_arg(self.name, "epsilon", epsilon)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon)
        return config

    def build(self, input_shape):
        self.scale = self.add_weight("scale", _param_shape(self, input_shape), "ones")
        self.axis = _keras_built_axis(self.axis)
        self.built = True

    def _broadcast(self, x):
        return self.scale.value.reshape([x.shape[i] if i in self._ax else 1
                                         for i in range(x.ndim)])

    def forward(self, inputs, *, training=False, mask=None):
        x = _checked(self, inputs)
        inv = 1.0 / np.sqrt(np.mean(np.square(x), axis=tuple(self._ax), keepdims=True) +
                            x.dtype.type(self.epsilon))
        xhat = x * inv
        return xhat * self._broadcast(x), (xhat, inv)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        xhat, inv = cache
        ax = tuple(self._ax)
        other = tuple(i for i in range(xhat.ndim) if i not in ax)
        dscale = np.sum(d_outputs * xhat, axis=other).reshape(self.scale.shape)
        dxhat = d_outputs * self._broadcast(xhat)
        # xhat = x * inv, inv = (mean(x^2) + eps)^-1/2: d inv/dx = -inv^3 x / N
        dx = inv * (dxhat - xhat * np.mean(dxhat * xhat, axis=ax, keepdims=True))
        return {"inputs": dx}, [(self.scale, dscale)]


class UnitNormalization(Layer):
    """Keras ``UnitNormalization``: x / ||x|| over ``axis`` (the norm floored at 1e-12)."""

    supports_masking = True
    _EPS = 1e-12

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis_arg(self, axis)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config

    def build(self, input_shape):
        check_rank(self, input_shape, min_rank=1)
        self._ax = _axes(self, self.axis, len(input_shape))
        self.built = True

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        ax = tuple(_axes(self, self.axis, x.ndim))
        # min(1/||x||, 1/eps) without dividing by a zero norm
        ss = np.sum(np.square(x), axis=ax, keepdims=True)
        floored = ss <= x.dtype.type(self._EPS ** 2)
        inv = 1.0 / np.sqrt(np.maximum(ss, x.dtype.type(self._EPS ** 2)))
        u = x * inv
        return u, (u, inv, floored, ax)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        u, inv, floored, ax = cache   # where the norm is the constant floor, du = dx / eps
        proj = np.where(floored, 0, np.sum(d_outputs * u, axis=ax, keepdims=True))
        return {"inputs": inv * (d_outputs - u * proj)}, []
