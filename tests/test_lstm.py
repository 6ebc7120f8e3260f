"""pyseq.ops.lstm_forward / lstm_backward against the float64 oracle in pyseq.reference."""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pyseq import ops

from helpers import (LSTM_GRAD_NAMES, LSTM_POSITIONAL, call_lstm_forward, make_lstm_inputs,
                     make_lstm_upstream, numeric_gradients)
from rnn_checks import (RecurrentProblem, assert_backward_repeatable, assert_forward_deterministic,
                        assert_thread_count_does_not_matter, check_op_against_oracle,
                        draw_common_fields, strided_if_asked)

DTYPES = [np.float32, np.float64]
SIZES = [1, 2, 3, 5, 7, 13, 17, 31]                 # 1 and primes
UPSTREAM = {                                       # which upstream gradients are arrays (others None)
    "all": ("dy", "dh_T", "dc_T"),
    "none": (),
    "dy": ("dy",),
    "states": ("dh_T", "dc_T"),
    "dh_T": ("dh_T",),
    "dc_T": ("dc_T",),
}
OUT_NAMES = ("y", "h_T", "c_T")


@dataclass(frozen=True)
class Problem(RecurrentProblem):
    with_c0: bool = True


@st.composite
def problems(draw):
    return Problem(**draw_common_fields(draw, sizes=SIZES, dtypes=DTYPES, upstream_kinds=UPSTREAM),
                   with_c0=draw(st.booleans()))


def build(p):
    """(inputs dict, upstream gradients tuple) for a Problem, strided as the Problem asks."""
    rng = np.random.default_rng(p.seed)
    inputs = make_lstm_inputs(rng, p.B, p.T, p.I, p.H, p.dtype, mask=p.mask, with_bias=p.with_bias,
                              with_h0=p.with_h0, with_c0=p.with_c0, dropout_p=p.dropout_p)
    up = make_lstm_upstream(rng, p.B, p.T, p.H, p.dtype, which=UPSTREAM[p.upstream])
    return strided_if_asked(p, inputs, up, rng)


def check_against_reference(p, *, factor=1.0):
    """Run kernel and oracle on Problem p and compare everything; return the kernel's results."""
    inputs, up = build(p)
    opts = dict(reverse=p.reverse, zero_output_for_mask=p.zero_output_for_mask)
    B, T, I, H = p.B, p.T, p.I, p.H  # noqa: E741
    expected_shapes = dict(y=(B, T, H), h_T=(B, H), c_T=(B, H), dx=(B, T, I), dkernel=(I, 4 * H),
                           drecurrent_kernel=(H, 4 * H), dbias=(4 * H,), dh0=(B, H), dc0=(B, H))
    outs, grads, saved = check_op_against_oracle(
        "lstm", call_lstm_forward, inputs, up, opts, out_names=OUT_NAMES, grad_names=LSTM_GRAD_NAMES,
        upstream_names=("dy", "dh_T", "dc_T"), expected_shapes=expected_shapes, dtype=p.dtype, factor=factor,
        prefix=f"{p}\n  ")
    return outs, grads, saved, up


# ------------------------------------------------------------------------------------------------
# Property test: everything against the oracle
# ------------------------------------------------------------------------------------------------


@given(p=problems())
@example(p=Problem(1, 1, 1, 1, np.float32))
@example(p=Problem(1, 1, 1, 1, np.float64, with_bias=False, with_h0=False, with_c0=False, upstream="none"))
@example(p=Problem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5))
@example(p=Problem(5, 7, 3, 2, np.float32, mask="leading_masked", zero_output_for_mask=True, noncontiguous=True))
@example(p=Problem(7, 9, 13, 17, np.float32, mask="right_padded", reverse=True, upstream="dy", noncontiguous=True))
def test_lstm_matches_reference(p):
    check_against_reference(p)


# ------------------------------------------------------------------------------------------------
# Awkward sizes, deterministic
# ------------------------------------------------------------------------------------------------

AWKWARD_SHAPES = [(1, 1, 1, 1), (1, 12, 1, 1), (31, 1, 17, 13), (2, 3, 64, 63), (3, 4, 8, 65),
                  (4, 5, 7, 127), (1, 6, 129, 31), (64, 2, 3, 8), (65, 2, 5, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,T,I,H", AWKWARD_SHAPES)
def test_lstm_awkward_shapes(B, T, I, H, dtype):  # noqa: E741
    check_against_reference(Problem(B, T, I, H, dtype, mask="random", reverse=(B % 2 == 0),
                                    dropout_p=0.25, seed=B * 1000 + T))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", ["plain", "masked_reverse_dropout", "zero_output_noncontiguous"])
def test_lstm_large(dtype, variant):
    cfg = dict(plain=dict(),
               masked_reverse_dropout=dict(mask="right_padded", reverse=True, dropout_p=0.25),
               zero_output_noncontiguous=dict(mask="random", zero_output_for_mask=True, noncontiguous=True))[variant]
    check_against_reference(Problem(33, 50, 70, 129, dtype, seed=1234, **cfg))


# ------------------------------------------------------------------------------------------------
# saved, determinism, threads
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_backward_twice_from_same_saved(dtype, reverse):
    p = Problem(5, 8, 6, 7, dtype, mask="fully_masked_rows", reverse=reverse, dropout_p=0.5, seed=3)
    inputs, up = build(p)
    *_, saved = call_lstm_forward(ops.lstm_forward, inputs, reverse=reverse)
    assert_backward_repeatable(ops.lstm_backward, up, saved, LSTM_GRAD_NAMES)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_is_deterministic(dtype):
    inputs, _ = build(Problem(9, 10, 11, 37, dtype, mask="random", seed=4))
    assert_forward_deterministic(lambda: call_lstm_forward(ops.lstm_forward, inputs)[:3], OUT_NAMES)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [1, 17])
def test_thread_count_does_not_change_results(dtype, B):
    p = Problem(B, 20, 31, 65, dtype, mask="random", reverse=True, dropout_p=0.25, seed=5)
    inputs, up = build(p)

    def run():
        y, h, c, saved = call_lstm_forward(ops.lstm_forward, inputs, reverse=True)
        return (y, h, c) + tuple(ops.lstm_backward(*up, saved))

    assert_thread_count_does_not_matter(run, OUT_NAMES + LSTM_GRAD_NAMES, dtype)


# ------------------------------------------------------------------------------------------------
# Finite differences of the kernel itself (float64)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_kernel_gradients_match_finite_differences(reverse):
    eps = 1e-6
    B, T, I, H = 3, 4, 3, 2
    rng = np.random.default_rng(6)
    inputs = make_lstm_inputs(rng, B, T, I, H, np.float64, dropout_p=0.5)
    inputs["mask"] = np.array([[0, 0, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1]], dtype=bool)
    up = make_lstm_upstream(rng, B, T, H, np.float64)

    def loss(inp):
        y, h, c, _ = call_lstm_forward(ops.lstm_forward, inp, reverse=reverse)
        return float(np.sum(y * up[0]) + np.sum(h * up[1]) + np.sum(c * up[2]))

    *_, saved = call_lstm_forward(ops.lstm_forward, inputs, reverse=reverse)
    grads = ops.lstm_backward(*up, saved)
    for name, g, num in zip(LSTM_GRAD_NAMES, grads, numeric_gradients(loss, inputs, LSTM_POSITIONAL, eps)):
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=f"kernel {name} vs finite differences")
