"""The Layer protocol every pyseq layer follows, and the Variable that holds a weight.

Additions since the first version (the old forms keep working):
- Masks of keyword tensors: besides ``mask`` (the mask of ``inputs``), the engine passes the
  Keras mask of a tensor given as keyword ``name`` as ``name_mask=`` when ``forward`` names that
  parameter explicitly (``value`` -> ``value_mask``, ``key`` -> ``key_mask``, as Keras does) and
  the caller did not give it. Layers whose forward does not name it never see it.
- ``build`` may take the shapes of tensor keywords: when ``build``'s signature names
  ``<keyword>_shape`` (``value_shape``, ``key_shape``), the engine passes them (None when absent).
- ``training`` is always a Python bool in ``forward``.
- ``backward`` receives a :class:`PreActivationGrad` as ``d_outputs`` only in a layer that
  declares ``accepts_preactivation_grad = True`` (Dense and Activation do: the model hands a
  softmax/sigmoid output the stable gradient with respect to its logits when a non-logits
  cross-entropy follows).

A layer is a pair of NumPy functions over a static graph, never a tape:

    outputs, cache  = layer.forward(inputs, training=False, mask=None, **call_kwargs)
    d_args, grads   = layer.backward(cache, d_outputs)

- ``inputs`` is the first positional argument exactly as the user passed it to ``layer(...)``
  (an array, or a list of arrays for merge layers); ``call_kwargs`` are the other call arguments
  (``initial_state=[h, c]`` for an RNN, ``value=``/``key=``/``attention_mask=`` for attention,
  plain Python options too).
- ``mask`` is the Keras mask of ``inputs`` (a (B, T) bool array, or a list aligned with a list
  of inputs, or None); a layer that accepts masks sets ``supports_masking = True`` and passes a
  mask on through ``compute_mask``.
- ``d_outputs`` has the nesting of ``outputs``; any entry may be None, meaning zeros.
- ``d_args`` is a dict from call-argument name to the gradient with the nesting of that argument:
  ``"inputs"`` for the first positional argument, the keyword's name for tensor keywords
  (``{"inputs": dx, "initial_state": [dh0, dc0]}``). Missing names or None values mean zeros
  (or no gradient, for integer inputs).
- ``grads`` is a list of ``(variable, gradient)`` pairs, one per weight the layer differentiates,
  sublayers' included; the model keeps the trainable ones. Non-trainable state (BatchNorm moving
  statistics, a stateful RNN's states) is updated by ``forward`` when ``training`` is True.

``build(input_shape)`` creates the weights with ``add_weight`` in Keras's order, so that
``get_weights()`` lists them as Keras does; shapes include the batch axis as None.
``compute_output_shape(input_shape, **call_kwargs)`` gives the output shape(s) from input shapes.
"""

import functools
import re

import numpy as np

from .. import initializers as _initializers
from . import _regularization as _reg

_FLOAT_DTYPES = ("float32", "float64")
_name_counts = {}


def number_arg(owner, name, value):
    """float(value) for a real number; a TypeError naming the layer and the argument otherwise
    (a bool, None, a string: float() would take some and give an unnamed error for the others)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"[{owner}] {name} must be a number, got {value!r}")
    return float(value)


def _unique_name(prefix):
    count = _name_counts.get(prefix, 0)
    _name_counts[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def _snake_case(name):
    # Keras's rule: "MaxPooling1D" -> "max_pooling1d", "SimpleRNN" -> "simple_rnn".
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def standardize_dtype(op, dtype):
    """'float32' or 'float64' from a dtype-like, else TypeError naming the op."""
    if dtype is None:
        return "float32"
    # Keras's dtype policies: a DTypePolicy (``.name``) or its serialized config in a layer's
    # get_config(), {"class_name": "DTypePolicy", "config": {"name": "float32"}}
    if isinstance(dtype, dict) and isinstance(dtype.get("config"), dict):
        dtype = dtype["config"].get("name", dtype)
    elif not isinstance(dtype, (str, type, np.dtype)) and isinstance(getattr(dtype, "name", None),
                                                                        str):
        dtype = dtype.name
    try:
        name = np.dtype(dtype).name
    except (TypeError, ValueError):
        name = None
    if name not in _FLOAT_DTYPES:
        raise TypeError(f"[{op}] dtype must be float32 or float64, got {dtype!r}")
    return name


class Variable:
    """A named weight: a NumPy array that optimizers update in place.

    ``value`` is the array itself (updated in place by optimizers, so references stay valid);
    ``assign`` copies new values in after checking the shape. ``regularizer`` and
    ``constraint`` (None unless given to ``add_weight``) are Keras's: the trainer adds the
    regularizer's penalty to the loss, the optimizer applies the constraint after each update.
    """

    regularizer = None
    constraint = None

    def __init__(self, value, name, trainable=True):
        self.value = value
        self.name = name
        self.trainable = bool(trainable)

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        return self.value.copy()

    def assign(self, new_value):
        new_value = np.asarray(new_value)
        if new_value.shape != self.value.shape:
            raise ValueError(f"[Variable.assign] {self.name} has shape {self.value.shape}, "
                             f"got a value of shape {new_value.shape}")
        self.value[...] = new_value

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable {self.name} shape={self.value.shape} dtype={self.value.dtype}>"


class Layer:
    """Base class: weights, naming, building, the eager call, and the protocol above."""

    supports_masking = False
    # True where the input is a list of tensors (merges, Attention); elsewhere an eager call turns
    # a nested list of numbers into one array, as Keras does
    _takes_list = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("get_config")
        if own is not None:
            cls.get_config = _serializing_initializers(own)

    def __init__(self, *, name=None, trainable=True, dtype=None, input_shape=None,
                 input_dim=None, activity_regularizer=None, **kwargs):
        if kwargs:
            unknown = ", ".join(sorted(kwargs))
            raise TypeError(f"[{type(self).__name__}] unexpected argument(s): {unknown}")
        self.name = name if name is not None else _unique_name(_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = standardize_dtype(type(self).__name__, dtype)
        self.built = False
        self._own_weights = []
        self._sublayers = []
        # Sequential's shortcut for an implicit Input (Keras 2 style): Dense(4, input_shape=(8,)).
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._declared_input_shape = tuple(input_shape) if input_shape is not None else None
        self._inbound_nodes = []  # the graph nodes of this layer's symbolic calls
        # Keras's: penalises the layer's outputs (see _regularization.run_forward)
        self.activity_regularizer = _reg.resolve(type(self).__name__, "activity_regularizer",
                                                 activity_regularizer, "regularizer")

    # -- weights ----------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer="zeros", trainable=True, dtype=None,
                   regularizer=None, constraint=None, options=None):
        """A new weight. ``options``: the prefix of the layer's ``<options>_regularizer`` and
        ``<options>_constraint`` attributes (its Keras arguments, see set_weight_options), used
        in place of ``regularizer`` and ``constraint``."""
        if options is not None:
            regularizer = getattr(self, f"{options}_regularizer")
            constraint = getattr(self, f"{options}_constraint")
        init = _initializers.get(initializer)
        dtype = self.dtype if dtype is None else dtype
        value = np.array(init(tuple(shape), dtype=dtype), dtype=dtype, order="C")  # 0-d stays 0-d
        var = Variable(value, f"{self.name}/{name}", trainable=trainable)
        owner = type(self).__name__
        var.regularizer = _reg.resolve(owner, f"{name} regularizer", regularizer, "regularizer")
        var.constraint = _reg.resolve(owner, f"{name} constraint", constraint, "constraint")
        self._own_weights.append(var)
        return var

    def track(self, layer):
        """Register a sublayer: its weights follow this layer's own in ``weights``."""
        self._sublayers.append(layer)
        return layer

    # -- Keras's symbolic views: the tensors of the layer's first call in a graph -----------
    def _first_node(self, what):
        nodes = getattr(self, "_inbound_nodes", None)
        if not nodes:
            raise ValueError(f"[{self.name}] has never been called on a symbolic tensor, so it "
                             f"has no {what}")
        return nodes[0]

    @property
    def input(self):
        """The symbolic input(s) of the layer's first call (Keras ``layer.input``)."""
        return self._first_node("input").inputs

    @property
    def output(self):
        """The symbolic output(s) of the layer's first call (Keras ``layer.output``), e.g. to
        build a feature extractor ``Model(model.inputs, model.layers[2].output)``."""
        return self._first_node("output").out_structure

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._sublayers:
            layer.trainable = value

    @property
    def weights(self):
        # Keras lists a layer's own trainable variables before its non-trainable ones.
        out = [v for v in self._own_weights if v.trainable]
        out += [v for v in self._own_weights if not v.trainable]
        for layer in self._sublayers:
            out.extend(layer.weights)
        return out

    @property
    def trainable_weights(self):
        if not self._trainable:
            return []
        out = [v for v in self._own_weights if v.trainable]
        for layer in self._sublayers:
            out.extend(layer.trainable_weights)
        return out

    @property
    def non_trainable_weights(self):
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    def get_weights(self):
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"[{self.name}.set_weights] expected {len(mine)} arrays, "
                             f"got {len(weights)}")
        for var, value in zip(mine, weights):
            var.assign(value)

    def count_params(self):
        return int(sum(v.value.size for v in self.weights))

    @property
    def losses(self):
        """Keras's ``layer.losses``: the activity-regularizer penalties of the layer's latest
        call (sublayers' included) and the current penalties of its regularized trainable
        weights, as NumPy scalars."""
        return _reg.layer_losses(self)

    # -- building and shapes -----------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis None)."""
        self.built = True

    def compute_output_shape(self, input_shape, **call_kwargs):
        return input_shape

    def compute_mask(self, inputs, mask=None, **call_kwargs):
        """The output's mask given the input mask: passed on if the layer supports masking."""
        return mask if self.supports_masking else None

    def _maybe_build(self, input_shape, call_shapes=None):
        """Build once; ``call_shapes`` maps tensor keywords to shapes, passed on as
        ``<keyword>_shape`` to a ``build`` that names such parameters."""
        if self.built:
            return
        extra = {}
        if call_shapes:
            names = _build_parameters(type(self))
            for key, shape in call_shapes.items():
                if f"{key}_shape" in names:
                    extra[f"{key}_shape"] = shape
        self.build(input_shape, **extra)
        self.built = True

    # -- the numeric protocol ----------------------------------------------------------------
    def forward(self, inputs, *, training=False, mask=None, **call_kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, cache, d_outputs):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def __call__(self, *args, **kwargs):
        from ._call import call_layer  # the graph machinery; imported late to avoid a cycle
        return call_layer(self, *args, **kwargs)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        config.update(_reg.options_config(self))  # regularizers and constraints, as Keras's
        return config

    # config keys that hold serialised layers (a wrapper's layer, an RNN's cell, a list of
    # cells): from_config rebuilds them before the constructor sees them
    _nested_layer_keys = ()

    @classmethod
    def from_config(cls, config):
        """The layer ``get_config()`` describes (Keras ``from_config``); weights are not part
        of a config."""
        config = dict(config)
        for key in cls._nested_layer_keys:
            value = config.get(key)
            if isinstance(value, list):
                config[key] = [deserialize(v) for v in value]
            elif value is not None:
                config[key] = deserialize(value)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _serializing_initializers(get_config):
    """``get_config`` with every ``*_initializer`` value in Keras's serialised form, so that a
    config is JSON as Keras's is: one wrapper here (every layer class gets it on definition)
    rather than a call in each layer's get_config. Idempotent, so that ``super().get_config()``
    chains are harmless; a value pyseq does not know (a custom callable) is left as it is."""
    if getattr(get_config, "_serializes_initializers", False):
        return get_config

    @functools.wraps(get_config)
    def wrapped(self):
        config = get_config(self)
        for key, value in config.items():
            if key.endswith("_initializer") and value is not None:
                try:
                    config[key] = _initializers.serialize(value)
                except ValueError:
                    pass  # an unknown name: the layer's build reports it
        return config

    wrapped._serializes_initializers = True
    return wrapped


def serialize(layer):
    """A layer as Keras writes a nested one in a config:
    {"module", "class_name", "config", "registered_name"}."""
    if getattr(layer, "_is_sequential", None) is not None:  # models, as Keras names them
        module, name = "keras", "Sequential" if layer._is_sequential else "Functional"
    else:
        module, name = "keras.layers", type(layer).__name__
    return {"module": module, "class_name": name, "config": layer.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects=None):
    """The layer of a ``serialize`` dict (any layer class of ``pyseq.layers``, Sequential or a
    functional Model, or a class of ``custom_objects``), or a Layer."""
    if isinstance(config, Layer):
        return config
    from .. import layers, models
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = None
    if isinstance(name, str):
        cls = (custom_objects or {}).get(name) or getattr(layers, name, None)
        if cls is None:
            cls = {"Sequential": models.Sequential, "Functional": models.Model,
                   "Model": models.Model}.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"[layers.deserialize] expected a Layer or {{'class_name': <a pyseq "
                         f"layer>, 'config': {{...}}}}, got {config!r:.200}")
    return cls.from_config(dict(config.get("config") or {}))


_BUILD_PARAMS = {}


def _build_parameters(cls):
    names = _BUILD_PARAMS.get(cls)
    if names is None:
        import inspect
        names = frozenset(inspect.signature(cls.build).parameters)
        _BUILD_PARAMS[cls] = names
    return names


class PreActivationGrad:
    """dL/dz for a layer whose output is activation(z): the stable gradient a sigmoid/softmax
    output receives from a non-logits cross-entropy (``value`` has the output's shape)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def shape_of(x):
    """The shape of an array-like with the batch axis kept (used by eager builds)."""
    return tuple(np.shape(x))


def zeros_like_or(d, like):
    """A gradient that may be None (meaning zeros) as an array shaped like ``like``."""
    return np.zeros_like(like) if d is None else d
