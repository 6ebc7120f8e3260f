"""Bad-input cases shared by every recurrent family (SimpleRNN, GRU in both bias layouts, LSTM):
one description per family, so that tests/test_rnn_family_errors.py runs each check for all of
them and the per-family errors files hold only what is specific to their family."""

from dataclasses import dataclass, field

import numpy as np
import pytest

from pyseq import ops

from gru_helpers import GRU_POSITIONAL, make_gru_inputs
from helpers import (LSTM_POSITIONAL, RNN_POSITIONAL, assert_unchanged, copy_inputs, make_lstm_inputs,
                     make_rnn_inputs)

B, T, I, H = 2, 3, 4, 5  # all different, so that a swapped dimension is always wrong  # noqa: E741


@dataclass(frozen=True)
class Family:
    """How to build valid inputs for one op pair and call it; ``options`` are fixed forward keywords."""
    id: str
    op: str                       # "rnn" -> ops.rnn_forward / ops.rnn_backward
    positional: tuple
    make_inputs: object           # (rng, B, T, I, H, dtype, *, mask, dropout_p) -> dict
    gates: int                    # kernel is (I, gates * H)
    states: tuple                 # initial-state inputs, each (B, H)
    upstream: tuple               # backward's array arguments, before saved
    flags: tuple                  # boolean keyword options
    options: dict = field(default_factory=dict)
    zero_h_bias: tuple = (0,)     # bias shape when H = 0

    @property
    def forward(self):
        return getattr(ops, f"{self.op}_forward")

    @property
    def backward(self):
        return getattr(ops, f"{self.op}_backward")

    @property
    def float_inputs(self):
        return ("x", "kernel", "recurrent_kernel", "bias") + self.states + ("recurrent_dropout_mask",)

    @property
    def optional_inputs(self):
        return ("bias",) + self.states + ("mask", "recurrent_dropout_mask")

    @property
    def forward_msg(self):
        return rf"(?s)^\[{self.op}_forward\].*\bgot\b"

    @property
    def backward_msg(self):
        return rf"(?s)^\[{self.op}_backward\].*\bgot\b"

    def valid_inputs(self, dtype=np.float64):
        rng = np.random.default_rng(0)
        inputs = self.make_inputs(rng, B, T, I, H, dtype, mask="random", dropout_p=0.5)
        inputs.pop("reset_after", None)   # fixed options travel in self.options
        return inputs

    def call_forward(self, inputs, **options):
        kw = {k: inputs[k] for k in ("mask", "recurrent_dropout_mask")}
        kw.update(self.options)
        kw.update(options)
        return self.forward(*(inputs[k] for k in self.positional), **kw)

    def expect_forward_error(self, inputs, exc, **options):
        before = copy_inputs(inputs)
        with pytest.raises(exc, match=self.forward_msg) as info:
            self.call_forward(inputs, **options)
        assert_unchanged(before, inputs, f"failed {self.op}_forward")
        return str(info.value)

    def forward_for_backward(self, dtype=np.float64):
        *outputs, saved = self.call_forward(self.valid_inputs(dtype))
        rng = np.random.default_rng(2)
        shapes = dict(dy=(B, T, H), dh_T=(B, H), dc_T=(B, H))
        up = {k: rng.standard_normal(shapes[k]).astype(dtype) for k in self.upstream}
        return outputs[0], saved, up

    def call_backward(self, up, saved):
        return self.backward(*(up[k] for k in self.upstream), saved)

    def expect_backward_error(self, up, saved, exc):
        before = copy_inputs(up)
        with pytest.raises(exc, match=self.backward_msg):
            self.call_backward(up, saved)
        assert_unchanged(before, up, f"failed {self.op}_backward")


def _gru_inputs(reset_after):
    def make(*args, **kw):
        return make_gru_inputs(*args, reset_after=reset_after, **kw)
    return make


RNN = Family("rnn", "rnn", RNN_POSITIONAL, make_rnn_inputs, 1, ("h0",), ("dy", "dh_T"),
             ("reverse", "zero_output_for_mask"))
GRU = Family("gru", "gru", GRU_POSITIONAL, _gru_inputs(True), 3, ("h0",), ("dy", "dh_T"),
             ("reset_after", "reverse", "zero_output_for_mask"), dict(reset_after=True), (2, 0))
GRU_RESET_BEFORE = Family("gru_reset_before", "gru", GRU_POSITIONAL, _gru_inputs(False), 3, ("h0",),
                          ("dy", "dh_T"), ("reset_after", "reverse", "zero_output_for_mask"),
                          dict(reset_after=False))
LSTM = Family("lstm", "lstm", LSTM_POSITIONAL, make_lstm_inputs, 4, ("h0", "c0"), ("dy", "dh_T", "dc_T"),
              ("reverse", "zero_output_for_mask"))
FAMILIES = (RNN, GRU, GRU_RESET_BEFORE, LSTM)


def over_families(argnames, cases_of):
    """Parametrise ``family`` plus ``argnames`` over every family's cases (``cases_of(family)``)."""
    params, ids = [], []
    for fam in FAMILIES:
        for case in cases_of(fam):
            case = case if isinstance(case, tuple) else (case,)
            params.append((fam,) + case)
            ids.append("-".join([fam.id] + [_id(c) for c in case]))
    return pytest.mark.parametrize("family," + argnames, params, ids=ids)


def _id(value):
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    return str(value)


# GRU's two bias layouts are checked in test_gru_errors.py, whose message names reset_after
BIAS_CASES = {
    "rnn": [(1, H), (2, H), (), (H + 1,), (H - 1,), (2 * H,), (4 * H,)],
    "lstm": [(1, 4 * H), (2, 4 * H), (), (4 * H + 1,), (4 * H - 1,), (H,), (3 * H,), (8 * H,)],
}


def wrong_shapes(fam):
    """Inputs of the wrong ndim or shape for ``fam``."""
    G = fam.gates
    other_gates = [g for g in (1, 3, 4) if g != G]
    cases = {
        "x": [(B * T, I), (B, T, I, 1), (I,), ()],
        "kernel": [(G * I * H,), (1, I, G * H), (), (I + 1, G * H), (I - 1, G * H), (I, G * H + 1),
                   (I, G * H - 1), (G * H, I)] + [(I, g * H) for g in other_gates],
        "recurrent_kernel": [(G * H * H,), (1, H, G * H), (H + 1, G * H), (H - 1, G * H), (H, G * H + 1),
                             (H, G * H - 1), (H + 1, G * (H + 1))] + [(G * H, H)] * (G > 1)
                            + [(H, g * H) for g in other_gates],
        "bias": BIAS_CASES.get(fam.op, []),
        "mask": [(T,), (B, T, 1), (B, T + 1), (B + 1, T), (T, B), (1, T)],
        "recurrent_dropout_mask": [(H,), (1, B, H), (B, H + 1), (B + 1, H), (H, B), (1, H)],
    }
    for state in fam.states:   # (1, B, H) is PyTorch's layout
        cases[state] = [(H,), (1, B, H), (B + 1, H), (B, H + 1), (H, B), (1, H)]
    return [(name, shape) for name, shapes in cases.items() for shape in shapes]


def zero_size_cases(fam):
    G = fam.gates
    states = {s: (0, H) for s in fam.states}
    return {
        "B=0": dict(x=(0, T, I), mask=(0, T), recurrent_dropout_mask=(0, H), **states),
        "T=0": dict(x=(B, 0, I), mask=(B, 0)),
        "I=0": dict(x=(B, T, 0), kernel=(0, G * H)),
        "H=0": dict(kernel=(I, 0), recurrent_kernel=(0, 0), bias=fam.zero_h_bias, recurrent_dropout_mask=(B, 0),
                    **{s: (B, 0) for s in fam.states}),
    }
