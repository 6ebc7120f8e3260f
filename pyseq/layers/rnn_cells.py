"""Keras's cell API over the fused recurrent layers: ``SimpleRNNCell``, ``LSTMCell``,
``GRUCell``, ``StackedRNNCells`` and ``RNN(cell)``.

A cell holds the arguments and weights of one recurrent step; ``RNN(cell)`` runs it over a
sequence as the fused layer of the same kind (``RNN(LSTMCell(n))`` is ``LSTM(n)``: the same
weights in the same order, one kernel call per sequence). A cell called on its own,
``cell(x_t, states)``, runs that layer over one step. Custom (user-written) cells are not
supported: they would need a per-step Python loop with autodiff.
"""

import numpy as np

from .base import Layer, serialize
from .recurrent import GRU, LSTM, SimpleRNN

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "RNN"]

_SEQUENCE_OPTIONS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                     "zero_output_for_mask")


class _StepLayer(Layer):
    """A layer called one step at a time: layer(x_t, states) -> (output, new_states)."""

    def __call__(self, inputs, states=None, **kwargs):
        if states is not None:
            kwargs["states"] = states
        return super().__call__(inputs, **kwargs)


class _Cell(_StepLayer):
    """A recurrent step: the wrapped layer (``_layer_cls``) holds the weights."""

    _layer_cls = None

    def __init__(self, units, **kwargs):
        layer_kwargs = {k: kwargs.pop(k) for k in list(kwargs)
                        if k not in ("name", "trainable", "dtype")}
        super().__init__(**kwargs)
        self._args = dict(units=units, **layer_kwargs)
        self.step_layer = self.track(self._make(return_state=True, name=self.name))
        self.units = self.step_layer.units

    def _make(self, **options):
        return self._layer_cls(**self._args, dtype=self.dtype, **options)

    @property
    def state_size(self):
        n = len(self._layer_cls._state_names)
        return [self.units] * n if n > 1 else self.units

    @property
    def output_size(self):
        return self.units

    def get_initial_state(self, batch_size=None):
        return self.step_layer.get_initial_state(batch_size)

    def get_config(self):
        config = self.step_layer.get_config()
        for k in _SEQUENCE_OPTIONS:
            config.pop(k, None)
        config.update(Layer.get_config(self))
        return config


    def build(self, input_shape, states_shape=None):
        shape = tuple(input_shape)
        if len(shape) != 2:
            raise ValueError(f"[{type(self).__name__}] a step takes inputs of rank 2 "
                             f"(batch, features), got shape {shape}")
        self.step_layer._maybe_build((shape[0], 1, shape[1]))
        self.built = True

    def compute_output_shape(self, input_shape, **kwargs):
        B = tuple(input_shape)[0]
        return [(B, self.units), [(B, self.units)] * len(self._layer_cls._state_names)]

    def forward(self, inputs, *, training=False, mask=None, states=None):
        x = np.asarray(inputs)
        if x.ndim != 2:
            raise ValueError(f"[{type(self).__name__}] a step takes inputs of rank 2 "
                             f"(batch, features), got shape {x.shape}")
        if states is not None and not isinstance(states, (list, tuple)):
            states = [states]
        outs, cache = self.step_layer.forward(x[:, None, :], training=training,
                                              initial_state=states)
        return [outs[0], list(outs[1:])], (cache, x.shape)

    def backward(self, cache, d_outputs):
        cache, shape = cache
        d_out, d_states = d_outputs if d_outputs is not None else (None, None)
        d_states = list(d_states) if d_states is not None else \
            [None] * len(self._layer_cls._state_names)
        d_args, grads = self.step_layer.backward(cache, [d_out] + d_states)
        out = {}
        if d_args.get("inputs") is not None:
            out["inputs"] = d_args["inputs"].reshape(shape)
        if "initial_state" in d_args:
            out["states"] = d_args["initial_state"]
        return out, grads


class SimpleRNNCell(_Cell):
    _layer_cls = SimpleRNN


class LSTMCell(_Cell):
    _layer_cls = LSTM


class GRUCell(_Cell):
    _layer_cls = GRU


class StackedRNNCells(_StepLayer):
    """Cells applied in turn at each step (inside ``RNN``); weights in the cells' order.
    Called on its own, ``stack(x_t, states)`` runs one step: states one entry per cell (a list,
    or one array for a one-state cell), returned in the same nesting (Keras's)."""

    _nested_layer_keys = ("cells",)

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells or not all(isinstance(c, _Cell) for c in cells):
            raise ValueError(f"[StackedRNNCells] cells must be SimpleRNNCell, LSTMCell or "
                             f"GRUCell instances, got {cells!r}")
        self.cells = [self.track(c) for c in cells]


    def build(self, input_shape, states_shape=None):
        shape = tuple(input_shape)
        for c in self.cells:
            c._maybe_build(shape)
            shape = (shape[0], c.units)
        self.built = True

    def _split(self, states):
        """Each cell's states as a list, and whether they came as one (else one array)."""
        if states is None:
            return [(None, True)] * len(self.cells)
        if not isinstance(states, (list, tuple)) or len(states) != len(self.cells):
            got = len(states) if isinstance(states, (list, tuple)) else type(states).__name__
            raise ValueError(f"[StackedRNNCells] states must hold one entry per cell "
                             f"({len(self.cells)}), got {got}")

        def single(v):  # one array, or one shape (a tuple of ints/None) in a symbolic call
            return not isinstance(v, (list, tuple)) or all(
                d is None or isinstance(d, (int, np.integer)) for d in v)
        return [([v], False) if single(v) else (list(v), True) for v in states]

    def compute_output_shape(self, input_shape, states=None, **kwargs):
        B = tuple(input_shape)[0]  # states: the states' shapes, for their nesting
        states = [[(B, c.units)] * len(c._layer_cls._state_names) if is_list else (B, c.units)
                  for c, (_, is_list) in zip(self.cells, self._split(states))]
        return [(B, self.cells[-1].units), states[0] if len(states) == 1 else states]

    def forward(self, inputs, *, training=False, mask=None, states=None):
        x = inputs
        caches, new_states = [], []
        for c, (s, is_list) in zip(self.cells, self._split(states)):
            (x, ns), cache = c.forward(x, training=training, states=s)
            caches.append((cache, is_list))
            new_states.append(ns if is_list else ns[0])
        out_states = new_states[0] if len(new_states) == 1 else new_states
        return [x, out_states], (caches, states is not None)

    def backward(self, cache, d_outputs):
        d_out, d_states = d_outputs if d_outputs is not None else (None, None)
        n = len(self.cells)
        if n == 1:
            d_states = [d_states]
        elif d_states is None:
            d_states = [None] * n
        caches, given = cache
        grads, d_init = [], [None] * n
        for i in range(n - 1, -1, -1):
            step_cache, is_list = caches[i]
            ds = d_states[i]
            if ds is not None and not isinstance(ds, (list, tuple)):
                ds = [ds]
            d_args, g = self.cells[i].backward(step_cache, (d_out, ds))
            grads = g + grads
            d_out = d_args.get("inputs")
            d_init[i] = d_args.get("states")
            if d_init[i] is not None and not is_list:
                d_init[i] = d_init[i][0]
        out = {} if d_out is None else {"inputs": d_out}
        if given:
            out["states"] = d_init
        return out, grads

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return self.cells[-1].output_size

    def get_initial_state(self, batch_size=None):
        return [c.get_initial_state(batch_size) for c in self.cells]

    def get_config(self):
        config = super().get_config()
        config["cells"] = [serialize(c) for c in self.cells]
        return config


class RNN(Layer):
    """Keras ``RNN(cell)`` for the built-in cells: the fused layer of each cell over the
    sequence (several cells: one after the other, each seeing the previous one's outputs and
    the mask). With return_state the states follow the output: flat for one cell, one list
    per cell for several (Keras's nesting)."""

    _nested_layer_keys = ("cell",)

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if isinstance(cell, StackedRNNCells):
            cells, self._stacked = cell.cells, True
        elif isinstance(cell, _Cell):
            cells, self._stacked = [cell], False
        else:
            raise ValueError(f"[RNN] cell must be a SimpleRNNCell, LSTMCell or GRUCell (or a "
                             f"list of them); custom cells are not supported by pyseq, got "
                             f"{cell!r}")
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful = bool(go_backwards), bool(stateful)
        self.unroll, self.zero_output_for_mask = bool(unroll), bool(zero_output_for_mask)
        # Several cells run as layers in turn over the (already reversed, for go_backwards)
        # sequence; each keeps the whole sequence except the last, which returns what RNN does.
        self.layers = []
        for i, c in enumerate(cells):
            last = i == len(cells) - 1
            layer = c._make(return_sequences=self.return_sequences if last else True,
                            return_state=True,
                            go_backwards=self.go_backwards and not self._stacked,
                            stateful=self.stateful, zero_output_for_mask=(
                                self.zero_output_for_mask if last else False),
                            name=c.name)
            c.step_layer = layer      # the cell's weights are the layer's
            c._sublayers = [layer]
            self.layers.append(self.track(layer))

    @property
    def states(self):
        return [s for layer in self.layers for s in (layer.states or [])]

    @property
    def state_size(self):
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def get_initial_state(self, batch_size):
        return list(self.cell.get_initial_state(batch_size))

    def reset_states(self):
        for layer in self.layers:
            layer.reset_states()

    reset_state = reset_states

    def build(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        for layer in self.layers:
            layer._maybe_build(shape)
            shape = (shape[0], shape[1], layer.units)
        self.built = True

    def compute_output_shape(self, input_shape, **kwargs):
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        B, T = shape[0], shape[1]
        out = (B, T, self.layers[-1].units) if self.return_sequences else \
            (B, self.layers[-1].units)
        if not self.return_state:
            return out
        states = [[(B, layer.units)] * len(layer._state_names) for layer in self.layers]
        if self._stacked:  # Keras's symbolic nesting: a one-state cell's state is not a list
            return [out] + [s if len(s) > 1 else s[0] for s in states]
        return [out] + states[0]

    def compute_mask(self, inputs, mask=None, **kwargs):
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out = mask if self.return_sequences else None
        if not self.return_state:
            return out
        states = [[None] * len(layer._state_names) for layer in self.layers]
        return [out] + (states if self._stacked else states[0])

    def _split_states(self, initial_state):
        if initial_state is None:
            return [None] * len(self.layers)
        if not self._stacked:
            return [initial_state]
        if len(initial_state) != len(self.layers):
            raise ValueError(f"[RNN] initial_state needs one list of states per cell "
                             f"({len(self.layers)}), got {len(initial_state)}")
        return list(initial_state)

    def forward(self, inputs, *, training=False, mask=None, initial_state=None):
        x = inputs
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        flip = self.go_backwards and self._stacked
        if flip:  # the whole stack runs over the reversed sequence
            x = np.asarray(x)[:, ::-1]
            mask = None if mask is None else np.asarray(mask)[:, ::-1]
        caches, states = [], []
        for layer, init in zip(self.layers, self._split_states(initial_state)):
            outs, cache = layer.forward(x, training=training, mask=mask, initial_state=init)
            caches.append(cache)
            x = outs[0]
            states.append(list(outs[1:]))
        result = x
        if self.return_state:
            result = [x] + (states if self._stacked else states[0])
        return result, (caches, flip, initial_state is not None)

    def backward(self, cache, d_outputs):
        caches, flip, given_state = cache
        n = len(self.layers)
        if self.return_state:
            d_out = d_outputs[0]
            d_states = list(d_outputs[1:]) if self._stacked else [list(d_outputs[1:])]
        else:
            d_out, d_states = d_outputs, [None] * n
        grads, d_init = [], []
        d_seq = d_out
        for i in range(n - 1, -1, -1):
            layer = self.layers[i]
            ds = d_states[i] if d_states[i] is not None else [None] * len(layer._state_names)
            if not isinstance(ds, (list, tuple)):  # a one-state cell in a model: not nested
                ds = [ds]
            d_args, g = layer.backward(caches[i], [d_seq] + list(ds))
            grads = g + grads
            d_seq = d_args.get("inputs")
            d_init.insert(0, d_args.get("initial_state"))
        if flip and d_seq is not None:
            d_seq = d_seq[:, ::-1]
        out = {} if d_seq is None else {"inputs": d_seq}
        if given_state:
            out["initial_state"] = d_init if self._stacked else d_init[0]
        return out, grads

    def get_config(self):
        config = super().get_config()
        config.update(return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful,
                      unroll=self.unroll, zero_output_for_mask=self.zero_output_for_mask,
                      cell=serialize(self.cell))
        return config
