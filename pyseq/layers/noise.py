"""Keras's noise layers, active only in training: GaussianNoise (additive, stddev) and
GaussianDropout (multiplicative, mean 1, variance rate / (1 - rate)); both pass masks on."""

import numpy as np

from .base import Layer
from .core import cast_float


class _Noise(Layer):
    supports_masking = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"[{self.name}] seed must be an int or None, got {seed!r}")
        self.seed = seed
        self._rng = np.random.default_rng(seed)


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
        x = cast_float(np.asarray(inputs), self.dtype)
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
        x = cast_float(np.asarray(inputs), self.dtype)
        if not training or self.rate == 0:
            return x, None
        std = np.sqrt(self.rate / (1.0 - self.rate))
        noise = self._rng.normal(1.0, std, x.shape).astype(x.dtype)
        return x * noise, noise

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        return {"inputs": d_outputs if cache is None else d_outputs * cache}, []
