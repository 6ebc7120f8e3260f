"""pyseq.ops.lstm_forward_tokens (an LSTM on x = table[ids], x never formed) and lstm_backward on
its saved, against the float64 oracle reference.lstm_forward_tokens / lstm_backward_tokens."""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pyseq import _core, ops, reference

from helpers import (LSTM_OPTIONS, assert_all_close, assert_unchanged, copy_inputs,
                     make_lstm_inputs, make_lstm_upstream, make_noncontiguous, numeric_gradients)
from rnn_checks import (RecurrentProblem, assert_backward_repeatable,
                        assert_thread_count_does_not_matter, draw_common_fields, restore_tuning)  # noqa: F401

DTYPES = [np.float32, np.float64]
SIZES = [1, 2, 3, 5, 7, 13, 17, 31]
UPSTREAM = {"all": ("dy", "dh_T", "dc_T"), "none": (), "dy": ("dy",), "states": ("dh_T", "dc_T")}
OUT_NAMES = ("y", "h_T", "c_T")
GRAD_NAMES = ("d_table", "dkernel", "drecurrent_kernel", "dbias", "dh0", "dc0")
POSITIONAL = ("ids", "table", "kernel", "recurrent_kernel", "bias", "h0", "c0")
ID_DTYPES = ["int32", "int64", "uint8", "int16", "uint32"]


@dataclass(frozen=True)
class Problem(RecurrentProblem):
    V: int = 3
    id_dtype: str = "int64"
    with_c0: bool = True


@st.composite
def problems(draw):
    return Problem(**draw_common_fields(draw, sizes=SIZES, dtypes=DTYPES, upstream_kinds=UPSTREAM),
                   V=draw(st.sampled_from([1, 2, 3, 7, 64, 300])),
                   id_dtype=draw(st.sampled_from(ID_DTYPES)), with_c0=draw(st.booleans()))


def build(p):
    rng = np.random.default_rng(p.seed)
    V = min(p.V, 255) if p.id_dtype == "uint8" else p.V
    inputs = make_lstm_inputs(rng, p.B, p.T, p.I, p.H, p.dtype, mask=p.mask, with_bias=p.with_bias,
                              with_h0=p.with_h0, with_c0=p.with_c0, dropout_p=p.dropout_p)
    del inputs["x"]
    inputs["ids"] = rng.integers(0, V, (p.B, p.T)).astype(p.id_dtype)
    inputs["table"] = rng.standard_normal((V, p.I)).astype(p.dtype)
    up = make_lstm_upstream(rng, p.B, p.T, p.H, p.dtype, which=UPSTREAM[p.upstream])
    if p.noncontiguous:
        inputs = {k: (make_noncontiguous(v, rng) if isinstance(v, np.ndarray) else v)
                  for k, v in inputs.items()}
        up = tuple(make_noncontiguous(u, rng) for u in up)
    return inputs, up


def call(fn, inputs, **options):
    kw = {k: inputs[k] for k in LSTM_OPTIONS if k in inputs}
    kw.update(options)
    return fn(*(inputs[k] for k in POSITIONAL), **kw)


def run(inputs, up, **opts):
    *outs, saved = call(ops.lstm_forward_tokens, inputs, **opts)
    return tuple(outs), ops.lstm_backward(*up, saved), saved


def check_against_reference(p):
    inputs, up = build(p)
    before, up_before = copy_inputs(inputs), copy_inputs(dict(enumerate(up)))
    opts = dict(reverse=p.reverse, zero_output_for_mask=p.zero_output_for_mask)
    outs, grads, _ = run(inputs, up, **opts)
    *outs_r, cache = call(reference.lstm_forward_tokens, inputs, **opts)
    grads_r = reference.lstm_backward_tokens(*up, cache)
    dt = np.dtype(p.dtype)
    V, I, H = inputs["table"].shape[0], p.I, p.H  # noqa: E741
    shapes = (p.B, p.T, H), (p.B, H), (p.B, H), (V, I), (I, 4 * H), (H, 4 * H), (4 * H,), (p.B, H), (p.B, H)
    for name, a, shape in zip(OUT_NAMES + GRAD_NAMES, outs + tuple(grads), shapes):
        assert a.dtype == dt and a.shape == shape, f"{name}: {a.dtype} {a.shape}, expected {dt} {shape}"
    assert_all_close(outs, tuple(outs_r), dt, OUT_NAMES, prefix=f"{p}\n  ")
    assert_all_close(grads, grads_r, dt, GRAD_NAMES, prefix=f"{p}\n  ")
    assert_unchanged(before, inputs, "lstm_forward_tokens/backward")
    assert_unchanged(up_before, dict(enumerate(up)), "lstm_backward")


@given(p=problems())
@example(p=Problem(1, 1, 1, 1, np.float32, V=1))
@example(p=Problem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5, V=300))
@example(p=Problem(7, 9, 13, 17, np.float32, mask="right_padded", zero_output_for_mask=True,
                   noncontiguous=True, id_dtype="uint8", upstream="dy"))
def test_lstm_tokens_match_reference(p):
    check_against_reference(p)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,T,I,H,V", [(64, 6, 33, 129, 20), (2, 30, 8, 257, 5), (33, 50, 70, 65, 11)])
def test_lstm_tokens_large(B, T, I, H, V, dtype):  # noqa: E741
    # chunked gate layouts (H large against B), both thread splits of the step loop
    check_against_reference(Problem(B, T, I, H, dtype, V=V, mask="random", reverse=True,
                                    dropout_p=0.25, seed=B + H))


@pytest.mark.parametrize("split", ["batch", "units"])
@pytest.mark.parametrize("step_product", ["packed", "blas"])
def test_lstm_tokens_every_split_and_step_product(split, step_product, restore_tuning):  # noqa: F811
    _core.set_rnn_split(split)
    _core.set_step_product(step_product)
    for dtype in DTYPES:
        check_against_reference(Problem(16, 7, 9, 40, dtype, V=6, mask="random", dropout_p=0.5, seed=7))


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_tokens_equal_lstm_on_gathered_rows(dtype):
    inputs, up = build(Problem(8, 11, 6, 10, dtype, V=4, mask="random", seed=9))
    x_inputs = {k: v for k, v in inputs.items() if k not in ("ids", "table")}
    x_inputs["x"] = inputs["table"][inputs["ids"]]
    outs, grads, _ = run(inputs, up)
    y, h, c, saved = ops.lstm_forward(*(x_inputs[k] for k in ("x", "kernel", "recurrent_kernel", "bias", "h0", "c0")),
                                      mask=inputs["mask"])
    dx, *rest = ops.lstm_backward(*up, saved)
    for a, b in zip(outs, (y, h, c)):
        np.testing.assert_array_equal(a, b)  # the same projection rows, gathered instead of multiplied
    d_table = np.zeros_like(inputs["table"])
    np.add.at(d_table, inputs["ids"], dx)
    assert_all_close(grads, (d_table, *rest), np.dtype(dtype), GRAD_NAMES)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_tokens_backward_repeatable_and_threads(dtype):
    inputs, up = build(Problem(17, 20, 31, 65, dtype, V=9, mask="random", reverse=True, dropout_p=0.25, seed=5))
    *_, saved = call(ops.lstm_forward_tokens, inputs, reverse=True)
    assert_backward_repeatable(ops.lstm_backward, up, saved, GRAD_NAMES)

    def both():
        outs, grads, _ = run(inputs, up, reverse=True)
        return outs + tuple(grads)

    assert_thread_count_does_not_matter(both, OUT_NAMES + GRAD_NAMES, dtype)


def test_lstm_tokens_gradients_match_finite_differences():
    inputs, up = build(Problem(3, 4, 3, 2, np.float64, V=3, dropout_p=0.5, seed=6))
    inputs["mask"] = np.array([[0, 0, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1]], dtype=bool)
    float_names = POSITIONAL[1:]

    def loss(inp):
        y, h, c, _ = call(ops.lstm_forward_tokens, inp)
        return float(np.sum(y * up[0]) + np.sum(h * up[1]) + np.sum(c * up[2]))

    _, grads, _ = run(inputs, up)
    for name, g, num in zip(GRAD_NAMES, grads, numeric_gradients(loss, inputs, float_names)):
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=f"{name} vs finite differences")


# ------------------------------------------------------------------------------------------------
# Bad input: ValueError / TypeError naming the op
# ------------------------------------------------------------------------------------------------


def good(dtype=np.float32, B=2, T=3, V=5, I=4, H=3):  # noqa: E741
    rng = np.random.default_rng(0)
    return dict(ids=rng.integers(0, V, (B, T)), table=rng.standard_normal((V, I)).astype(dtype),
                kernel=np.zeros((I, 4 * H), dtype), recurrent_kernel=np.zeros((H, 4 * H), dtype),
                bias=np.zeros(4 * H, dtype), h0=None, c0=None)


BAD = [
    ("ids", np.zeros((2, 3), np.float32), TypeError, r"ids must be an integer array"),
    ("ids", np.full((2, 3), 5), ValueError, r"ids must be in \[0, 5\), got values in \[5, 5\]"),
    ("ids", np.full((2, 3), -1), ValueError, r"ids must be in \[0, 5\)"),
    ("ids", np.zeros(6, np.int64), ValueError, r"ids .*\(B, T\)"),
    ("ids", np.zeros((2, 0), np.int64), ValueError, r"steps T"),
    ("table", np.zeros((5, 4), np.int32), TypeError, r"table"),
    ("table", np.zeros((5, 4, 1), np.float32), ValueError, r"table .*\(V, I\)"),
    ("table", np.zeros((0, 4), np.float32), ValueError, r"table rows V"),
    ("table", np.zeros((5, 3), np.float32), ValueError, r"kernel"),
    ("kernel", np.zeros((4, 12), np.float64), TypeError, r"kernel"),
    ("recurrent_kernel", np.zeros((3, 13), np.float32), ValueError, r"recurrent_kernel"),
    ("bias", np.zeros(11, np.float32), ValueError, r"bias"),
    ("h0", np.zeros((3, 3), np.float32), ValueError, r"h0"),
]


@pytest.mark.parametrize("name,value,exc,pattern", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_lstm_tokens_bad_input(name, value, exc, pattern):
    args = good()
    args[name] = value
    with pytest.raises(exc, match=r"^\[lstm_forward_tokens\] .*(" + pattern + ")"):
        ops.lstm_forward_tokens(*(args[k] for k in POSITIONAL))


def test_lstm_tokens_bad_mask_and_backward_upstream():
    args = good()
    with pytest.raises(ValueError, match=r"^\[lstm_forward_tokens\] mask"):
        ops.lstm_forward_tokens(*(args[k] for k in POSITIONAL), mask=np.ones((2, 4), bool))
    *_, saved = ops.lstm_forward_tokens(*(args[k] for k in POSITIONAL))
    with pytest.raises(ValueError, match=r"^\[lstm_backward\] dy"):
        ops.lstm_backward(np.zeros((2, 3, 4), np.float32), None, None, saved)
