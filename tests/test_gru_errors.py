"""Bad input to pyseq.ops.gru_forward / gru_backward: the right exception, a message that names
the op and says what it got, and no input modified."""

import numpy as np
import pytest

from pyseq import ops

from gru_helpers import GRU_POSITIONAL, make_gru_inputs
from helpers import assert_unchanged, copy_inputs

B, T, I, H = 2, 3, 4, 5  # all different, so that a swapped dimension is always wrong
FORWARD_MSG = r"(?s)^\[gru_forward\].*\bgot\b"
BACKWARD_MSG = r"(?s)^\[gru_backward\].*\bgot\b"
FLOAT_INPUTS = ("x", "kernel", "recurrent_kernel", "bias", "h0", "recurrent_dropout_mask")
RESET_AFTER = pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])


def valid_inputs(dtype=np.float64, reset_after=True):
    rng = np.random.default_rng(0)
    return make_gru_inputs(rng, B, T, I, H, dtype, reset_after=reset_after, mask="random", dropout_p=0.5)


def call_forward(inputs):
    kw = {k: inputs[k] for k in ("mask", "recurrent_dropout_mask", "reset_after")}
    return ops.gru_forward(*(inputs[k] for k in GRU_POSITIONAL), **kw)


def expect_forward_error(inputs, exc):
    before = copy_inputs(inputs)
    with pytest.raises(exc, match=FORWARD_MSG):
        call_forward(inputs)
    assert_unchanged(before, inputs, "failed gru_forward")


@RESET_AFTER
def test_valid_inputs_are_accepted(reset_after):
    """The baseline every error case below starts from is itself valid."""
    for dtype in (np.float32, np.float64):
        y, h, saved = call_forward(valid_inputs(dtype, reset_after))
        assert y.shape == (B, T, H) and h.shape == (B, H)
        ops.gru_backward(None, None, saved)


# ------------------------------------------------------------------------------------------------
# gru_forward: ndim and shapes
# ------------------------------------------------------------------------------------------------

rng0 = np.random.default_rng(1)
WRONG_SHAPE = {
    "x": [(B * T, I), (B, T, I, 1), (I,), ()],
    "kernel": [(3 * I * H,), (1, I, 3 * H), (), (I + 1, 3 * H), (I - 1, 3 * H), (I, 3 * H + 1),
               (I, 3 * H - 1), (I, 4 * H), (3 * H, I)],
    "recurrent_kernel": [(3 * H * H,), (1, H, 3 * H), (H + 1, 3 * H), (H - 1, 3 * H),
                         (H, 3 * H + 1), (H, 4 * H), (3 * H, H), (H + 1, 3 * (H + 1)), (H, H)],
    "h0": [(H,), (1, B, H), (B + 1, H), (B, H + 1), (H, B), (1, H)],   # (1, B, H) is PyTorch's
    "mask": [(T,), (B, T, 1), (B, T + 1), (B + 1, T), (T, B), (1, T)],
    "recurrent_dropout_mask": [(H,), (1, B, H), (B, H + 1), (B + 1, H), (H, B), (1, H)],
}
# bias: each form's shape is wrong for the other form
WRONG_BIAS = {
    True: [(3 * H,), (1, 3 * H), (2, 3 * H + 1), (3, 3 * H), (3 * H, 2), (6 * H,), ()],
    False: [(2, 3 * H), (1, 3 * H), (3 * H + 1,), (3 * H - 1,), (H,), (4 * H,), ()],
}
SHAPE_CASES = [(name, shape) for name, shapes in WRONG_SHAPE.items() for shape in shapes]


@RESET_AFTER
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,shape", SHAPE_CASES, ids=[f"{n}-{s}" for n, s in SHAPE_CASES])
def test_forward_wrong_ndim_or_shape(name, shape, dtype, reset_after):
    inputs = valid_inputs(dtype, reset_after)
    if name == "mask":
        inputs[name] = np.ones(shape, dtype=bool)
    else:
        inputs[name] = np.asarray(rng0.standard_normal(shape), dtype=dtype)
    expect_forward_error(inputs, ValueError)


@RESET_AFTER
@pytest.mark.parametrize("k", range(7))
def test_forward_wrong_bias_shape(k, reset_after):
    inputs = valid_inputs(np.float64, reset_after)
    inputs["bias"] = np.zeros(WRONG_BIAS[reset_after][k])
    with pytest.raises(ValueError, match=FORWARD_MSG) as info:
        call_forward(inputs)
    assert f"reset_after={reset_after}" in str(info.value)


def test_forward_recurrent_kernel_message_names_expected_and_got():
    inputs = valid_inputs()
    inputs["recurrent_kernel"] = np.zeros((H, 3 * H - 1))
    with pytest.raises(ValueError, match=FORWARD_MSG) as info:
        call_forward(inputs)
    msg = str(info.value)
    assert "recurrent_kernel" in msg and str((H, 3 * H - 1)) in msg and str((H, 3 * H)) in msg, msg


# ------------------------------------------------------------------------------------------------
# gru_forward: sizes of zero
# ------------------------------------------------------------------------------------------------

ZERO_SIZE_CASES = {
    "B=0": dict(x=(0, T, I), h0=(0, H), mask=(0, T), recurrent_dropout_mask=(0, H)),
    "T=0": dict(x=(B, 0, I), mask=(B, 0)),
    "I=0": dict(x=(B, T, 0), kernel=(0, 3 * H)),
    "H=0": dict(kernel=(I, 0), recurrent_kernel=(0, 0), bias=(2, 0), h0=(B, 0),
                recurrent_dropout_mask=(B, 0)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_optional", [True, False], ids=["all_inputs", "optional_none"])
@pytest.mark.parametrize("case", list(ZERO_SIZE_CASES))
def test_forward_zero_sizes_are_rejected(case, with_optional, dtype):
    inputs = valid_inputs(dtype)
    for name, shape in ZERO_SIZE_CASES[case].items():
        inputs[name] = np.ones(shape, dtype=bool) if name == "mask" else np.zeros(shape, dtype=dtype)
    if not with_optional:
        for name in ("bias", "h0", "mask", "recurrent_dropout_mask"):
            inputs[name] = None
    expect_forward_error(inputs, ValueError)


# ------------------------------------------------------------------------------------------------
# gru_forward: dtypes and types
# ------------------------------------------------------------------------------------------------

BAD_FLOAT_DTYPES = [np.int32, np.int64, np.complex128, np.float16, np.bool_, np.complex64, np.uint8]


@pytest.mark.parametrize("bad", BAD_FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_forward_x_bad_dtype(bad):
    inputs = valid_inputs()
    inputs["x"] = (valid_inputs()["x"] > 0).astype(bad)
    expect_forward_error(inputs, TypeError)


@pytest.mark.parametrize("bad", BAD_FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", [n for n in FLOAT_INPUTS if n != "x"])
def test_forward_other_float_input_bad_dtype(name, bad):
    inputs = valid_inputs()
    inputs[name] = (inputs[name] > 0).astype(bad)
    expect_forward_error(inputs, TypeError)


@RESET_AFTER
@pytest.mark.parametrize("x_dtype,other_dtype", [(np.float32, np.float64), (np.float64, np.float32)],
                         ids=["x32-other64", "x64-other32"])
@pytest.mark.parametrize("name", [n for n in FLOAT_INPUTS if n != "x"])
def test_forward_mixed_float_dtypes(name, x_dtype, other_dtype, reset_after):
    inputs = valid_inputs(x_dtype, reset_after)
    inputs[name] = inputs[name].astype(other_dtype)
    expect_forward_error(inputs, TypeError)


@pytest.mark.parametrize("bad", [np.float64, np.float32, np.int64, np.int8, np.uint8], ids=lambda d: np.dtype(d).name)
def test_forward_mask_not_bool(bad):
    inputs = valid_inputs()
    inputs["mask"] = inputs["mask"].astype(bad)
    expect_forward_error(inputs, TypeError)


JUNK = {"string": "not an array", "None": None, "dict": {"x": 1},
        "object_array": np.empty((B, T, I), dtype=object)}


@pytest.mark.parametrize("junk", list(JUNK))
def test_forward_x_junk(junk):
    inputs = valid_inputs()
    inputs["x"] = JUNK[junk]
    expect_forward_error(inputs, TypeError)


@pytest.mark.parametrize("flag", ["reset_after", "reverse", "zero_output_for_mask"])
@pytest.mark.parametrize("bad", ["yes", 1, 0, None, np.array([True])], ids=repr)
def test_forward_option_flags_must_be_bool(flag, bad):
    inputs = valid_inputs()
    with pytest.raises(TypeError, match=rf"^\[gru_forward\] {flag} must be a bool, got"):
        ops.gru_forward(*(inputs[k] for k in GRU_POSITIONAL), **{flag: bad})
    # numpy's bool scalar is a bool
    ops.gru_forward(*(inputs[k] for k in GRU_POSITIONAL), **{flag: np.bool_(True)})


@pytest.mark.parametrize("junk", ["string", "None", "object_array"])
@pytest.mark.parametrize("name", ["kernel", "recurrent_kernel"])
def test_forward_weight_junk(name, junk):
    inputs = valid_inputs()
    inputs[name] = np.empty((I if name == "kernel" else H, 3 * H), dtype=object) \
        if junk == "object_array" else JUNK[junk]
    expect_forward_error(inputs, TypeError)


@pytest.mark.parametrize("name", ["bias", "h0", "mask", "recurrent_dropout_mask"])
def test_forward_optional_input_junk(name):
    inputs = valid_inputs()
    inputs[name] = "not an array"
    expect_forward_error(inputs, TypeError)


def test_forward_options_are_keyword_only():
    inputs = valid_inputs()
    with pytest.raises(TypeError):
        ops.gru_forward(*(inputs[k] for k in GRU_POSITIONAL), True)


# ------------------------------------------------------------------------------------------------
# gru_backward
# ------------------------------------------------------------------------------------------------


def forward_for_backward(dtype=np.float64, reset_after=True):
    inputs = valid_inputs(dtype, reset_after)
    y, h, saved = call_forward(inputs)
    rng = np.random.default_rng(2)
    up = dict(dy=rng.standard_normal((B, T, H)).astype(dtype),
              dh_T=rng.standard_normal((B, H)).astype(dtype))
    return y, saved, up


def expect_backward_error(up, saved, exc):
    before = copy_inputs(up)
    with pytest.raises(exc, match=BACKWARD_MSG):
        ops.gru_backward(up["dy"], up["dh_T"], saved)
    assert_unchanged(before, up, "failed gru_backward")


@pytest.mark.parametrize("bad_saved", ["None", "dict", "tuple", "empty_tuple", "string", "array", "y",
                                       "object", "lstm_saved"])
def test_backward_saved_not_from_forward(bad_saved):
    y, saved, up = forward_for_backward()
    if bad_saved == "lstm_saved":
        rng = np.random.default_rng(3)
        x = rng.standard_normal((B, T, I))
        *_, bad = ops.lstm_forward(x, np.zeros((I, 4 * H)), np.zeros((H, 4 * H)), None)
    else:
        bad = {"None": None, "dict": {"x": y}, "tuple": (y, y, y), "empty_tuple": (), "string": "saved",
               "array": np.zeros(10), "y": y, "object": object()}[bad_saved]
    expect_backward_error(up, bad, TypeError)


WRONG_UPSTREAM_SHAPES = {
    "dy": [(B, T, H + 1), (B, T + 1, H), (B + 1, T, H), (B, T), (B, T, H, 1), (T, B, H)],
    "dh_T": [(B, H + 1), (B + 1, H), (H,), (1, B, H), (H, B)],
}
UPSTREAM_SHAPE_CASES = [(n, s) for n, shapes in WRONG_UPSTREAM_SHAPES.items() for s in shapes]


@RESET_AFTER
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,shape", UPSTREAM_SHAPE_CASES, ids=[f"{n}-{s}" for n, s in UPSTREAM_SHAPE_CASES])
def test_backward_upstream_wrong_shape(name, shape, dtype, reset_after):
    _, saved, up = forward_for_backward(dtype, reset_after)
    up[name] = np.ones(shape, dtype=dtype)
    expect_backward_error(up, saved, ValueError)


@pytest.mark.parametrize("forward_dtype,bad", [(np.float64, np.float32), (np.float32, np.float64),
                                               (np.float64, np.float16), (np.float64, np.int64),
                                               (np.float64, np.complex128), (np.float32, np.bool_)],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["dy", "dh_T"])
def test_backward_upstream_wrong_dtype(name, forward_dtype, bad):
    _, saved, up = forward_for_backward(forward_dtype)
    up[name] = up[name].astype(bad)
    expect_backward_error(up, saved, TypeError)


@pytest.mark.parametrize("name", ["dy", "dh_T"])
def test_backward_upstream_junk(name):
    _, saved, up = forward_for_backward()
    up[name] = "not an array"
    expect_backward_error(up, saved, TypeError)


def test_failed_backward_leaves_saved_usable():
    """Errors in gru_backward do not consume or corrupt saved."""
    _, saved, up = forward_for_backward()
    good = ops.gru_backward(up["dy"], up["dh_T"], saved)
    for bad in (dict(up, dy=up["dy"][:, :, :-1]), dict(up, dh_T=up["dh_T"].astype(np.float32))):
        with pytest.raises((ValueError, TypeError), match=BACKWARD_MSG):
            ops.gru_backward(bad["dy"], bad["dh_T"], saved)
    again = ops.gru_backward(up["dy"], up["dh_T"], saved)
    for a, b in zip(good, again):
        np.testing.assert_array_equal(a, b)
