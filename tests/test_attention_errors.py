"""Bad input to pyseq.ops.attention_forward / attention_backward: the right exception, a message
that names the op and says what it got, and no input modified."""

import numpy as np
import pytest

from pyseq import ops

from helpers import assert_unchanged, copy_inputs

B, Lq, Lk, N, D, Dv = 2, 3, 4, 5, 6, 7  # all different, so that a swapped dimension is always wrong
FORWARD_MSG = r"(?s)^\[attention_forward\].*\bgot\b"
BACKWARD_MSG = r"(?s)^\[attention_backward\].*\bgot\b"


def valid_inputs(dtype=np.float64):
    rng = np.random.default_rng(0)
    return dict(
        q=rng.standard_normal((B, Lq, N, D)).astype(dtype),
        k=rng.standard_normal((B, Lk, N, D)).astype(dtype),
        v=rng.standard_normal((B, Lk, N, Dv)).astype(dtype),
        key_mask=rng.random((B, Lk)) < 0.5,
        attn_mask=rng.random((B, Lq, Lk)) < 0.5,
    )


def call_forward(inputs, **options):
    return ops.attention_forward(inputs["q"], inputs["k"], inputs["v"], key_mask=inputs["key_mask"],
                                 attn_mask=inputs["attn_mask"], **options)


def expect_forward_error(inputs, exc, **options):
    before = copy_inputs(inputs)
    with pytest.raises(exc, match=FORWARD_MSG):
        call_forward(inputs, **options)
    assert_unchanged(before, inputs, "failed attention_forward")


def test_valid_inputs_are_accepted():
    for dtype in (np.float32, np.float64):
        o, saved = call_forward(valid_inputs(dtype), causal=True, dropout=0.5, seed=1)
        assert o.shape == (B, Lq, N, Dv)
        dq, dk, dv = ops.attention_backward(np.ones_like(o), saved)
        assert dq.shape == (B, Lq, N, D) and dk.shape == (B, Lk, N, D) and dv.shape == (B, Lk, N, Dv)


# ---- shapes ------------------------------------------------------------------------------------

WRONG_SHAPES = {
    "q": [(B, Lq, N), (B, Lq, N, D, 1), (Lq, N, D), ()],             # ndim
    "k": [(B, Lk, N * D), (B + 1, Lk, N, D), (B, Lk, N + 1, D), (B, Lk, N, D + 1), (B, N, Lk, D)],
    "v": [(B, Lk, N), (B + 1, Lk, N, Dv), (B, Lk + 1, N, Dv), (B, Lk, N - 1, Dv), (B, N, Lk, Dv)],
    "key_mask": [(Lk,), (B, Lq), (B, Lk, 1), (B + 1, Lk)],
    "attn_mask": [(Lq, Lk), (B, Lk, Lq), (B, 1, Lq, Lk), (B, Lq, Lk + 1)],
}
SHAPE_CASES = [(name, shape) for name, shapes in WRONG_SHAPES.items() for shape in shapes]


@pytest.mark.parametrize("name,shape", SHAPE_CASES, ids=[f"{n}-{s}" for n, s in SHAPE_CASES])
def test_wrong_shape_is_value_error(name, shape):
    inputs = valid_inputs()
    dtype = bool if name.endswith("mask") else np.float64
    inputs[name] = np.zeros(shape, dtype=dtype)
    expect_forward_error(inputs, ValueError)


@pytest.mark.parametrize("name,axis", [("q", 0), ("q", 1), ("q", 2), ("q", 3), ("k", 1), ("v", 3)])
def test_empty_axis_is_value_error(name, axis):
    inputs = valid_inputs()
    shape = list(inputs[name].shape)
    shape[axis] = 0
    inputs[name] = np.zeros(shape)
    if name == "k" or (name == "q" and axis == 0):
        inputs["key_mask"] = inputs["attn_mask"] = None
    if name == "q" and axis in (0, 1):
        inputs["attn_mask"] = None
    expect_forward_error(inputs, ValueError)


# ---- dtypes and types --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["q", "k", "v"])
@pytest.mark.parametrize("bad", [np.int64, np.float16, np.complex128, bool])
def test_wrong_float_dtype_is_type_error(name, bad):
    inputs = valid_inputs()
    inputs[name] = inputs[name].astype(bad)
    expect_forward_error(inputs, TypeError)


@pytest.mark.parametrize("name", ["k", "v"])
def test_mixed_float_dtypes_are_type_error(name):
    inputs = valid_inputs(np.float32)
    inputs[name] = inputs[name].astype(np.float64)
    expect_forward_error(inputs, TypeError)


@pytest.mark.parametrize("name", ["key_mask", "attn_mask"])
@pytest.mark.parametrize("bad", [np.float32, np.int8, np.uint8])
def test_non_bool_mask_is_type_error(name, bad):
    inputs = valid_inputs()
    inputs[name] = inputs[name].astype(bad)
    expect_forward_error(inputs, TypeError)


def test_junk_is_type_error():
    inputs = valid_inputs()
    inputs["q"] = "not an array"
    expect_forward_error(inputs, TypeError)
    inputs = valid_inputs()
    inputs["key_mask"] = object()
    expect_forward_error(inputs, TypeError)


# ---- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5, float("nan"), float("inf")])
def test_dropout_out_of_range_is_value_error(dropout):
    expect_forward_error(valid_inputs(), ValueError, dropout=dropout, seed=1)


@pytest.mark.parametrize("option,value", [("dropout", "0.5"), ("dropout", None), ("dropout", True),
                                          ("scale", "1"), ("scale", True), ("scale", [1.0]),
                                          ("causal", 1), ("causal", "yes"), ("return_scores", 0),
                                          ("seed", 1.5), ("seed", "7"), ("seed", True)])
def test_wrong_option_type_is_type_error(option, value):
    expect_forward_error(valid_inputs(), TypeError, **{option: value})


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_scale_is_value_error(scale):
    expect_forward_error(valid_inputs(), ValueError, scale=scale)


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_seed_out_of_range_is_value_error(seed):
    expect_forward_error(valid_inputs(), ValueError, dropout=0.5, seed=seed)


def test_any_finite_scale_is_accepted():
    """Zero and negative scales are well defined (uniform weights; reversed preferences)."""
    inputs = valid_inputs()
    for scale in (0.0, -2.0, 1e-30, np.float32(3.0), 4):
        o, _ = call_forward(inputs, scale=scale)
        assert np.all(np.isfinite(o))


# ---- backward ----------------------------------------------------------------------------------


def forward_saved(dtype=np.float64):
    inputs = valid_inputs(dtype)
    return call_forward(inputs)


@pytest.mark.parametrize("shape", [(B, Lq, N, D), (B, Lq, N), (B, Lk, N, Dv), (B, N, Lq, Dv)])
def test_backward_wrong_shape_is_value_error(shape):
    _, saved = forward_saved()
    do = np.zeros(shape)
    before = do.copy()
    with pytest.raises(ValueError, match=BACKWARD_MSG):
        ops.attention_backward(do, saved)
    np.testing.assert_array_equal(do, before)


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_backward_wrong_dtype_is_type_error(dtype):
    o, saved = forward_saved(np.float64)
    with pytest.raises(TypeError, match=BACKWARD_MSG):
        ops.attention_backward(np.zeros(o.shape, dtype=dtype), saved)


@pytest.mark.parametrize("saved", [None, 1, "saved", object()])
def test_backward_wrong_saved_is_type_error(saved):
    with pytest.raises(TypeError, match=BACKWARD_MSG):
        ops.attention_backward(np.zeros((B, Lq, N, Dv)), saved)


def test_backward_rejects_another_ops_saved():
    rng = np.random.default_rng(1)
    *_, lstm_saved = ops.lstm_forward(rng.standard_normal((1, 2, 3)), rng.standard_normal((3, 8)),
                                      rng.standard_normal((2, 8)), None)
    with pytest.raises(TypeError, match=BACKWARD_MSG):
        ops.attention_backward(np.zeros((B, Lq, N, Dv)), lstm_saved)
