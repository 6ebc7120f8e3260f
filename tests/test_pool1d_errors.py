"""Bad input to the 1-D pooling ops: the right exception, a message that names the op and says
what it got, and no input modified."""

import numpy as np
import pytest

from pyseq import ops

from helpers import assert_unchanged, copy_inputs

B, T, C = 2, 7, 3
WINDOWED = ["max_pool1d", "avg_pool1d"]
GLOBAL = ["global_max_pool1d", "global_avg_pool1d"]


def x0(dtype=np.float64):
    return np.random.default_rng(0).standard_normal((B, T, C)).astype(dtype)


def expect(op, exc, *args, **kw):
    before = copy_inputs({f"a{i}": a for i, a in enumerate(args)} | {k: v for k, v in kw.items()})
    with pytest.raises(exc, match=rf"(?s)^\[{op}_forward\].*\bgot\b"):
        getattr(ops, op + "_forward")(*args, **kw)
    assert_unchanged(before, {f"a{i}": a for i, a in enumerate(args)} | dict(kw), op)


@pytest.mark.parametrize("op", WINDOWED)
@pytest.mark.parametrize("kw,exc", [
    (dict(pool_size=0), ValueError), (dict(pool_size=-3), ValueError), (dict(pool_size=2.0), TypeError),
    (dict(pool_size=True), TypeError), (dict(pool_size=(2,)), TypeError),
    (dict(pool_size=2, strides=0), ValueError), (dict(pool_size=2, strides=1.5), TypeError),
    (dict(pool_size=2, padding="causal"), ValueError), (dict(pool_size=2, padding="full"), ValueError),
    (dict(pool_size=2, padding=None), TypeError), (dict(pool_size=T + 1), ValueError),
])
def test_bad_options(op, kw, exc):
    expect(op, exc, x0(), **kw)


@pytest.mark.parametrize("op", WINDOWED + GLOBAL)
@pytest.mark.parametrize("x,exc", [
    (np.zeros((B, T)), ValueError), (np.zeros((B, T, C, 1)), ValueError), (np.zeros((0, T, C)), ValueError),
    (np.zeros((B, 0, C)), ValueError), (np.zeros((B, T, 0)), ValueError),
    (np.zeros((B, T, C), np.int64), TypeError), (np.zeros((B, T, C), np.float16), TypeError),
    (object(), TypeError),
])
def test_bad_x(op, x, exc):
    if op in GLOBAL:
        expect(op, exc, x)
    else:
        expect(op, exc, x, 2)


@pytest.mark.parametrize("op", GLOBAL)
@pytest.mark.parametrize("mask,exc", [
    (np.ones((B, T + 1), bool), ValueError), (np.ones((T, B), bool), ValueError), (np.ones((B,), bool), ValueError),
    (np.ones((B, T), np.int32), TypeError), (np.ones((B, T), np.float64), TypeError),
])
def test_bad_mask(op, mask, exc):
    expect(op, exc, x0(), mask)


@pytest.mark.parametrize("op", WINDOWED + GLOBAL)
def test_backward_bad_dy_and_saved(op):
    args = () if op in GLOBAL else (2,)
    y, saved = getattr(ops, op + "_forward")(x0(), *args)
    bwd = getattr(ops, op + "_backward")
    msg = rf"(?s)^\[{op}_backward\].*\bgot\b"
    with pytest.raises(ValueError, match=msg):
        bwd(np.zeros(y.shape + (1,)), saved)
    with pytest.raises(TypeError, match=msg):
        bwd(y.astype(np.float32), saved)
    with pytest.raises(TypeError, match=msg):
        bwd(y, object())
    other = {"max_pool1d": "avg_pool1d", "avg_pool1d": "max_pool1d",
             "global_max_pool1d": "global_avg_pool1d", "global_avg_pool1d": "global_max_pool1d"}[op]
    _, other_saved = getattr(ops, other + "_forward")(x0(), *args)
    with pytest.raises(TypeError, match=msg):
        bwd(y, other_saved)


def test_windowed_ops_accept_numpy_integers():
    y, _ = ops.max_pool1d_forward(x0(), np.int64(2), strides=np.int32(1))
    assert y.shape == (B, T - 1, C)
