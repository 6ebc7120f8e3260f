"""Keras ``Bidirectional``: a recurrent layer (SimpleRNN, LSTM, GRU or RNN of cells) and its
go_backwards copy, outputs merged.

Each direction is one kernel call forward and one backward. Weights are listed forward layer
first, then backward layer, as in Keras. With return_sequences the backward layer's output is
flipped back into input order before merging, and (as Keras forces) both directions use
zero_output_for_mask = return_sequences.
"""

import numpy as np

from ._regularization import run_backward, run_forward
from .base import Layer, serialize
from .recurrent import _RNN, _as_mask
from .rnn_cells import RNN

__all__ = ["Bidirectional"]

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _clone(layer, **overrides):
    config = layer.get_config()
    config.update(overrides)
    return type(layer).from_config(config)


def _n_states(layer):
    """How many entries follow the output with return_state (RNN of stacked cells: one per
    cell)."""
    if isinstance(layer, RNN):
        return len(layer.layers) if layer._stacked else len(layer.layers[0]._state_names)
    return len(layer._state_names)


def _units(layer):
    return layer.layers[-1].units if isinstance(layer, RNN) else layer.units


def _set_zero_output(layer, value):
    layer.zero_output_for_mask = value
    if isinstance(layer, RNN):  # the RNN's last layer produces its output
        layer.layers[-1].zero_output_for_mask = value


class Bidirectional(Layer):
    _nested_layer_keys = ("layer", "backward_layer")
    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, (_RNN, RNN)):
            raise ValueError(f"[Bidirectional] layer must be a SimpleRNN, LSTM, GRU or RNN "
                             f"instance, got {layer!r}")
        if backward_layer is not None and not isinstance(backward_layer, (_RNN, RNN)):
            raise ValueError(f"[Bidirectional] backward_layer must be a SimpleRNN, LSTM, GRU or "
                             f"RNN instance, got {backward_layer!r}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"[Bidirectional] merge_mode must be one of 'concat', 'sum', "
                             f"'mul', 'ave' or None, got {merge_mode!r}")
        base = layer.name[len("forward_"):] if layer.name.startswith("forward_") else layer.name
        self.forward_layer = _clone(layer, name=f"forward_{base}")
        if backward_layer is None:
            # as Keras 3: the copy always runs backwards, so a layer with go_backwards=True is
            # refused below (Keras 2 flipped it instead)
            self.backward_layer = _clone(layer, name=f"backward_{base}", go_backwards=True)
        else:
            self.backward_layer = backward_layer
        fw, bw = self.forward_layer, self.backward_layer
        if fw.go_backwards == bw.go_backwards:
            raise ValueError(f"[Bidirectional] the forward and backward layers must have "
                             f"different go_backwards, both have {fw.go_backwards}")
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(fw, attr) != getattr(bw, attr):
                raise ValueError(f"[Bidirectional] the forward and backward layers must have the "
                                 f"same {attr}, got {getattr(fw, attr)} and {getattr(bw, attr)}")
        if merge_mode in ("sum", "mul", "ave") and _units(fw) != _units(bw):
            raise ValueError(f"[Bidirectional] merge_mode={merge_mode!r} needs the forward and "
                             f"backward layers to have the same units, got {_units(fw)} and "
                             f"{_units(bw)}")
        for sub in (fw, bw):
            _set_zero_output(sub, sub.return_sequences)
        self.dtype = fw.dtype
        if self._declared_input_shape is None:
            # Keras 2 style Bidirectional(LSTM(8, input_shape=(T, I))) as a Sequential's first layer
            self._declared_input_shape = layer._declared_input_shape
        self.merge_mode = merge_mode
        self.stateful = fw.stateful
        self.return_sequences = fw.return_sequences
        self.return_state = fw.return_state
        self.track(fw)
        self.track(bw)
        self._initial_weights = weights

    @property
    def states(self):
        fw, bw = self.forward_layer.states, self.backward_layer.states
        return None if fw is None or bw is None else list(fw) + list(bw)

    def reset_states(self):
        if not self.stateful:
            raise AttributeError("[Bidirectional] reset_states needs a stateful layer")
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    def build(self, input_shape):
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)
        self.built = True
        if self._initial_weights:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape, **call_kwargs):
        out = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            out, states = out[0], list(out[1:])
        if self.merge_mode == "concat":
            out = tuple(out[:-1]) + (None if out[-1] is None else 2 * out[-1],)
            outs = [out]
        elif self.merge_mode is None:
            outs = [out, out]
        else:
            outs = [out]
        if self.return_state:
            return outs + states + states
        return outs if self.merge_mode is None else outs[0]

    def compute_mask(self, inputs, mask=None, **call_kwargs):
        mask = _as_mask(mask)
        out = mask if self.return_sequences else None
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            fw_masks = self.forward_layer.compute_mask(inputs, mask)
            bw_masks = self.backward_layer.compute_mask(inputs, mask)
            return outs + list(fw_masks[1:]) + list(bw_masks[1:])
        return outs if self.merge_mode is None else outs[0]

    @property
    def _token_op(self):
        """Truthy when both halves take an Embedding's TokenRows (see Graph)."""
        return bool(getattr(self.forward_layer, "_token_op", None)
                    and getattr(self.backward_layer, "_token_op", None))

    def forward(self, inputs, *, training=False, mask=None, initial_state=None):
        fw, bw = self.forward_layer, self.backward_layer
        fw_state = bw_state = None
        if initial_state is not None:
            if not isinstance(initial_state, (list, tuple)) or len(initial_state) % 2:
                got = (f"{len(initial_state)} arrays" if isinstance(initial_state, (list, tuple))
                       else type(initial_state).__name__)
                raise ValueError(f"[Bidirectional] initial_state must be a list of the forward "
                                 f"states followed by the backward states, got {got}")
            half = len(initial_state) // 2
            fw_state, bw_state = list(initial_state[:half]), list(initial_state[half:])
        # run_forward/run_backward: each direction's activity_regularizer, as Keras's sublayers
        y, fw_cache = run_forward(fw, inputs, training=training, mask=mask, initial_state=fw_state)
        y_rev, bw_cache = run_forward(bw, inputs, training=training, mask=mask,
                                      initial_state=bw_state)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        mode = self.merge_mode
        if mode == "concat":
            out = np.concatenate([y, y_rev], axis=-1)
        elif mode == "sum":
            out = y + y_rev
        elif mode == "ave":
            out = (y + y_rev) * np.asarray(0.5, y.dtype)
        elif mode == "mul":
            out = y * y_rev
        else:
            out = [y, y_rev]
        outs = out if mode is None else [out]
        if self.return_state:
            result = outs + states
        else:
            result = outs if mode is None else out
        keep = (y, y_rev) if mode == "mul" else None
        return result, (fw_cache, bw_cache, keep, y.shape[-1])

    def backward(self, cache, d_outputs):
        fw_cache, bw_cache, keep, units = cache
        fw, bw = self.forward_layer, self.backward_layer
        mode = self.merge_mode
        n_out = 2 if mode is None else 1
        if self.return_state or mode is None:
            d_list = list(d_outputs)
            d_merged, d_states = d_list[:n_out], d_list[n_out:]
        else:
            d_merged, d_states = [d_outputs], []
        n_states = _n_states(fw)
        if not d_states:
            d_states = [None] * (2 * n_states)
        if mode is None:
            dy, dy_rev = d_merged
        else:
            d = d_merged[0]
            if d is None:
                dy = dy_rev = None
            elif mode == "concat":
                dy, dy_rev = d[..., :units], d[..., units:]
            elif mode == "sum":
                dy = dy_rev = d
            elif mode == "ave":
                dy = dy_rev = d * np.asarray(0.5, d.dtype)
            else:  # mul
                y, y_rev = keep
                dy, dy_rev = d * y_rev, d * y
        if dy_rev is not None and self.return_sequences:
            dy_rev = dy_rev[:, ::-1]
        if self.return_state:
            d_fw = [dy] + d_states[:n_states]
            d_bw = [dy_rev] + d_states[n_states:]
        else:
            d_fw, d_bw = dy, dy_rev
        fw_args, fw_grads = run_backward(fw, fw_cache, d_fw)
        bw_args, bw_grads = run_backward(bw, bw_cache, d_bw)
        # Token inputs (TokenRows): both halves sent the table's gradient with their weights'.
        d_args = {"inputs": fw_args["inputs"] + bw_args["inputs"]} if "inputs" in fw_args else {}
        if "initial_state" in fw_args:
            d_args["initial_state"] = list(fw_args["initial_state"]) + list(
                bw_args["initial_state"])
        return d_args, fw_grads + bw_grads

    def get_config(self):
        config = super().get_config()
        # the wrapped layer under its own name, as Keras (the forward copy is named forward_*)
        layer = serialize(self.forward_layer)
        layer["config"]["name"] = layer["config"]["name"][len("forward_"):]
        config.update(merge_mode=self.merge_mode, layer=layer,
                      backward_layer=serialize(self.backward_layer))
        return config
