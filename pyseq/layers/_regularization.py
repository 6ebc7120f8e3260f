"""Regularizers and constraints in the layer engine: Keras's ``layer.losses``.

- Weight options: a layer pops its Keras arguments ``<weight>_regularizer`` and
  ``<weight>_constraint`` with :func:`pop_weight_options`, keeps them as attributes with
  :func:`set_weight_options` (so ``get_config`` lists them) and hands them to ``add_weight``;
  the Variable carries them. The trainer adds the weight penalties (and their gradients) to the
  loss, and the optimizer applies a variable's constraint after each update.
- Activity regularizers: ``layer.activity_regularizer`` penalises each float output of a call,
  divided by that output's batch size (Keras's ``Layer.__call__``). The engine runs a layer with
  :func:`run_forward` / :func:`run_backward` instead of ``forward`` / ``backward``: the first
  records the penalty and keeps the outputs, the second adds the penalty's gradient to the
  output gradient. A layer's forward and backward themselves know nothing of it.
- ``layer.losses`` (:func:`layer_losses`): the activity penalties of the layer's latest
  outermost call (its sublayers' too; a layer called twice in one model call has two) and the
  current penalties of its regularized trainable weights, as Keras's.
"""

import contextlib

import numpy as np

from .. import constraints as _constraints
from .. import regularizers as _regularizers
from ._call import flatten, pack_like

# -- weight options ---------------------------------------------------------------------------


def resolve(owner, what, value, kind):
    """``regularizers.get`` / ``constraints.get`` with errors naming the layer's argument."""
    module = _regularizers if kind == "regularizer" else _constraints
    try:
        return module.get(value)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"[{owner}] {what}: {exc}") from None


def pop_weight_options(owner, kwargs, weights):
    """Pop ``<w>_regularizer`` and ``<w>_constraint`` for each name in ``weights`` from a
    layer's ``kwargs``, resolved; returns them as a dict (None where not given)."""
    opts = {}
    for w in weights:
        for kind in ("regularizer", "constraint"):
            name = f"{w}_{kind}"
            opts[name] = resolve(owner, name, kwargs.pop(name, None), kind)
    return opts


def set_weight_options(layer, opts, lists_activity=False):
    """Keep popped options as the layer's attributes, in the order its get_config lists them.
    ``lists_activity``: the layer's Keras config shows ``activity_regularizer`` even when None
    (the recurrent layers, Conv1D, Embedding do; Dense and the normalizations do not)."""
    for name, value in opts.items():
        setattr(layer, name, value)
    layer._weight_options = tuple(opts)
    layer._lists_activity = lists_activity


def options_config(layer):
    """The layer's regularizers and constraints as Keras's get_config shows them: its weight
    options always, ``activity_regularizer`` when set (or always, see set_weight_options)."""
    config = {}
    names = getattr(layer, "_weight_options", ())
    activity = getattr(layer, "activity_regularizer", None)
    if getattr(layer, "_lists_activity", False) or activity is not None:
        config["activity_regularizer"] = _regularizers.serialize(activity)
    for name in names:
        module = _regularizers if name.endswith("_regularizer") else _constraints
        config[name] = module.serialize(getattr(layer, name))
    return config


def gradient_of(regularizer, x, where):
    """The gradient of ``regularizer``'s penalty at x; TypeError naming ``where`` when the
    regularizer cannot give one (a plain function, or a subclass without ``gradient``)."""
    grad = getattr(regularizer, "gradient", None)
    if grad is None:
        raise TypeError(f"[{where}] the regularizer {regularizer!r:.60} has no gradient(x): "
                        "pyseq has no automatic differentiation, so a trained penalty must be a "
                        "pyseq.regularizers.Regularizer subclass defining __call__ and gradient")
    try:
        g = grad(x)
    except NotImplementedError as exc:
        raise TypeError(f"[{where}] {exc}") from None
    g = np.asarray(g, dtype=x.dtype)
    if g.shape != x.shape:
        raise ValueError(f"[{where}] the regularizer's gradient has shape {g.shape}, expected "
                         f"{x.shape}")
    return g


def weight_penalties(variables):
    """The penalty of each regularized variable (Keras's regularization losses)."""
    return [v.regularizer(v.value) for v in variables
            if getattr(v, "regularizer", None) is not None]


def add_weight_penalty_grads(variables, grads):
    """``grads`` (aligned with ``variables``) plus each regularized variable's penalty
    gradient; new arrays where something is added, the inputs are not modified."""
    out = list(grads)
    for i, v in enumerate(variables):
        reg = getattr(v, "regularizer", None)
        if reg is not None:
            g = gradient_of(reg, v.value, v.name)
            out[i] = g if out[i] is None else out[i] + g
    return out


# -- activity regularizers --------------------------------------------------------------------

# Keras's call context: the losses a layer reports are those of the latest outermost call (a
# model's forward, or an eager layer call); nested calls inside it add to the same list.
_call_id = 0
_depth = 0


@contextlib.contextmanager
def outer_call():
    """Marks a call: the outermost one starts a new set of activity losses."""
    global _call_id, _depth
    if _depth == 0:
        _call_id += 1
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1


def record(layer, value):
    """Add ``value`` to the activity losses of ``layer``'s current call."""
    if getattr(layer, "_losses_call", None) != _call_id:
        layer._activity_losses = []
        layer._losses_call = _call_id
    layer._activity_losses.append(value)


def _penalized(leaf):
    return isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"


def _batch_scale(leaf):
    # Keras divides by the output's batch size (divide_no_nan: 0 for an empty batch); a
    # scalar output is not divided
    if leaf.ndim == 0:
        return 1.0
    return 1.0 / leaf.shape[0] if leaf.shape[0] else 0.0


def record_activity(layer, regularizer, outputs):
    """Record ``regularizer``'s penalty of each float output (/ its batch size) for ``layer``."""
    for leaf in flatten(outputs):
        if _penalized(leaf):
            value = regularizer(leaf)
            record(layer, value * np.asarray(_batch_scale(leaf), np.asarray(value).dtype))


def add_activity_grads(layer, regularizer, outputs, d_outputs, what="activity_regularizer"):
    """``d_outputs`` (None = zeros, the nesting of ``outputs``) plus the gradients of the
    penalties :func:`record_activity` recorded for ``outputs``."""
    leaves = flatten(outputs)
    d_leaves = [None] * len(leaves) if d_outputs is None else flatten(d_outputs)
    out = []
    for leaf, d in zip(leaves, d_leaves):
        if _penalized(leaf):
            g = gradient_of(regularizer, leaf, f"{layer.name} {what}")
            g *= g.dtype.type(_batch_scale(leaf))
            d = g if d is None else d + g
        out.append(d)
    return pack_like(outputs, out) if isinstance(outputs, (list, tuple, dict)) else out[0]


class ActivityCache:
    """A layer's cache with the outputs its activity regularizer penalised."""

    __slots__ = ("inner", "outputs")

    def __init__(self, inner, outputs):
        self.inner, self.outputs = inner, outputs


def run_forward(layer, inputs, **kwargs):
    """``layer.forward`` plus its activity penalty (recorded; its gradient in run_backward)."""
    with outer_call():
        out, cache = layer.forward(inputs, **kwargs)
        reg = getattr(layer, "activity_regularizer", None)
        if reg is None:
            return out, cache
        record_activity(layer, reg, out)
        return out, ActivityCache(cache, out)


def run_backward(layer, cache, d_outputs):
    """``layer.backward`` of a :func:`run_forward` cache, activity gradients included."""
    if isinstance(cache, ActivityCache):
        from .base import PreActivationGrad  # base imports this module
        if isinstance(d_outputs, PreActivationGrad):  # the trainer never sends one here
            raise RuntimeError(f"[{layer.name}] a logits gradient cannot carry an activity "
                               "penalty's gradient")
        d_outputs = add_activity_grads(layer, layer.activity_regularizer, cache.outputs,
                                       d_outputs)
        cache = cache.inner
    return layer.backward(cache, d_outputs)


def has_activity(cache):
    return isinstance(cache, ActivityCache)


# -- layer.losses -------------------------------------------------------------------------------


def _children(layer):
    graph = getattr(layer, "_graph", None)
    return list(getattr(layer, "_sublayers", ())) + (list(graph.layers) if graph else [])


def _flatten_layers(layer):
    """The layer and every layer inside it (sublayers, a model's layers), each once, in Keras's
    order (each layer's sublayers right after it, last first: Keras's deque.extendleft)."""
    seen, out, todo = set(), [layer], _children(layer)
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        out.append(current)
        todo[:0] = _children(current)[::-1]
    return out


def layer_losses(layer):
    """Keras's ``layer.losses``: activity penalties of the latest call, then the penalties of
    the regularized trainable weights (current values)."""
    losses = []
    for sub in _flatten_layers(layer):
        losses.extend(getattr(sub, "_activity_losses", ()))
    losses.extend(weight_penalties(layer.trainable_weights))
    return losses
