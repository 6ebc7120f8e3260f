"""Keras's noise layers, active only in training: GaussianNoise (additive, stddev),
GaussianDropout (multiplicative, mean 1, variance rate / (1 - rate)) and AlphaDropout (SELU's
dropout); all pass masks on."""

import numpy as np

from .._random import seeded_rng
from .base import Layer
from .core import Dropout, _check_rate, cast_float, noise_shape_arg


class _Noise(Layer):
    supports_masking = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._rng = seeded_rng(self.name, seed)


class GaussianNoise(_Noise):
    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or stddev < 0:
            raise ValueError(f"[{self.name}] stddev must be a number >= 0, got {stddev!r}")
        self.stddev = float(stddev)

    def get_config(self):
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        if not training or self.stddev == 0:
            return x, None
        return x + self._rng.normal(0.0, self.stddev, x.shape).astype(x.dtype), None

    def backward(self, cache, d_outputs):
        return ({} if d_outputs is None else {"inputs": d_outputs}), []


class GaussianDropout(_Noise):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"[{self.name}] rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        if not training or self.rate == 0:
            return x, None
        std = np.sqrt(self.rate / (1.0 - self.rate))
        noise = self._rng.normal(1.0, std, x.shape).astype(x.dtype)
        return x * noise, noise

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        return {"inputs": d_outputs if cache is None else d_outputs * cache}, []


# --- AlphaDropout (branch wip-groupnorm) ------------------------------------------------------
# SELU's constants (Klambauer et al., 2017), whose mean and variance AlphaDropout keeps
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(_Noise):
    """Keras ``AlphaDropout``: in training, dropped values become SELU's saturation value
    -alpha*scale and everything is affinely rescaled to keep zero mean and unit variance
    (``rate`` in [0, 1); ``noise_shape`` as Dropout's, None entries taking the input's size)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check_rate(self, rate)
        self.noise_shape = noise_shape_arg(self, noise_shape)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return config

    def _noise_shape(self, x):
        return Dropout._noise_shape(self, x)  # checks that the draw broadcasts to x

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        if not training or self.rate == 0:
            return x, None
        t = x.dtype.type
        keep = (self._rng.random(self._noise_shape(x)) >= self.rate).astype(x.dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        # a * (x*keep + alpha_p*(1 - keep)) + b; its gradient is a*keep
        scale = t(a) * keep
        return x * scale + (t(a * alpha_p) * (t(1) - keep) + t(b)), np.broadcast_to(scale, x.shape)

    backward = GaussianDropout.backward  # d_outputs times the saved scale
# --- end of AlphaDropout ----------------------------------------------------------------------
