"""Core layers: InputLayer / Input, Dense, Activation, Dropout, SpatialDropout1D."""

import numpy as np

from .. import activations as _activations
from .. import initializers as _initializers
from .. import ops
from .._random import seeded_rng
from . import _regularization as _reg
from ._call import Node, SymbolicTensor
from ._keras_args import pop_keras_only
from .base import Layer, PreActivationGrad, _unique_name

_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


def check_rank(layer, shape, min_rank=None, exact=None):
    """ValueError naming the layer when ``shape`` is not a single shape of the expected rank."""
    if not isinstance(shape, tuple):
        raise ValueError(f"[{layer.name}] expects one input tensor, got {len(shape)} inputs")
    if exact is not None and len(shape) != exact:
        raise ValueError(f"[{layer.name}] ({type(layer).__name__}) expects inputs of rank {exact}"
                         f", got shape {shape} (rank {len(shape)})")
    if min_rank is not None and len(shape) < min_rank:
        raise ValueError(f"[{layer.name}] ({type(layer).__name__}) expects inputs of rank >= "
                         f"{min_rank}, got shape {shape} (rank {len(shape)})")


def _numeric(x, owner, kinds):
    """``x`` as a NumPy array whose dtype kind is one of ``kinds``; TypeError naming ``owner``
    for anything else."""
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as e:
            raise TypeError(f"[{owner}] expects a numeric array, got {type(x).__name__}") from e
    if x.dtype.kind not in kinds:
        raise TypeError(f"[{owner}] expects a numeric array, got dtype {x.dtype}")
    return x


def cast_float(x, dtype, owner="layer"):
    """``x`` in the layer's float dtype (no copy when it already is). ``owner`` names the layer in
    the TypeError that anything other than a real numeric array-like gets."""
    x = _numeric(x, owner, "biuf")
    return x if x.dtype == dtype else x.astype(dtype)


def as_array(x, owner="layer"):
    """``x`` as a NumPy array of numbers (any numeric dtype, for the layers that only move
    entries around); TypeError naming ``owner`` for anything else."""
    return _numeric(x, owner, "biufc")


class InputLayer(Layer):
    """The layer behind :func:`Input`: no weights, one output tensor of the given shape."""

    _is_input_layer = True

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 name=None, **kwargs):
        if name is None:
            name = _unique_name("input_layer")
        if dtype is not None and np.dtype(dtype).name in _INT_DTYPES:
            int_dtype = np.dtype(dtype).name
            dtype = None
        else:
            int_dtype = None
        super().__init__(name=name, dtype=dtype, **kwargs)
        if int_dtype is not None:
            self.dtype = int_dtype
        if sparse:
            raise ValueError(f"[{self.name}] sparse inputs are not supported by pyseq")
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
        elif shape is not None:
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size,) + tuple(shape)
        else:
            raise ValueError(f"[{self.name}] give shape= (without the batch axis) or batch_shape=")
        for d in batch_shape:
            if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer))
                                  or d < 0):
                raise ValueError(f"[{self.name}] shape entries must be non-negative ints or None, "
                                 f"got {batch_shape[1:]}")
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.built = True
        node = Node(self, [], {})
        tensor = SymbolicTensor(self.batch_shape, self.dtype, node, 0, name=self.name)
        node.outputs = [tensor]
        node.out_structure = tensor
        self._inbound_nodes = [node]

    @property
    def input(self):
        return self.output

    def compute_output_shape(self, input_shape, **kwargs):
        return self.batch_shape

    def get_config(self):
        # Keras's keys; pyseq has neither sparse, ragged nor optional inputs
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False,
                "ragged": False, "name": self.name, "optional": False}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("ragged", "optional"):
            if config.pop(key, False):
                raise ValueError(f"[InputLayer.from_config] {key} inputs are not supported by "
                                 "pyseq")
        return cls(**config)

    def forward(self, inputs, *, training=False, mask=None):
        return inputs, None

    def backward(self, cache, d_outputs):
        return {"inputs": d_outputs}, []


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None):
    """A symbolic input: ``Input(shape=(T, F))`` has shape (None, T, F)."""
    if tensor is not None:
        raise ValueError("[Input] tensor= is not supported by pyseq")
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                      batch_shape=batch_shape, name=name).output


class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` on the last axis; kernel (in, units), bias (units,)."""

    supports_masking = True
    accepts_preactivation_grad = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        opts = _reg.pop_weight_options("Dense", kwargs, ("kernel", "bias"))
        super().__init__(**pop_keras_only("Dense", kwargs))
        _reg.set_weight_options(self, opts)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"[{self.name}] units must be a positive int, got {units!r}")
        self.units = int(units)
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.bias = None

    def build(self, input_shape):
        check_rank(self, input_shape, min_rank=1)
        if input_shape[-1] is None:
            raise ValueError(f"[{self.name}] (Dense) needs a known last axis, got {input_shape}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer, options="kernel")
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        options="bias")
        self.built = True

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation.name, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer,
                      bias_initializer=self.bias_initializer,
                      quantization_config=None)  # as Keras lists it
        return config

    def compute_output_shape(self, input_shape, **kwargs):
        check_rank(self, input_shape, min_rank=1)
        n_in = self.kernel.shape[0]
        if input_shape[-1] is not None and input_shape[-1] != n_in:
            raise ValueError(f"[{self.name}] (Dense) was built for inputs with last axis {n_in}, "
                             f"got shape {input_shape}")
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        n_in = self.kernel.shape[0]
        if x.ndim == 0 or x.shape[-1] != n_in:
            raise ValueError(f"[{self.name}] (Dense) expects inputs with last axis {n_in}, got "
                             f"shape {x.shape}")
        # the product on pyseq's BLAS inside its thread team (ops.dense_forward)
        z, saved = ops.dense_forward(x.reshape(-1, n_in), self.kernel.value,
                                     self.bias.value if self.use_bias else None)
        y = self.activation(z) if self.activation.name != "linear" else z
        return y.reshape(x.shape[:-1] + (self.units,)), (saved, z, y, x.shape)

    def backward(self, cache, d_outputs):
        saved, z, y, in_shape = cache
        if d_outputs is None:
            d_outputs = np.zeros_like(y)
        if isinstance(d_outputs, PreActivationGrad):
            dz = d_outputs.value.reshape(-1, self.units)
        else:
            dy = d_outputs.reshape(-1, self.units)
            dz = dy if self.activation.name == "linear" else self.activation.backward(z, y, dy)
        dx, dkernel, dbias = ops.dense_backward(cast_float(dz, self.dtype, self.name), saved)
        grads = [(self.kernel, dkernel)]
        if self.use_bias:
            grads.append((self.bias, dbias))
        return {"inputs": dx.reshape(in_shape)}, grads


class Activation(Layer):
    """An element-wise (or softmax) activation by name."""

    supports_masking = True
    accepts_preactivation_grad = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activations.get(activation)

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation.name
        return config

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        y = self.activation(x)
        return y, (x, y)

    def backward(self, cache, d_outputs):
        x, y = cache
        if d_outputs is None:
            return {}, []
        if isinstance(d_outputs, PreActivationGrad):
            return {"inputs": d_outputs.value}, []
        return {"inputs": self.activation.backward(x, y, d_outputs)}, []


def _check_rate(layer, rate, allow_one=False):
    # Keras's Dropout takes rate 1 (everything dropped in training); its Gaussian and alpha
    # dropouts divide by 1 - rate
    number = not isinstance(rate, bool) and isinstance(rate, (int, float))
    if not number or not (0 <= rate <= 1 if allow_one else 0 <= rate < 1):
        raise ValueError(f"[{layer.name}] rate must be a number in [0, 1{']' if allow_one else ')'}"
                         f", got {rate!r}")
    return float(rate)


def noise_shape_arg(layer, noise_shape):
    """The ``noise_shape`` argument of the dropout layers as a tuple, or None."""
    if noise_shape is None:
        return None
    if not isinstance(noise_shape, (list, tuple)):
        raise TypeError(f"[{layer.name}] noise_shape must be a tuple (of ints or None) or None, "
                        f"got {noise_shape!r}")
    return tuple(noise_shape)


class Dropout(Layer):
    """Zeroes inputs with probability ``rate`` in training, scaling the rest by 1/(1-rate)."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(self, rate, allow_one=True)
        self.noise_shape = noise_shape_arg(self, noise_shape)
        self.seed = seed
        self._rng = seeded_rng(self.name, seed)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return config

    def _noise_shape(self, x):
        if self.noise_shape is None:
            return x.shape
        if len(self.noise_shape) != x.ndim:
            raise ValueError(f"[{self.name}] noise_shape {self.noise_shape} must have the rank of "
                             f"the inputs, got inputs of shape {x.shape}")
        shape = tuple(x.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        if any(d not in (1, n) for d, n in zip(shape, x.shape)):
            raise ValueError(f"[{self.name}] noise_shape {self.noise_shape} must broadcast to "
                             f"the inputs' shape {x.shape}")
        return shape

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        if not training or self.rate == 0:
            return x, None
        keep = self._rng.random(self._noise_shape(x), dtype=np.float32) >= self.rate
        scale = keep.astype(x.dtype)
        if self.rate < 1:    # rate 1 drops everything (keep is all False)
            scale *= x.dtype.type(1.0 / (1.0 - self.rate))
        return x * scale, scale

    def backward(self, cache, d_outputs):
        if d_outputs is None:
            return {}, []
        return {"inputs": d_outputs if cache is None else d_outputs * cache}, []


class SpatialDropout1D(Dropout):
    """Dropout of whole channels: one draw per (batch, channel), shared over the time axis."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("noise_shape")
        config.pop("trainable")  # Keras's SpatialDropout1D config has no such key
        return config

    def build(self, input_shape):
        check_rank(self, input_shape, exact=3)

    def _noise_shape(self, x):
        if x.ndim != 3:
            raise ValueError(f"[{self.name}] (SpatialDropout1D) expects inputs of rank 3, got "
                             f"shape {x.shape}")
        return (x.shape[0], 1, x.shape[2])


class Masking(Layer):
    """Keras ``Masking``: a step whose features all equal ``mask_value`` is masked for the
    layers that follow, and its features are zeroed. (B, T, ...) -> the same shape."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def build(self, input_shape):
        check_rank(self, input_shape, min_rank=2)

    def _keep(self, x):
        return np.any(x != self.mask_value, axis=-1)  # (B, T) True = valid step

    def compute_mask(self, inputs, mask=None, **kwargs):
        return self._keep(np.asarray(inputs))

    def forward(self, inputs, *, training=False, mask=None):
        x = cast_float(inputs, self.dtype, self.name)
        keep = self._keep(x)[..., None].astype(x.dtype)
        return x * keep, keep

    def backward(self, cache, d_outputs):
        return {"inputs": None if d_outputs is None else d_outputs * cache}, []

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
