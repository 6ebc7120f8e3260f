"""Weight initializers with Keras 3's names, defaults and fan arithmetic.

Each is a callable ``init(shape, dtype="float32") -> ndarray``. A ``seed`` makes an initializer
reproducible (the same seed gives the same values on every call); without one, values come from
a fresh NumPy generator. The distributions and scales are Keras's; the random streams are NumPy's,
so values match Keras in distribution, not bit for bit.

``get_config()`` has Keras's keys, and ``serialize`` / ``deserialize`` give and read Keras's form
``{"module": "keras.initializers", "class_name", "config", "registered_name"}``: every layer's
``*_initializer`` config entry is written so (see ``layers.base``), so that configs are JSON.
"""

import math

import numpy as np

from ._keras_config import deserialize_builtin, serialize_builtin
from ._random import check_seed, seeded_rng


def _fans(shape):
    # Keras: a kernel of shape (..., fan_in_part, fan_out) has receptive field prod(shape[:-2]).
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __init__(self, seed=None):
        self.seed = check_seed(type(self).__name__, seed)

    def _rng(self):
        return seeded_rng(type(self).__name__, self.seed)

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        # Keras 3.15 writes the fan axes of the variance-scaling family; None is pyseq's only
        # (and Keras's default) choice, so only that form is accepted
        config = {k: v for k, v in config.items()
                  if not (k in ("input_axes", "output_axes") and v is None)}
        try:
            return cls(**config)
        except TypeError as exc:
            raise ValueError(f"[initializers.deserialize] bad config for {cls.__name__}: "
                             f"{exc}") from None


class Zeros(Initializer):
    def get_config(self):
        return {}

    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def get_config(self):
        return {}

    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def get_config(self):
        return {"value": self.value}

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, dtype=dtype)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def get_config(self):
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}

    def __call__(self, shape, dtype="float32"):
        return self._rng().normal(self.mean, self.stddev, shape).astype(dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def get_config(self):
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}

    def __call__(self, shape, dtype="float32"):
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dtype)


def _truncated_normal(rng, shape, stddev):
    # Normal values redrawn until within two standard deviations, as Keras's truncated normal.
    out = rng.normal(0.0, 1.0, shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def get_config(self):
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}

    def __call__(self, shape, dtype="float32"):
        return (self.mean + _truncated_normal(self._rng(), shape, self.stddev)).astype(dtype)


class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"[VarianceScaling] mode must be fan_in, fan_out or fan_avg, "
                             f"got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"[VarianceScaling] distribution must be truncated_normal, "
                             f"untruncated_normal or uniform, got {distribution!r}")
        if scale <= 0:
            raise ValueError(f"[VarianceScaling] scale must be > 0, got {scale}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": None, "output_axes": None}

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = _fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            # 0.879... is the stddev of a unit normal truncated at +-2 (Keras's constant).
            values = _truncated_normal(rng, shape, math.sqrt(variance) / 0.87962566103423978)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(variance), shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, shape)
        return values.astype(dtype)


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)


class HeNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


def _preset_config(self):
    # the presets below fix scale, mode and distribution, so Keras writes only these
    return {"seed": self.seed, "input_axes": None, "output_axes": None}


for _preset in (GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal):
    _preset.get_config = _preset_config


class Orthogonal(Initializer):
    """An orthogonal matrix over (prod(shape[:-1]), shape[-1]), times ``gain`` (Keras's rule)."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def get_config(self):
        return {"seed": self.seed, "gain": self.gain}

    def __call__(self, shape, dtype="float32"):
        if len(shape) < 2:
            raise ValueError(f"[Orthogonal] needs a shape of rank >= 2, got {tuple(shape)}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)


class Identity(Initializer):
    def __init__(self, gain=1.0):
        super().__init__()
        self.gain = gain

    def get_config(self):
        return {"gain": self.gain}

    def __call__(self, shape, dtype="float32"):
        if len(shape) != 2:
            raise ValueError(f"[Identity] needs a 2-D shape, got {tuple(shape)}")
        return (self.gain * np.eye(*shape)).astype(dtype)


_ALIASES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
    "identity": Identity, "uniform": RandomUniform, "normal": RandomNormal, "one": Ones,
    "zero": Zeros,
}
for _cls in list(_ALIASES.values()):
    _ALIASES[_cls.__name__] = _cls


_BUILTIN = tuple(cls for name, cls in _ALIASES.items() if name == cls.__name__)
_CLASSES = {cls.__name__: cls for cls in _BUILTIN}


def serialize(initializer):
    """Keras's form {"module", "class_name", "config", "registered_name"} of a built-in
    initializer, given as an instance, a name or such a dict; None stays None and a custom
    callable is returned as itself (it has no Keras form)."""
    if isinstance(initializer, (str, dict)):
        initializer = get(initializer)
    return serialize_builtin(initializer, "keras.initializers", _BUILTIN)


def deserialize(config, custom_objects=None):
    """The initializer of a ``serialize`` dict (``custom_objects``: class name -> class)."""
    return deserialize_builtin("initializer", config, _ALIASES, _CLASSES, custom_objects)


def get(identifier):
    """An initializer from a Keras name ('glorot_uniform', 'GlorotUniform' ...), a serialised
    dict, an instance or a callable."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _ALIASES:
        # the form Keras writes in a layer's get_config(): {"class_name": ..., "config": ...}
        return deserialize(identifier)
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    raise ValueError(f"[initializers.get] unknown initializer {identifier!r}; expected one of "
                     f"{sorted(k for k in _ALIASES if k.islower())} or an Initializer")
