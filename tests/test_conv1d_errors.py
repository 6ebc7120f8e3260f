"""Bad input to pyseq.ops.conv1d_forward / conv1d_backward: the right exception, a message that
names the op and says what it got, and no input modified."""

import numpy as np
import pytest

from pyseq import ops

from helpers import assert_unchanged, copy_inputs

B, T, C, F, K = 2, 9, 6, 4, 3
FWD = r"(?s)^\[conv1d_forward\].*\bgot\b"
BWD = r"(?s)^\[conv1d_backward\].*\bgot\b"


def valid(dtype=np.float64, groups=1):
    rng = np.random.default_rng(0)
    return dict(x=rng.standard_normal((B, T, C)).astype(dtype),
                kernel=rng.standard_normal((K, C // groups, F)).astype(dtype),
                bias=rng.standard_normal(F).astype(dtype))


def expect(exc, inputs=None, msg=FWD, **opts):
    inputs = valid() if inputs is None else inputs
    before = copy_inputs(inputs)
    with pytest.raises(exc, match=msg):
        ops.conv1d_forward(inputs["x"], inputs["kernel"], inputs["bias"], **opts)
    assert_unchanged(before, inputs, "failed conv1d_forward")


def test_valid_inputs_are_accepted():
    for dtype in (np.float32, np.float64):
        y, saved = ops.conv1d_forward(**valid(dtype))
        assert y.shape == (B, T - K + 1, F)
        ops.conv1d_backward(None, saved)


@pytest.mark.parametrize("name,shape", [
    ("x", (B * T, C)), ("x", (B, T, C, 1)), ("x", ()),
    ("kernel", (K * C, F)), ("kernel", (1, K, C, F)), ("kernel", (K, C, F + 1)),   # F must match bias
    ("kernel", (K, C + 1, F)), ("kernel", (K, C // 2, F)), ("kernel", (F, C, K)),
    ("bias", (F + 1,)), ("bias", (1, F)), ("bias", ()),
])
def test_wrong_ndim_or_shape(name, shape):
    inputs = valid()
    inputs[name] = np.zeros(shape)
    expect(ValueError, inputs)


@pytest.mark.parametrize("name", ["x", "kernel", "bias"])
@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.complex64, bool])
def test_wrong_dtype(name, dtype):
    inputs = valid()
    inputs[name] = inputs[name].astype(dtype)
    expect(TypeError, inputs)


@pytest.mark.parametrize("name", ["kernel", "bias"])
def test_mixed_float_dtypes(name):
    inputs = valid()
    inputs[name] = inputs[name].astype(np.float32)
    expect(TypeError, inputs)


def test_not_an_array():
    inputs = valid()
    inputs["x"] = object()
    expect(TypeError, inputs)


@pytest.mark.parametrize("opt,value,exc", [
    ("stride", 0, ValueError), ("stride", -1, ValueError), ("dilation", 0, ValueError),
    ("groups", 0, ValueError), ("stride", 1.0, TypeError), ("stride", True, TypeError),
    ("dilation", "2", TypeError), ("groups", None, TypeError),
    ("padding", "full", ValueError), ("padding", "", ValueError), ("padding", 1, TypeError),
    ("padding", None, TypeError),
])
def test_bad_options(opt, value, exc):
    expect(exc, **{opt: value})


def test_numpy_integer_options_are_accepted():
    y, _ = ops.conv1d_forward(**valid(), stride=np.int64(2), dilation=np.int32(1))
    assert y.shape == (B, (T - K) // 2 + 1, F)


def test_padding_is_case_insensitive_like_keras():
    a, _ = ops.conv1d_forward(**valid(), padding="SAME")
    b, _ = ops.conv1d_forward(**valid(), padding="same")
    np.testing.assert_array_equal(a, b)


def test_channels_not_divisible_by_groups():
    inputs = valid()
    inputs["kernel"] = np.zeros((K, 1, F))
    expect(ValueError, inputs, msg=r"^\[conv1d_forward\] channels C = 6 .*divisible by groups, got groups = 4", groups=4)


def test_filters_not_divisible_by_groups():
    inputs = valid(groups=3)
    expect(ValueError, inputs, msg=r"^\[conv1d_forward\] filters F = 4 .*divisible by groups, got groups = 3", groups=3)


@pytest.mark.parametrize("K_,dilation", [(T + 1, 1), (5, 3)])
def test_kernel_wider_than_valid_input(K_, dilation):
    inputs = valid()
    inputs["kernel"] = np.zeros((K_, C, F))
    expect(ValueError, inputs, msg=r"^\[conv1d_forward\] with padding 'valid' the kernel's span .*got K", dilation=dilation)
    ops.conv1d_forward(inputs["x"], inputs["kernel"], padding="same", dilation=dilation)  # fine padded


@pytest.mark.parametrize("shape", [(0, T, C), (B, 0, C), (B, T, 0)])
def test_empty_dimensions(shape):
    inputs = valid()
    inputs["x"] = np.zeros(shape)
    expect(ValueError, inputs)


def test_backward_bad_dy_and_saved():
    y, saved = ops.conv1d_forward(**valid())
    with pytest.raises(ValueError, match=BWD):
        ops.conv1d_backward(np.zeros((B, T, F)), saved)
    with pytest.raises(TypeError, match=BWD):
        ops.conv1d_backward(y.astype(np.float32), saved)
    with pytest.raises(TypeError, match=BWD):
        ops.conv1d_backward(y, object())
    _, pool_saved = ops.max_pool1d_forward(valid()["x"], 2)
    with pytest.raises(TypeError, match=BWD):
        ops.conv1d_backward(y, pool_saved)
