"""The functional ``Model(inputs, outputs)``: a Layer over a static graph (so that it can be
called on arrays, or on symbolic tensors as a nested model), with Keras's weight order."""

import numpy as np

from ..layers._call import SymbolicTensor, flatten, pack_like
from ..layers.base import Layer, _unique_name
from .graph import Graph
from .training import Trainer, sorted_structure


def _dedup(variables):
    seen, out = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


class Model(Trainer, Layer):
    """``Model(inputs, outputs, name=None)``: several inputs and outputs (a tensor, list or dict),
    shared layers, nested models."""

    _is_sequential = False

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None or outputs is None:
            raise ValueError("[Model] give inputs= and outputs= (symbolic tensors); subclassed "
                             "models are not supported by pyseq")
        Layer.__init__(self, name=name or _unique_name("functional"), trainable=trainable,
                       **kwargs)
        Trainer.__init__(self)
        self._init_graph(inputs, outputs)

    def _init_graph(self, inputs, outputs):
        inputs, outputs = sorted_structure(inputs), sorted_structure(outputs)
        self._input_structure = inputs
        self._output_structure = outputs
        self._graph = Graph(flatten(inputs), flatten(outputs), owner=self.name)
        self.inputs = self._graph.inputs
        self.outputs = self._graph.outputs
        self.built = True
        self.output_dtype = [t.dtype for t in self.outputs] if len(self.outputs) > 1 else \
            self.outputs[0].dtype
        self._last_masks = None

    @property
    def input(self):
        """The model's symbolic input(s), as given to the constructor (Keras ``model.input``)."""
        return self._structure("_input_structure", "input")

    @property
    def output(self):
        """The model's symbolic output(s), as given to the constructor."""
        return self._structure("_output_structure", "output")

    @property
    def input_shape(self):
        """The input shape(s) with the batch axis None: a tuple, or a list for several."""
        shapes = [t.shape for t in flatten(self.input)]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        """The output shape(s) with the batch axis None: a tuple, or a list for several."""
        shapes = [t.shape for t in flatten(self.output)]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_names(self):
        """The names of the layers that give the outputs, in order (Keras ``output_names``)."""
        return [t.node.layer.name for t in self.outputs] if self._graph_ready() else []

    def _structure(self, attr, what):
        value = getattr(self, attr, None)
        if value is None:
            raise ValueError(f"[{self.name}] has no {what} yet: it is built on its first call "
                             f"or when given an Input")
        return value

    # -- layers and weights ----------------------------------------------------------------
    @property
    def layers(self):
        return list(self._graph.layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
                raise TypeError(f"[{self.name}.get_layer] index must be an int, got {index!r:.60}")
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"[{self.name}.get_layer] index {index} is out of range: the "
                                 f"model has {len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"[{self.name}.get_layer] no layer named {name!r}; layers: "
                         f"{[la.name for la in self.layers]}")

    @property
    def weights(self):
        return _dedup(v for layer in self.layers for v in layer.weights)

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return _dedup(v for layer in self.layers for v in layer.trainable_weights)

    @property
    def non_trainable_weights(self):
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        graph = getattr(self, "_graph", None)
        for layer in graph.layers if graph is not None else []:
            layer.trainable = value

    def save_weights(self, filepath, overwrite=True):
        """All weights in Keras's order to a .npz file (arrays arr_0, arr_1, ...)."""
        filepath = str(filepath)
        if not filepath.endswith(".npz"):
            raise ValueError(f"[{self.name}.save_weights] pyseq writes .npz files, got "
                             f"{filepath!r}")
        np.savez(filepath, *[v.value for v in self.weights])

    def load_weights(self, filepath):
        with np.load(str(filepath)) as data:
            arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
        self.set_weights(arrays)

    # -- the Layer protocol ----------------------------------------------------------------
    def compute_output_shape(self, input_shape, **kwargs):
        shapes = [t.shape for t in self.outputs]
        return pack_like(self._output_structure, shapes) if not isinstance(
            self._output_structure, SymbolicTensor) else shapes[0]

    def compute_mask(self, inputs, mask=None, **kwargs):
        masks = self._last_masks
        if masks is None or all(m is None for m in masks):
            return None
        return masks if len(masks) > 1 else masks[0]

    def forward(self, inputs, *, training=False, mask=None):
        xs = self._standardize_inputs(inputs)
        in_masks = None
        if mask is not None:
            in_masks = flatten(mask) if isinstance(mask, (list, tuple)) else [mask]
        outs, masks, caches = self._graph.forward(xs, training=training, input_masks=in_masks)
        self._last_masks = masks
        return self._pack_outputs(outs), (caches, [o.shape for o in outs])

    def backward(self, cache, d_outputs):
        caches, _ = cache
        d = flatten(sorted_structure(d_outputs)) if not isinstance(
            self._output_structure, SymbolicTensor) else [d_outputs]
        var_grads, in_grads = self._graph.backward(caches, d, need_input_grads=True)
        d_inputs = in_grads[0] if isinstance(self._input_structure, SymbolicTensor) else \
            pack_like(self._input_structure, in_grads)
        return {"inputs": d_inputs}, list(var_grads.values())

    def _pack_outputs(self, outs):
        if isinstance(self._output_structure, SymbolicTensor):
            return outs[0]
        return pack_like(self._output_structure, outs)

    # -- configs (Keras's functional form, see functional_config) ----------------------------
    def get_config(self):
        """Keras's functional config: layers with their inbound nodes, input and output layers
        (weights are not part of it)."""
        from . import functional_config
        return functional_config.get_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model ``get_config()`` (pyseq's or Keras's) describes, with fresh weights."""
        from . import functional_config
        return functional_config.from_config(cls, config, custom_objects)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
