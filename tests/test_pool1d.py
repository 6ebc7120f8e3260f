"""pyseq.ops 1-D pooling (max, average, global max, global average) against the float64 oracle in
pyseq.reference, finite differences, PyTorch where installed, and the documented edge cases."""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import pyseq
from pyseq import ops, reference

from helpers import MASK_KINDS, assert_close, assert_unchanged, copy_inputs, make_mask, make_noncontiguous

DTYPES = [np.float32, np.float64]
WINDOWED = ["max_pool1d", "avg_pool1d"]
GLOBAL = ["global_max_pool1d", "global_avg_pool1d"]


@dataclass(frozen=True)
class Problem:
    op: str
    B: int
    T: int
    C: int
    dtype: type
    pool_size: int = 2
    strides: object = None
    padding: str = "valid"
    mask: str = "none"
    ties: bool = False          # draw x from a few integers, so that windows hold equal maxima
    noncontiguous: bool = False
    upstream: bool = True
    seed: int = 0


@st.composite
def problems(draw):
    op = draw(st.sampled_from(WINDOWED + GLOBAL))
    T = draw(st.integers(1, 20))
    pool = draw(st.integers(1, 7))
    padding = draw(st.sampled_from(["valid", "same"]))
    if padding == "valid" and pool > T:
        T = pool + draw(st.integers(0, 3))
    return Problem(op=op, B=draw(st.sampled_from([1, 2, 3, 5])), T=T,
                   C=draw(st.sampled_from([1, 2, 3, 8, 15, 16, 17, 33])),
                   dtype=draw(st.sampled_from(DTYPES)), pool_size=pool,
                   strides=draw(st.sampled_from([None, 1, 2, 3, 8])), padding=padding,
                   mask=draw(st.sampled_from(MASK_KINDS)), ties=draw(st.booleans()),
                   noncontiguous=draw(st.booleans()), upstream=draw(st.booleans()),
                   seed=draw(st.integers(0, 2**32 - 1)))


def run(mod, p, x, mask):
    fwd = getattr(mod, p.op + "_forward")
    if p.op in GLOBAL:
        return fwd(x, mask)
    return fwd(x, p.pool_size, strides=p.strides, padding=p.padding)


def check_against_reference(p):
    rng = np.random.default_rng(p.seed)
    dt = np.dtype(p.dtype)
    if p.ties:
        x = rng.integers(-2, 3, size=(p.B, p.T, p.C)).astype(dt)
    else:
        x = rng.standard_normal((p.B, p.T, p.C)).astype(dt)
    mask = make_mask(rng, p.B, p.T, p.mask) if p.op in GLOBAL else None
    y_r, cache = run(reference, p, x, mask)
    dy = rng.standard_normal(y_r.shape).astype(dt) if p.upstream else None
    if p.noncontiguous:
        x, mask, dy = (make_noncontiguous(a, rng) for a in (x, mask, dy))
    before = copy_inputs(dict(x=x, mask=mask, dy=dy))

    y, saved = run(ops, p, x, mask)
    grads = getattr(ops, p.op + "_backward")(dy, saved)
    (dx_r,) = getattr(reference, p.op + "_backward")(dy, cache)
    assert isinstance(grads, tuple) and len(grads) == 1
    (dx,) = grads
    assert y.dtype == dt and dx.dtype == dt and dx.shape == x.shape
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    assert_close(y, y_r, dt, f"{p}\n  y")
    assert_close(dx, dx_r, dt, f"{p}\n  dx")
    assert_unchanged(before, dict(x=x, mask=mask, dy=dy), p.op)


@given(p=problems())
@example(p=Problem("max_pool1d", 1, 1, 1, np.float32, pool_size=1))
@example(p=Problem("avg_pool1d", 2, 3, 4, np.float64, pool_size=7, padding="same"))       # pool > T
@example(p=Problem("max_pool1d", 2, 10, 3, np.float32, pool_size=4, strides=1, padding="same", ties=True))
@example(p=Problem("avg_pool1d", 2, 10, 3, np.float32, pool_size=2, strides=5))            # stride > pool
@example(p=Problem("global_max_pool1d", 3, 6, 4, np.float64, mask="fully_masked_rows", ties=True))
@example(p=Problem("global_avg_pool1d", 3, 6, 4, np.float32, mask="fully_masked_rows", noncontiguous=True))
def test_pool1d_matches_reference(p):
    check_against_reference(p)


@pytest.mark.parametrize("op", WINDOWED + GLOBAL)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pool1d_larger(op, dtype):
    for padding in ("valid", "same"):
        check_against_reference(Problem(op, 3, 203, 67, dtype, pool_size=5, strides=3, padding=padding,
                                        mask="random", seed=7))


# ------------------------------------------------------------------------------------------------
# Documented choices
# ------------------------------------------------------------------------------------------------


def test_max_tie_goes_to_the_first_maximum():
    x = np.array([[[1.0], [3.0], [3.0], [0.0]]])
    y, saved = ops.max_pool1d_forward(x, 4)
    (dx,) = ops.max_pool1d_backward(np.ones((1, 1, 1)), saved)
    np.testing.assert_array_equal(dx[0, :, 0], [0, 1, 0, 0])
    y, saved = ops.global_max_pool1d_forward(x)
    (dx,) = ops.global_max_pool1d_backward(np.ones((1, 1)), saved)
    np.testing.assert_array_equal(dx[0, :, 0], [0, 1, 0, 0])


def test_same_average_counts_real_steps_only():
    """TF's rule: T 5, pool 2, stride 2 -> 3 outputs, one pad step on the right; the last window
    holds one real step and averages over it alone."""
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)
    y, _ = ops.avg_pool1d_forward(x, 2, padding="same")
    np.testing.assert_array_equal(y[0, :, 0], [1.5, 3.5, 5.0])
    y, _ = ops.max_pool1d_forward(-x, 2, padding="same")
    np.testing.assert_array_equal(y[0, :, 0], [-1.0, -3.0, -5.0])  # padding never wins a max


@pytest.mark.parametrize("op", GLOBAL)
@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_masked_row_gives_zeros_and_zero_gradient(op, dtype):
    x = np.full((2, 4, 3), -5.0, dtype=dtype)
    mask = np.array([[False] * 4, [True, False, True, False]])
    y, saved = getattr(ops, op + "_forward")(x, mask)
    np.testing.assert_array_equal(y[0], 0.0)
    np.testing.assert_array_equal(y[1], -5.0)
    (dx,) = getattr(ops, op + "_backward")(np.ones((2, 3), dtype=dtype), saved)
    np.testing.assert_array_equal(dx[0], 0.0)
    np.testing.assert_array_equal(dx[1, 1], 0.0)
    np.testing.assert_array_equal(dx[1, 3], 0.0)
    assert np.all(np.isfinite(dx))


@pytest.mark.parametrize("op", WINDOWED + GLOBAL)
def test_none_upstream_gives_zeros(op):
    x = np.random.default_rng(1).standard_normal((2, 6, 3))
    y, saved = run(ops, Problem(op, 2, 6, 3, np.float64), x, None)
    (dx,) = getattr(ops, op + "_backward")(None, saved)
    assert dx.shape == x.shape and not np.any(dx)


@pytest.mark.parametrize("op", WINDOWED + GLOBAL)
def test_thread_count_does_not_change_results(op):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 50, 20)).astype(np.float32)
    p = Problem(op, 3, 50, 20, np.float32, pool_size=4, strides=3, padding="same")
    n0 = pyseq.get_num_threads()
    out = {}
    try:
        for n in (1, 2, 3):
            pyseq.set_num_threads(n)
            y, saved = run(ops, p, x, None)
            out[n] = (y, getattr(ops, op + "_backward")(np.ones_like(y), saved)[0])
    finally:
        pyseq.set_num_threads(n0)
    for n in (2, 3):
        np.testing.assert_array_equal(out[n][0], out[1][0])
        np.testing.assert_array_equal(out[n][1], out[1][1])


# ------------------------------------------------------------------------------------------------
# Finite differences (float64; values far apart so that no max changes within eps)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op,pool,strides,padding", [
    ("max_pool1d", 3, 2, "same"), ("max_pool1d", 2, 1, "valid"), ("avg_pool1d", 3, 2, "same"),
    ("avg_pool1d", 4, 1, "same"), ("global_max_pool1d", 0, 0, ""), ("global_avg_pool1d", 0, 0, ""),
])
def test_gradients_match_finite_differences(op, pool, strides, padding):
    eps = 1e-6
    rng = np.random.default_rng(3)
    B, T, C = 2, 7, 3
    x = rng.permutation(B * T * C).reshape(B, T, C) * 0.1
    mask = np.array([[True] * 7, [False, True, True, False, True, False, False]]) if op in GLOBAL else None
    p = Problem(op, B, T, C, np.float64, pool_size=pool, strides=strides, padding=padding)
    y, saved = run(ops, p, x, mask)
    dy = rng.standard_normal(y.shape)
    (dx,) = getattr(ops, op + "_backward")(dy, saved)
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (np.sum(run(ops, p, xp, mask)[0] * dy) - np.sum(run(ops, p, xm, mask)[0] * dy)) / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------------------------
# PyTorch (channels-first) where installed
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("pool,strides", [(2, None), (3, 1), (5, 2), (2, 4)])
def test_matches_torch(kind, pool, strides):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 29, 10)).astype(np.float32)
    y, saved = getattr(ops, f"{kind}_pool1d_forward")(x, pool, strides=strides)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    (dx,) = getattr(ops, f"{kind}_pool1d_backward")(dy, saved)
    xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)
    fn = getattr(torch.nn.functional, f"{kind}_pool1d")
    yt = fn(xt, pool, stride=strides if strides is not None else pool)
    yt.backward(torch.tensor(dy.transpose(0, 2, 1).copy()))
    assert_close(y, yt.detach().numpy().transpose(0, 2, 1), np.float32, "y vs torch")
    assert_close(dx, xt.grad.numpy().transpose(0, 2, 1), np.float32, "dx vs torch")
