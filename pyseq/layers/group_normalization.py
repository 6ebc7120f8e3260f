"""Keras's GroupNormalization (passes the mask on, as in Keras)."""

import numpy as np

from .. import initializers as _initializers
from ._keras_args import pop_keras_only
from . import _regularization as _reg
from .base import Layer
from .core import cast_float, check_rank


class GroupNormalization(Layer):
    """Keras ``GroupNormalization``: the channels on ``axis`` split into ``groups`` (-1: one per
    channel, instance normalisation); each group is normalised per example over its channels and
    every other non-batch axis, then scaled by gamma and shifted by beta (per channel).
    (B, ..., C, ...) -> the same shape."""

    supports_masking = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or \
                (groups <= 0 and groups != -1):
            raise ValueError(f"[GroupNormalization] groups must be a positive int (or -1 for "
                             f"instance normalization), got {groups!r}")
        opts = _reg.pop_weight_options("GroupNormalization", kwargs, ("beta", "gamma"))
        super().__init__(**pop_keras_only("GroupNormalization", kwargs))
        _reg.set_weight_options(self, opts)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"[GroupNormalization] axis must be an int, got {axis!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"[GroupNormalization] epsilon must be a non-negative number, got "
                             f"{epsilon!r}")
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.gamma = self.beta = None

    def get_config(self):
        config = super().get_config()
        config.update(groups=self.groups, axis=self.axis, epsilon=self.epsilon,
                      center=self.center, scale=self.scale,
                      beta_initializer=self.beta_initializer,
                      gamma_initializer=self.gamma_initializer)
        return config

    def _channel_axis(self, rank):
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"[GroupNormalization] axis {self.axis} is not a non-batch axis of "
                             f"inputs of rank {rank}")
        return self.axis % rank

    def build(self, input_shape):
        check_rank(self, input_shape, min_rank=2)
        p = self._channel_axis(len(input_shape))
        C = input_shape[p]
        if C is None:
            raise ValueError(f"[GroupNormalization] axis {self.axis} must have a known size, got "
                             f"input shape {tuple(input_shape)}")
        if self.groups == -1:
            self.groups = int(C)
        if C < self.groups or C % self.groups:
            raise ValueError(f"[GroupNormalization] the {C} channels must split evenly into "
                             f"groups={self.groups}")
        if self.scale:
            self.gamma = self.add_weight("gamma", (C,), self.gamma_initializer, options="gamma")
        if self.center:
            self.beta = self.add_weight("beta", (C,), self.beta_initializer, options="beta")
        self.built = True

    def compute_output_shape(self, input_shape, **kwargs):
        self._channel_axis(len(input_shape))
        return input_shape

    def _grouped(self, x, p):
        """x with the channel axis p split into (groups, channels per group); the axes reduced
        over (all but the batch and the group axis); the per-channel weight shape."""
        G = self.groups
        shape = x.shape[:p] + (G, x.shape[p] // G) + x.shape[p + 1:]
        red = tuple(i for i in range(1, len(shape)) if i != p)
        wshape = [1] * len(shape)
        wshape[p], wshape[p + 1] = G, x.shape[p] // G
        return x.reshape(shape), red, tuple(wshape)

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        p = self._channel_axis(x.ndim)
        w = self.gamma if self.gamma is not None else self.beta
        if w is not None and x.shape[p] != w.shape[0]:
            raise ValueError(f"[GroupNormalization] was built for {w.shape[0]} channels on axis "
                             f"{self.axis}, got inputs of shape {x.shape}")
        if x.shape[p] % self.groups:
            raise ValueError(f"[GroupNormalization] the {x.shape[p]} channels must split evenly "
                             f"into groups={self.groups}, got inputs of shape {x.shape}")
        xg, red, wshape = self._grouped(x, p)
        centered = xg - np.mean(xg, axis=red, keepdims=True)
        inv = x.dtype.type(1) / np.sqrt(np.mean(centered * centered, axis=red, keepdims=True)
                                        + x.dtype.type(self.epsilon))
        xhat = centered * inv
        y = xhat * self.gamma.value.reshape(wshape) if self.gamma is not None else xhat.copy()
        if self.beta is not None:
            y += self.beta.value.reshape(wshape)
        return y.reshape(x.shape), (xhat, inv, red, wshape, x.shape)

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        xhat, inv, red, wshape, shape = cache
        dy = d_outputs.reshape(xhat.shape)
        per_channel = tuple(i for i in range(xhat.ndim) if wshape[i] == 1)
        grads = []
        if self.gamma is not None:
            grads.append((self.gamma, np.sum(dy * xhat, axis=per_channel).reshape(-1)))
            dxhat = dy * self.gamma.value.reshape(wshape)
        else:
            dxhat = dy
        if self.beta is not None:
            grads.append((self.beta, np.sum(dy, axis=per_channel).reshape(-1)))
        # the group's mean and variance depend on every x in it (LayerNormalization's formula)
        dx = inv * (dxhat - np.mean(dxhat, axis=red, keepdims=True)
                    - xhat * np.mean(dxhat * xhat, axis=red, keepdims=True))
        return {"inputs": dx.reshape(shape)}, grads
