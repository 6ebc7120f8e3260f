"""How ``layer(...)`` runs: eagerly on arrays here; the symbolic (functional-graph) path is added
by the models engine."""

import numpy as np


def call_layer(layer, inputs, *args, training=False, mask=None, **kwargs):
    """Eager call: build from the input's shape if needed, run forward, return the outputs."""
    if args:
        raise TypeError(f"[{type(layer).__name__}] takes one positional input; pass the others "
                        f"by keyword, got {1 + len(args)} positional arguments")
    if isinstance(inputs, (list, tuple)):
        arrays = [np.asarray(a) for a in inputs]
        shape = [a.shape for a in arrays]
        inputs = arrays
    else:
        inputs = np.asarray(inputs)
        shape = inputs.shape
    layer._maybe_build(shape)
    outputs, _ = layer.forward(inputs, training=training, mask=mask, **kwargs)
    return outputs
