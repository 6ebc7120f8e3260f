"""``Sequential([...])``: a stack of single-input layers, a functional model underneath once the
input shape is known (an Input first, a first layer with ``input_shape=``, or the first data)."""

import numpy as np

from ..layers._call import SymbolicTensor
from ..layers.base import Layer, _unique_name, deserialize, serialize
from ..layers.core import InputLayer
from .functional import Model
from .training import Trainer


class Sequential(Model):
    _is_sequential = True

    def __init__(self, layers=None, trainable=True, name=None):
        Layer.__init__(self, name=name or _unique_name("sequential"), trainable=trainable)
        Trainer.__init__(self)
        self._stack = []
        self._input_layer = None
        self._graph = None
        self.built = False
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, SymbolicTensor):
            if layer.node is None or not isinstance(layer.node.layer, InputLayer):
                raise ValueError(f"[{self.name}.add] a tensor given to Sequential must come "
                                 "from Input()")
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError(f"[{self.name}.add] an Input can only come first")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"[{self.name}.add] expects a Layer, got {type(layer).__name__}")
        if not self._stack and self._input_layer is None and \
                getattr(layer, "_declared_input_shape", None) is not None:
            self._input_layer = InputLayer(shape=layer._declared_input_shape)
        self._stack.append(layer)
        if self._input_layer is not None:  # build now: shape errors surface at add()
            try:
                self._build_graph()
            except Exception:
                self._stack.pop()
                if self._stack:
                    self._build_graph()
                raise

    def pop(self):
        if not self._stack:
            raise ValueError(f"[{self.name}.pop] no layers to remove")
        layer = self._stack.pop()
        self._graph = None
        if self._stack and self._input_layer is not None:
            self._build_graph()
        return layer

    def _build_graph(self):
        x = self._input_layer.output
        inputs = x
        for layer in self._stack:
            x = layer(x)
            if not isinstance(x, SymbolicTensor):
                raise ValueError(f"[{self.name}] layer {layer.name} has several outputs; "
                                 "Sequential needs one output per layer (use Model)")
        self._init_graph(inputs, x)
        if self.compiled:
            self._resolve_compile()

    def build(self, input_shape=None):
        if self._graph is not None:
            return
        if input_shape is None:
            raise ValueError(f"[{self.name}.build] needs an input shape")
        self._input_layer = InputLayer(batch_shape=(None,) + tuple(input_shape[1:]))
        self._build_graph()

    def _ensure_built(self, x):
        if self._graph is not None:
            return
        first = x[0] if isinstance(x, (list, tuple)) and len(x) == 1 else x
        a = np.asarray(first)
        dtype = a.dtype.name if a.dtype.kind in "iu" else None
        self._input_layer = InputLayer(batch_shape=(None,) + a.shape[1:], dtype=dtype)
        self._build_graph()

    def _graph_ready(self):
        return self._graph is not None

    @property
    def layers(self):
        return list(self._stack)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in getattr(self, "_stack", []):
            layer.trainable = value

    def _maybe_build(self, input_shape, call_shapes=None):
        if self._graph is None:
            self.build(input_shape)

    def forward(self, inputs, *, training=False, mask=None):
        if self._graph is None:
            self._ensure_built(inputs)
        return super().forward(inputs, training=training, mask=mask)

    # -- configs: Keras's {"name", "trainable", "dtype", "layers", "build_input_shape"} -------
    def get_config(self):
        """Keras's Sequential config: the layers in Keras's serialised form, the input first as
        an InputLayer entry once the input shape is known (weights are not part of it)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        entries = [serialize(layer) for layer in self._stack]
        if self._input_layer is not None:
            entries.insert(0, serialize(self._input_layer))
            config["build_input_shape"] = tuple(self._input_layer.batch_shape)
        config["layers"] = entries
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model ``get_config()`` (pyseq's or Keras's) describes, with fresh weights."""
        if not isinstance(config, dict) or not isinstance(config.get("layers", []), list):
            raise ValueError(f"[Sequential.from_config] expects a dict with a 'layers' list, "
                             f"got {config!r:.120}")
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config.get("layers", []):
            model.add(deserialize(entry, custom_objects))
        shape = config.get("build_input_shape")
        if model._graph is None and shape is not None and model._stack:
            model.build(tuple(shape))
        return model

    def count_params(self):
        if self._graph is None:
            raise ValueError(f"[{self.name}.count_params] the model is not built yet: give it an "
                             "Input, a first layer with input_shape=, or call it on data")
        return super().count_params()
