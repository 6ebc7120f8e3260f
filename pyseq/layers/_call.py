"""How ``layer(...)`` runs: eagerly on arrays, or symbolically on :class:`SymbolicTensor` s.

A symbolic call builds the layer from the input shapes, asks ``compute_output_shape`` for the
output shapes and records a :class:`Node` (the layer, its call arguments with tensors in place,
its output tensors); :mod:`pyseq.models` runs those nodes in order and backward in reverse.

An eager call on constant arrays returns :class:`TracedArray` s that remember the call, so that
a layer applied to a constant inside a functional graph (a learned position embedding over
``np.arange(L)``) becomes a node of the graph when its result meets a symbolic tensor: the
model then recomputes it on every step and trains its weights.
"""

import inspect

import numpy as np

# --------------------------------------------------------------------------------------------
# nested structures (lists, tuples, dicts; anything else is a leaf)
# --------------------------------------------------------------------------------------------


def map_structure(fn, x):
    if isinstance(x, list):
        return [map_structure(fn, v) for v in x]
    if isinstance(x, tuple) and not _is_shape(x):
        return tuple(map_structure(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    return fn(x)


def flatten(x, out=None):
    out = [] if out is None else out
    if isinstance(x, (list, tuple)) and not _is_shape(x):
        for v in x:
            flatten(v, out)
    elif isinstance(x, dict):
        for v in x.values():
            flatten(v, out)
    else:
        out.append(x)
    return out


def pack_like(structure, flat):
    """Rebuild ``structure``'s nesting from the leaves in ``flat`` (consumed in order)."""
    it = iter(flat)
    return map_structure(lambda _: next(it), structure)


def _is_shape(x):
    # A tuple of ints/None is a shape (a leaf), not a nesting level; an empty tuple too.
    return isinstance(x, tuple) and all(d is None or isinstance(d, (int, np.integer)) for d in x)


def is_single_shape(shape):
    return _is_shape(shape)


# --------------------------------------------------------------------------------------------
# symbolic tensors and nodes
# --------------------------------------------------------------------------------------------


class SymbolicTensor:
    """A placeholder in a functional graph: shape (batch axis None), dtype, and the node that
    makes it. ``+``, ``-`` and ``*`` create Add, Subtract and Multiply layers."""

    __array_ufunc__ = None  # NumPy defers `array + tensor` to __radd__

    def __init__(self, shape, dtype, node=None, index=0, name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name = name or (node.layer.name if node is not None else "tensor")

    @property
    def ndim(self):
        return len(self.shape)

    def _merge(self, cls_name, a, b):
        from . import merging
        # the merge computes in the tensor's float dtype (float64 graphs stay float64)
        dtype = self.dtype if self.dtype in ("float32", "float64") else None
        return getattr(merging, cls_name)(dtype=dtype)([a, b])

    def __add__(self, other):
        return self._merge("Add", self, other)

    def __radd__(self, other):
        return self._merge("Add", other, self)

    def __sub__(self, other):
        return self._merge("Subtract", self, other)

    def __rsub__(self, other):
        return self._merge("Subtract", other, self)

    def __mul__(self, other):
        return self._merge("Multiply", self, other)

    def __rmul__(self, other):
        return self._merge("Multiply", other, self)

    def __len__(self):
        raise TypeError("a SymbolicTensor has no length; use .shape")

    def __iter__(self):
        raise TypeError(f"SymbolicTensor {self.name} is not iterable (shape {self.shape}); a layer "
                        "with several outputs returns a list of tensors")

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of a layer in a graph: argument templates with tensors in place, outputs."""

    def __init__(self, layer, inputs, kwargs, training=None):
        self.layer = layer
        self.inputs = inputs
        self.kwargs = kwargs
        self.training = training
        self.outputs = []
        self.multi = False
        self.out_structure = None
        seen, tensors = set(), []
        for leaf in flatten(inputs) + flatten(list(kwargs.values())):
            if isinstance(leaf, SymbolicTensor) and id(leaf) not in seen:
                seen.add(id(leaf))
                tensors.append(leaf)
        self.input_tensors = tensors
        self.tensor_kwargs = [k for k, v in kwargs.items()
                              if any(isinstance(t, SymbolicTensor) for t in flatten(v))]

    @property
    def parent_nodes(self):
        return [t.node for t in self.input_tensors if t.node is not None]

    @property
    def is_input(self):
        return not self.input_tensors and getattr(self.layer, "_is_input_layer", False)


def contains_symbolic(x):
    return any(isinstance(leaf, SymbolicTensor) for leaf in flatten(x))


def _shape_leaf(x):
    if isinstance(x, SymbolicTensor):
        return x.shape
    if isinstance(x, np.ndarray):
        return tuple(x.shape)
    if isinstance(x, (int, float, np.number)) and not isinstance(x, bool):
        return ()  # a scalar constant (``tensor * 2.0``)
    return x


def _symbolize(x):
    """A traced eager result becomes the output tensor of a (constant) node."""
    if isinstance(x, TracedArray) and x._pyseq_call is not None:
        return x._pyseq_call.symbolic(x._pyseq_index)
    return x


def output_dtype(layer):
    return getattr(layer, "output_dtype", None) or layer.dtype


def symbolic_call(layer, inputs, kwargs, training=None):
    inputs = map_structure(_symbolize, inputs)
    kwargs = {k: map_structure(_symbolize, v) for k, v in kwargs.items()}
    input_shape = map_structure(_shape_leaf, inputs)
    call_shapes = {k: map_structure(_shape_leaf, v) for k, v in kwargs.items()
                   if any(isinstance(t, (SymbolicTensor, np.ndarray)) for t in flatten(v))}
    layer._maybe_build(input_shape, call_shapes)
    shape_kwargs = {k: call_shapes.get(k, v) for k, v in kwargs.items()}
    out_shape = layer.compute_output_shape(input_shape, **shape_kwargs)
    node = Node(layer, inputs, kwargs, training)
    dtypes = output_dtype(layer)
    if is_single_shape(out_shape):
        out = SymbolicTensor(out_shape, dtypes if isinstance(dtypes, str) else dtypes[0], node, 0)
        node.outputs = [out]
        node.out_structure = out
    else:
        flat_shapes = flatten(out_shape)
        if isinstance(dtypes, str):
            dtypes = [dtypes] * len(flat_shapes)
        tensors = [SymbolicTensor(s, d, node, i) for i, (s, d) in
                   enumerate(zip(flat_shapes, dtypes))]
        node.outputs = tensors
        node.multi = True
        out = pack_like(out_shape, tensors)
        node.out_structure = out
    if not hasattr(layer, "_inbound_nodes"):
        layer._inbound_nodes = []
    layer._inbound_nodes.append(node)
    return out


# --------------------------------------------------------------------------------------------
# masks passed by keyword (value -> value_mask), as Keras fills them in from tensors' masks
# --------------------------------------------------------------------------------------------

_FORWARD_PARAMS = {}


def forward_parameters(layer):
    cls = type(layer)
    names = _FORWARD_PARAMS.get(cls)
    if names is None:
        names = frozenset(p.name for p in inspect.signature(cls.forward).parameters.values()
                          if p.kind is not p.VAR_KEYWORD)
        _FORWARD_PARAMS[cls] = names
    return names


def keyword_masks(layer, kwargs, mask_of):
    """``{name_mask: mask}`` for tensor keywords whose mask is known and that ``forward`` names."""
    extra = {}
    names = forward_parameters(layer)
    for key, value in kwargs.items():
        mname = f"{key}_mask"
        if mname in names and mname not in kwargs:
            m = mask_of(value)
            if m is not None:
                extra[mname] = m
    return extra


def structure_mask(structure, mask_of):
    """The masks of a (possibly nested) input, or None when none of its tensors has one."""
    masks = map_structure(mask_of, structure)
    return masks if any(m is not None for m in flatten(masks)) else None


# --------------------------------------------------------------------------------------------
# eager calls
# --------------------------------------------------------------------------------------------


class TracedArray(np.ndarray):
    """An eager layer output remembering its call (``_pyseq_call``) and Keras mask."""

    _pyseq_call = None
    _pyseq_index = 0
    _keras_mask = None

    def __repr__(self):
        return repr(self.view(np.ndarray))


class _EagerCall:
    def __init__(self, layer, inputs, kwargs):
        self.layer, self.inputs, self.kwargs = layer, inputs, kwargs
        self._symbolic = None

    def symbolic(self, index):
        if self._symbolic is None:
            out = symbolic_call(self.layer, self.inputs, self.kwargs)
            self._symbolic = flatten(out)
        return self._symbolic[index]


def _eager_leaf(x):
    if x is None or isinstance(x, (str, bool, int, float, SymbolicTensor)):
        return x
    return np.asarray(x) if not isinstance(x, np.ndarray) else x


def _all_numbers(x):
    """True for a (nested) list or tuple whose leaves are all Python or NumPy numbers."""
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and all(_all_numbers(t) for t in x)
    return isinstance(x, (int, float, np.number)) and not isinstance(x, (bool, np.bool_))


def _leaf_mask(x):
    return getattr(x, "_keras_mask", None)


def call_layer(layer, inputs, *args, training=None, mask=None, **kwargs):
    """``layer(inputs, **kwargs)``: symbolic when any argument is a SymbolicTensor, else eager."""
    if args:
        raise TypeError(f"[{type(layer).__name__}] takes one positional input; pass the others "
                        f"by keyword, got {1 + len(args)} positional arguments")
    if contains_symbolic(inputs) or contains_symbolic(kwargs):
        if mask is not None:
            raise ValueError(f"[{type(layer).__name__}] in a functional graph masks come from the "
                             "tensors (Embedding(mask_zero=True), Masking); do not pass mask=")
        return symbolic_call(layer, inputs, kwargs, training)
    if inputs is None or isinstance(inputs, str):
        raise TypeError(f"[{layer.name}] expects an array (or a list of arrays), got "
                        f"{type(inputs).__name__}")
    if not layer._takes_list and isinstance(inputs, (list, tuple)) and _all_numbers(inputs):
        inputs = np.asarray(inputs)  # nested lists of numbers are one array, as in Keras
    inputs = map_structure(_eager_leaf, inputs)
    kwargs = {k: map_structure(_eager_leaf, v) if isinstance(v, (list, tuple, np.ndarray))
              else v for k, v in kwargs.items()}
    if mask is None:
        mask = structure_mask(inputs, _leaf_mask)
    call_shapes = {k: map_structure(_shape_leaf, v) for k, v in kwargs.items()
                   if any(isinstance(t, np.ndarray) for t in flatten(v))}
    layer._maybe_build(map_structure(_shape_leaf, inputs), call_shapes)
    extra = keyword_masks(layer, kwargs, lambda v: structure_mask(v, _leaf_mask))
    training = bool(training)
    from ._regularization import run_forward  # records activity penalties (layer.losses)
    outputs, _ = run_forward(layer, inputs, training=training, mask=mask, **kwargs, **extra)
    out_mask = layer.compute_mask(inputs, mask, **kwargs)
    call = _EagerCall(layer, inputs, kwargs)
    flat = flatten(outputs)
    flat_masks = flatten(out_mask) if isinstance(out_mask, (list, tuple)) else [out_mask]
    wrapped = []
    for i, arr in enumerate(flat):
        if isinstance(arr, np.ndarray):
            arr = arr.view(TracedArray)
            arr._pyseq_call, arr._pyseq_index = call, i
            arr._keras_mask = flat_masks[i] if i < len(flat_masks) else None
        wrapped.append(arr)
    return pack_like(outputs, wrapped)
