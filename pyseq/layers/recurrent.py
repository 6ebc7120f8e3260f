"""SimpleRNN, LSTM and GRU: Keras's recurrent layers, one fused kernel call per sequence.

Each layer runs ``ops.<cell>_forward`` over the whole sequence and ``ops.<cell>_backward`` in
its backward. Activations the kernels do not implement run on the NumPy path in
:mod:`._rnn_numpy` (same semantics, per-step Python).

Dropout follows Keras: one mask per batch (the same at every step), drawn from the layer's
seeded NumPy generator. The input mask multiplies x before the kernel (Keras's fused path); the
recurrent mask goes to the kernel's ``recurrent_dropout_mask``. With recurrent_dropout Keras
draws one mask per gate; here all gates share one, so each gate sees the same distribution as
in Keras (the gates' masks are correlated instead of independent).
"""

import numpy as np

from .. import activations as _activations
from .. import ops
from .._random import seeded_rng
from . import _rnn_numpy
from . import _regularization as _reg
from ._keras_args import pop_keras_only
from .base import Layer
from .embedding import TokenRows

__all__ = ["SimpleRNN", "LSTM", "GRU"]


def _as_mask(mask):
    """A Keras mask (None, array, or a list whose first entry is the sequence's) as (B,T) bool."""
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    return None if mask is None else np.asarray(mask, dtype=bool)


def _rate(layer, name, value):
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"[{layer}] {name} must be in [0, 1), got {value}")
    return value


class _RNN(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, weights, states, masks, dropout."""

    supports_masking = True
    _gates = 1
    _state_names = ("h",)
    _fused_activations = ("tanh",)
    _fused_recurrent = ("sigmoid",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        opts = _reg.pop_weight_options(type(self).__name__, kwargs,
                                       ("kernel", "recurrent", "bias"))
        super().__init__(**pop_keras_only(type(self).__name__, kwargs))
        _reg.set_weight_options(self, opts, lists_activity=True)
        cls = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"[{cls}] units must be a positive integer, got {units!r}")
        self.units = int(units)
        try:
            self.activation = _activations.get(activation)
            self.recurrent_activation = _activations.get(recurrent_activation)
        except ValueError as exc:
            raise ValueError(f"[{cls}] {exc}") from None
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.dropout = _rate(cls, "dropout", dropout)
        self.recurrent_dropout = _rate(cls, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self._rng = seeded_rng(cls, seed)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras compatibility; the kernel never unrolls
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None
        self._input_features = None

    # -- weights and shapes ----------------------------------------------------------------
    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        cls = type(self).__name__
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        if not isinstance(input_shape, tuple) or not all(
                d is None or isinstance(d, (int, np.integer)) for d in input_shape):
            raise TypeError(f"[{cls}] expects an array of shape (batch, timesteps, features), "
                            f"got {input_shape!r}")
        if len(input_shape) != 3:
            raise ValueError(f"[{cls}] expects inputs of rank 3 (batch, timesteps, features), "
                             f"got shape {input_shape}")
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"[{cls}] the feature axis of the input must be known, "
                             f"got shape {input_shape}")
        self._input_features = int(features)
        G, H = self._gates, self.units
        self.kernel = self.add_weight("kernel", (features, G * H), self.kernel_initializer,
                                      options="kernel")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (H, G * H),
                                                self.recurrent_initializer, options="recurrent")
        self.bias = (self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                     options="bias")
                     if self.use_bias else None)
        if self.stateful:
            if input_shape[0] is None:
                raise ValueError(f"[{cls}] stateful=True needs a fixed batch size: give the "
                                 f"input a batch_shape, got shape {input_shape}")
            self.reset_states(int(input_shape[0]))
        self.built = True

    def compute_output_shape(self, input_shape, **call_kwargs):
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        B, T = input_shape[0], input_shape[1]
        out = (B, T, self.units) if self.return_sequences else (B, self.units)
        if self.return_state:
            return [out] + [(B, self.units) for _ in self._state_names]
        return out

    def compute_mask(self, inputs, mask=None, **call_kwargs):
        out = _as_mask(mask) if self.return_sequences else None
        if self.return_state:
            return [out] + [None for _ in self._state_names]
        return out

    def reset_states(self, batch_size=None):
        """Zero a stateful layer's states (Keras ``reset_states``)."""
        if not self.stateful:
            return
        if batch_size is None:
            if self.states is None:
                return
            batch_size = self.states[0].shape[0]
        self.states = [np.zeros((batch_size, self.units), self.dtype) for _ in self._state_names]

    reset_state = reset_states

    @property
    def state_size(self):
        return [self.units] * len(self._state_names)

    def get_initial_state(self, batch_size):
        """Zero states, one (batch_size, units) array per state (Keras)."""
        return [np.zeros((batch_size, self.units), self.dtype) for _ in self._state_names]

    # -- the fused call or the NumPy path --------------------------------------------------
    def _fused(self):
        return (self.activation.name in self._fused_activations
                and self.recurrent_activation.name in self._fused_recurrent)

    def _run_forward(self, x, states, mask, rd):
        raise NotImplementedError

    # Token inputs (an Embedding's TokenRows): the layers fold the table into the input
    # projection when that is cheaper, i.e. the table has at most half as many rows as the batch
    # has steps (ops.<cell>_forward_tokens). Input dropout needs the formed rows.
    _token_op = None  # the name of ops.<cell>_forward_tokens (ids, table, *weights, ...)

    def _folds(self, tokens, training):
        V, rows = tokens.table.shape[0], tokens.ids.size
        return (self._token_op is not None and self._fused() and 2 * V <= rows
                and tokens.table.dtype == self.dtype and not (training and self.dropout > 0))

    def _token_options(self):
        return {}

    def _run_forward_tokens(self, tokens, states, mask, rd):
        out = getattr(ops, self._token_op)(
            tokens.ids, tokens.table, self.kernel.value, self.recurrent_kernel.value, _bias(self),
            *states, mask=mask, reverse=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask, recurrent_dropout_mask=rd,
            **self._token_options())
        *outputs, saved = out
        return outputs[0], list(outputs[1:]), (True, saved)

    def _run_backward(self, dy, dstates, saved):
        raise NotImplementedError

    def _dropout_mask(self, shape, rate):
        keep = self._rng.random(shape) >= rate
        return keep.astype(self.dtype) / np.asarray(1.0 - rate, self.dtype)

    def forward(self, inputs, *, training=False, mask=None, initial_state=None):
        cls = type(self).__name__
        tokens = emb_saved = None
        if isinstance(inputs, TokenRows):
            tokens = inputs
            x = None
            if not self._folds(tokens, training):
                x, emb_saved = tokens.gather()
        else:
            x = inputs
        shape = tokens.shape if x is None else np.shape(x)
        if x is not None:
            if np.asarray(x).dtype.kind not in "fiub":
                raise TypeError(f"[{cls}] expects numeric inputs, got dtype "
                                f"{np.asarray(x).dtype}")
            x = np.asarray(x, dtype=self.dtype)
        if len(shape) != 3:
            raise ValueError(f"[{cls}] expects inputs of rank 3 (batch, timesteps, features), "
                             f"got shape {shape}")
        if shape[2] != self._input_features:
            raise ValueError(f"[{cls}] was built for {self._input_features} input features, "
                             f"got inputs of shape {shape}")
        B = shape[0]
        mask = _as_mask(mask)
        given_state = initial_state is not None
        if given_state:
            if not isinstance(initial_state, (list, tuple)):
                initial_state = [initial_state]
            if len(initial_state) != len(self._state_names):
                raise ValueError(f"[{cls}] initial_state must hold {len(self._state_names)} "
                                 f"array(s), got {len(initial_state)}")
            states = [np.asarray(s, dtype=self.dtype) for s in initial_state]
            for s in states:
                if s.shape != (B, self.units):
                    raise ValueError(f"[{cls}] each initial state must be (batch, units) = "
                                     f"{(B, self.units)}, got {s.shape}")
        elif self.stateful:
            if self.states is None or self.states[0].shape[0] != B:
                expected = None if self.states is None else self.states[0].shape[0]
                raise ValueError(f"[{cls}] is stateful with batch size {expected}, got inputs "
                                 f"of batch size {B}")
            states = self.states
        else:
            states = [None] * len(self._state_names)
        dp = rd = None
        if training and self.dropout > 0:
            dp = self._dropout_mask((B, x.shape[2]), self.dropout)
            x = x * dp[:, None, :]
        if training and self.recurrent_dropout > 0:
            rd = self._dropout_mask((B, self.units), self.recurrent_dropout)
        if B == 0:  # Keras runs an empty batch; the kernels need at least one row
            y = np.zeros((0, shape[1], self.units), self.dtype)
            new_states = [np.zeros((0, self.units), self.dtype) for _ in self._state_names]
            saved = None
        elif x is None:
            y, new_states, saved = self._run_forward_tokens(tokens, states, mask, rd)
        else:
            y, new_states, saved = self._run_forward(x, states, mask, rd)
        if self.stateful:
            self.states = list(new_states)
        last = -1 if not self.go_backwards else 0
        # The last output equals h_T except where it was zeroed (zero_output_for_mask) or where
        # a row with a non-zero initial state has no valid step (its output stays zero, Keras).
        last_from_y = self.zero_output_for_mask or (
            mask is not None and states[0] is not None and not mask.any(axis=1).all())
        if self.return_sequences:
            out = y[:, ::-1] if self.go_backwards else y
        elif last_from_y:
            out = y[:, last]
        else:
            out = new_states[0]
        outputs = [out] + list(new_states) if self.return_state else out
        cache = (saved, dp, given_state, y.shape, last, last_from_y, tokens, emb_saved)
        return outputs, cache

    def backward(self, cache, d_outputs):
        saved, dp, given_state, y_shape, last, last_from_y, tokens, emb_saved = cache
        if self.return_state:
            d_out, d_states = d_outputs[0], list(d_outputs[1:])
        else:
            d_out, d_states = d_outputs, [None] * len(self._state_names)
        dy = None
        if d_out is not None:
            d_out = np.asarray(d_out, dtype=self.dtype)
            if self.return_sequences:
                dy = d_out[:, ::-1] if self.go_backwards else d_out
            elif last_from_y:
                dy = np.zeros(y_shape, self.dtype)
                dy[:, last] = d_out
            else:
                d_states[0] = d_out if d_states[0] is None else d_states[0] + d_out
        if saved is None:  # an empty batch: every gradient is zero
            dx = np.zeros(tuple(y_shape[:2]) + (self._input_features,), self.dtype)
            dk, drk = np.zeros_like(self.kernel.value), np.zeros_like(self.recurrent_kernel.value)
            db = None if self.bias is None else np.zeros_like(self.bias.value)
            d_init = [np.zeros((0, self.units), self.dtype) for _ in self._state_names]
        else:
            dx, dk, drk, db, d_init = self._run_backward(dy, d_states, saved)
        if dp is not None:
            dx = dx * dp[:, None, :]
        grads = [(self.kernel, dk), (self.recurrent_kernel, drk)]
        if self.use_bias:
            grads.append((self.bias, db))
        d_args = {"inputs": dx}
        if tokens is not None:  # the table's gradient goes straight to the Embedding's weight
            grads += (tokens.table_grads(d_rows=dx, saved=emb_saved) if emb_saved is not None
                      else tokens.table_grads(dx))
            d_args = {}
        if given_state:
            d_args["initial_state"] = list(d_init)
        return d_args, grads

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation.name,
                      recurrent_activation=self.recurrent_activation.name,
                      use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
                      recurrent_initializer=self.recurrent_initializer,
                      bias_initializer=self.bias_initializer, dropout=self.dropout,
                      recurrent_dropout=self.recurrent_dropout, seed=self.seed,
                      return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful,
                      unroll=self.unroll, zero_output_for_mask=self.zero_output_for_mask)
        return config


def _bias(layer):
    return None if layer.bias is None else layer.bias.value


class LSTM(_RNN):
    """Keras ``LSTM``: gates i, f, c, o; weights kernel (I,4H), recurrent_kernel (H,4H), bias."""

    _gates = 4
    _state_names = ("h", "c")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        from .. import initializers
        base = initializers.get(self.bias_initializer)
        H = self.units

        def init(shape, dtype="float32"):
            # Keras: the forget gate's bias starts at one, the others from bias_initializer.
            return np.concatenate([base((H,), dtype=dtype), np.ones(H, dtype),
                                   base((2 * H,), dtype=dtype)])
        return init

    def _run_forward(self, x, states, mask, rd):
        h0, c0 = states
        opts = dict(mask=mask, reverse=self.go_backwards,
                    zero_output_for_mask=self.zero_output_for_mask, recurrent_dropout_mask=rd)
        if self._fused():
            y, h, c, saved = ops.lstm_forward(x, self.kernel.value, self.recurrent_kernel.value,
                                              _bias(self), h0, c0, **opts)
        else:
            y, h, c, saved = _rnn_numpy.lstm_forward(
                x, self.kernel.value, self.recurrent_kernel.value, _bias(self), h0, c0,
                activation=self.activation, recurrent_activation=self.recurrent_activation,
                **opts)
        return y, [h, c], (self._fused(), saved)

    _token_op = "lstm_forward_tokens"

    def _run_backward(self, dy, dstates, saved):
        fused, saved = saved
        fn = ops.lstm_backward if fused else _rnn_numpy.lstm_backward
        dx, dk, drk, db, dh0, dc0 = fn(dy, dstates[0], dstates[1], saved)
        return dx, dk, drk, db, [dh0, dc0]

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRU(_RNN):
    """Keras ``GRU``: gates z, r, h; bias (2,3H) with reset_after (the default) else (3H,)."""

    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.reset_after = bool(reset_after)

    _token_op = "gru_forward_tokens"

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _token_options(self):
        return {"reset_after": self.reset_after}

    def _run_forward(self, x, states, mask, rd):
        opts = dict(reset_after=self.reset_after, mask=mask, reverse=self.go_backwards,
                    zero_output_for_mask=self.zero_output_for_mask, recurrent_dropout_mask=rd)
        if self._fused():
            y, h, saved = ops.gru_forward(x, self.kernel.value, self.recurrent_kernel.value,
                                          _bias(self), states[0], **opts)
        else:
            y, h, saved = _rnn_numpy.gru_forward(
                x, self.kernel.value, self.recurrent_kernel.value, _bias(self), states[0],
                activation=self.activation, recurrent_activation=self.recurrent_activation,
                **opts)
        return y, [h], (self._fused(), saved)

    def _run_backward(self, dy, dstates, saved):
        fused, saved = saved
        fn = ops.gru_backward if fused else _rnn_numpy.gru_backward
        dx, dk, drk, db, dh0 = fn(dy, dstates[0], saved)
        return dx, dk, drk, db, [dh0]

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


class SimpleRNN(_RNN):
    """Keras ``SimpleRNN``: h_t = activation(x_t·kernel + h_{t-1}·recurrent_kernel + bias)."""

    _gates = 1
    _fused_activations = ("tanh", "relu", "sigmoid", "linear")

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", **kwargs):
        super().__init__(units, activation, None, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)

    def _fused(self):
        return self.activation.name in self._fused_activations

    _token_op = "rnn_forward_tokens"

    def _op_activation(self):
        return None if self.activation.name == "linear" else self.activation.name

    def _token_options(self):
        return {"activation": self._op_activation()}

    def _run_forward(self, x, states, mask, rd):
        opts = dict(mask=mask, reverse=self.go_backwards,
                    zero_output_for_mask=self.zero_output_for_mask, recurrent_dropout_mask=rd)
        if self._fused():
            y, h, saved = ops.rnn_forward(x, self.kernel.value, self.recurrent_kernel.value,
                                          _bias(self), states[0], activation=self._op_activation(),
                                          **opts)
        else:
            y, h, saved = _rnn_numpy.rnn_forward(
                x, self.kernel.value, self.recurrent_kernel.value, _bias(self), states[0],
                activation=self.activation, **opts)
        return y, [h], (self._fused(), saved)

    def _run_backward(self, dy, dstates, saved):
        fused, saved = saved
        fn = ops.rnn_backward if fused else _rnn_numpy.rnn_backward
        dx, dk, drk, db, dh0 = fn(dy, dstates[0], saved)
        return dx, dk, drk, db, [dh0]

    def get_config(self):
        config = super().get_config()
        config.pop("recurrent_activation")
        return config
