"""Keras's functional-model config: each layer in Keras's serialised form with its ``name`` and
``inbound_nodes`` (the arguments of each call, tensors written as ``__keras_tensor__`` entries
whose ``keras_history`` is [layer name, node index, tensor index]), and ``input_layers`` /
``output_layers`` as such triples in the model's input and output structure."""

from ..layers._call import SymbolicTensor, map_structure
from ..layers.base import deserialize, serialize


def _model_nodes(model, layer):
    # the calls of ``layer`` inside this model, in call order: a node index is a position in it
    graph = model._graph
    inside = {id(n) for n in graph.nodes} | {id(t.node) for t in graph.inputs}
    return [n for n in layer._inbound_nodes if id(n) in inside]


def get_config(model):
    graph = model._graph
    node_index = {}
    for layer in graph.layers:
        for i, node in enumerate(_model_nodes(model, layer)):
            node_index[id(node)] = i

    def history(t):
        return [t.node.layer.name, node_index[id(t.node)], t.index]

    def tensor_entry(x):
        if not isinstance(x, SymbolicTensor):
            return x
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(x.shape), "dtype": x.dtype,
                           "keras_history": history(x)}}

    entries = []
    for layer in graph.layers:
        entry = serialize(layer)
        nodes = [] if getattr(layer, "_is_input_layer", False) else _model_nodes(model, layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {"args": [map_structure(tensor_entry, n.inputs)],
             "kwargs": {k: map_structure(tensor_entry, v) for k, v in n.kwargs.items()}}
            for n in nodes]
        entries.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": entries,
            "input_layers": map_structure(history, model._input_structure),
            "output_layers": map_structure(history, model._output_structure)}


def _is_history(x):
    return isinstance(x, (list, tuple)) and len(x) == 3 and isinstance(x[0], str) and \
        all(isinstance(i, int) for i in x[1:])


def _map_histories(fn, x):
    # input_layers / output_layers: a triple, or a list or dict of them
    if _is_history(x):
        return fn(x)
    if isinstance(x, dict):
        return {k: _map_histories(fn, v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_map_histories(fn, v) for v in x]
    raise ValueError(f"[Model.from_config] expected [layer name, node index, tensor index] "
                     f"entries, got {x!r:.80}")


def _map_tensors(fn, x):
    if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
        return fn(x["config"]["keras_history"])
    if isinstance(x, dict):
        return {k: _map_tensors(fn, v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):  # Keras's own get_config() keeps tuples
        return [_map_tensors(fn, v) for v in x]
    return x


class _NotReady(Exception):
    pass


def from_config(cls, config, custom_objects=None):
    """Rebuild the graph of a functional config: every layer once, then its calls in an order
    where each call's input tensors exist (shared layers are called once per node)."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list) or \
            "input_layers" not in config or "output_layers" not in config:
        raise ValueError(f"[Model.from_config] expects a dict with 'layers', 'input_layers' "
                         f"and 'output_layers', got {config!r:.120}")
    layers, pending, made = {}, [], {}  # made: (layer name, node index) -> output tensors
    for entry in config["layers"]:
        layer = deserialize(entry, custom_objects)
        name = entry.get("name", layer.name)
        layers[name] = layer
        if getattr(layer, "_is_input_layer", False):
            made[(name, 0)] = layer._inbound_nodes[0].outputs
        for node_data in entry.get("inbound_nodes", []):
            pending.append((name, node_data))
    calls = {}  # layer name -> nodes made so far

    def lookup(h):
        key = (h[0], int(h[1]))
        if key not in made:
            raise _NotReady
        return made[key][int(h[2])]

    while pending:
        waiting = []
        for name, node_data in pending:
            if any(name == w[0] for w in waiting):  # a layer's calls keep their order
                waiting.append((name, node_data))
                continue
            try:
                args = _map_tensors(lookup, node_data.get("args", []))
                kwargs = _map_tensors(lookup, node_data.get("kwargs", {}))
            except _NotReady:
                waiting.append((name, node_data))
                continue
            layers[name](*args, **kwargs)
            index = calls.get(name, 0)
            calls[name] = index + 1
            made[(name, index)] = layers[name]._inbound_nodes[-1].outputs
        if len(waiting) == len(pending):
            raise ValueError(f"[Model.from_config] the calls of {sorted({w[0] for w in waiting})} "
                             "need tensors no layer of the config makes")
        pending = waiting

    def tensor(h):
        if h[0] not in layers:
            raise ValueError(f"[Model.from_config] no layer named {h[0]!r} in the config")
        try:
            return lookup(h)
        except (_NotReady, IndexError):
            raise ValueError(f"[Model.from_config] layer {h[0]!r} has no output {h}") from None

    inputs = _map_histories(tensor, config["input_layers"])
    outputs = _map_histories(tensor, config["output_layers"])
    return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))
