"""The training-path kernels (ops.embedding_*, ops.dense_*, ops.adam_update) against the float64
reference: hypothesis over sizes (1, primes, around the parallel thresholds), both dtypes,
non-contiguous inputs; inputs unchanged (Adam's in-place update aside); bad input errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyseq
from helpers import assert_close, make_noncontiguous
from pyseq import ops, reference

DTYPES = [np.float32, np.float64]
SIZES = st.sampled_from([1, 2, 3, 7, 16, 17, 31, 64, 127])


@settings(max_examples=40)
@given(V=SIZES, D=SIZES, N=st.sampled_from([1, 5, 64, 1031]), seed=st.integers(0, 2**16),
       dtype=st.sampled_from(DTYPES), idx_dtype=st.sampled_from([np.int32, np.int64, np.uint8]),
       noncontig=st.booleans())
def test_embedding_against_reference(V, D, N, seed, dtype, idx_dtype, noncontig):
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((V, D)).astype(dtype)
    idx = rng.integers(0, min(V, 255), (N,)).astype(idx_dtype).reshape(-1, 1) if N % 5 else \
        rng.integers(0, min(V, 255), (N,)).astype(idx_dtype)
    if noncontig:
        table = make_noncontiguous(table, rng)
    before = table.copy()
    out, saved = ops.embedding_forward(table, idx)
    ref, rsaved = reference.embedding_forward(table, idx)
    assert out.dtype == dtype and out.shape == idx.shape + (D,)
    np.testing.assert_array_equal(out, ref.astype(dtype))
    np.testing.assert_array_equal(table, before)
    d_out = rng.standard_normal(out.shape).astype(dtype)
    d_table, d_idx = ops.embedding_backward(d_out, saved)
    assert d_idx is None and d_table.dtype == dtype
    assert_close(d_table, reference.embedding_backward(d_out, rsaved)[0], dtype, "d_table")
    zero, _ = ops.embedding_backward(None, saved)
    np.testing.assert_array_equal(zero, np.zeros((V, D)))


def test_embedding_backward_independent_of_threads():
    rng = np.random.default_rng(0)
    table = rng.standard_normal((3000, 64)).astype(np.float32)
    idx = rng.integers(0, 3000, (4000,))
    d = rng.standard_normal((4000, 64)).astype(np.float32)
    _, saved = ops.embedding_forward(table, idx)
    n = pyseq.get_num_threads()
    try:
        pyseq.set_num_threads(1)
        one = ops.embedding_backward(d, saved)[0]
        pyseq.set_num_threads(2)
        two = ops.embedding_backward(d, saved)[0]
    finally:
        pyseq.set_num_threads(n)
    np.testing.assert_array_equal(one, two)


@settings(max_examples=40)
@given(M=SIZES, K=SIZES, U=SIZES, seed=st.integers(0, 2**16), dtype=st.sampled_from(DTYPES),
       bias=st.booleans(), noncontig=st.booleans(), big=st.booleans())
def test_dense_against_reference(M, K, U, seed, dtype, bias, noncontig, big):
    rng = np.random.default_rng(seed)
    if big:  # past the threshold where the team splits the products
        M = M * 37
    x = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((K, U)).astype(dtype)
    b = rng.standard_normal(U).astype(dtype) if bias else None
    if noncontig:
        x, w = make_noncontiguous(x, rng), make_noncontiguous(w, rng)
    xb, wb = x.copy(), w.copy()
    y, saved = ops.dense_forward(x, w, b)
    ry, rsaved = reference.dense_forward(x, w, b)
    assert y.dtype == dtype
    assert_close(y, ry, dtype, "y", factor=max(1, K / 16))
    dz = rng.standard_normal(y.shape).astype(dtype)
    got = ops.dense_backward(dz, saved)
    ref = reference.dense_backward(dz, rsaved)
    for name, g, r in zip(("dx", "dkernel", "dbias"), got, ref):
        if r is None:
            assert g is None
        else:
            assert_close(g, r, dtype, name, factor=max(1, M / 16, U / 16))
    np.testing.assert_array_equal(x, xb)
    np.testing.assert_array_equal(w, wb)
    dx, dw, db = ops.dense_backward(None, saved)
    assert not dx.any() and not dw.any() and (db is None or not db.any())


@settings(max_examples=40)
@given(n=st.sampled_from([1, 7, 1000, 32767, 32768, 40001]), seed=st.integers(0, 2**16),
       dtype=st.sampled_from(DTYPES), amsgrad=st.booleans(), t=st.integers(1, 50))
def test_adam_update_against_reference(n, seed, dtype, amsgrad, t):
    rng = np.random.default_rng(seed)
    var = rng.standard_normal(n).astype(dtype)
    m = (0.1 * rng.standard_normal(n)).astype(dtype)
    v = rng.random(n).astype(dtype) * 0.01
    v_hat = (rng.random(n) * 0.01).astype(dtype) if amsgrad else None
    g = rng.standard_normal(n).astype(dtype)
    kw = dict(alpha=1e-3 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t), beta_1=0.9, beta_2=0.999,
              epsilon=1e-7)
    ref = reference.adam_update(var.astype(np.float64), m.astype(np.float64),
                                v.astype(np.float64), g,
                                v_hat=None if v_hat is None else v_hat.astype(np.float64), **kw)
    gb = g.copy()
    ops.adam_update(var, m, v, g, v_hat=v_hat, **kw)
    np.testing.assert_array_equal(g, gb)
    for name, got, r in zip(("var", "m", "v", "v_hat"), (var, m, v, v_hat), ref):
        if r is not None:
            assert_close(got, r, dtype, name, factor=10)


def test_bad_inputs():
    t = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[embedding_forward\] indices must be in \[0, 5\)"):
        ops.embedding_forward(t, np.array([5]))
    with pytest.raises(ValueError, match=r"\[embedding_forward\].*\[-1, 0\]"):
        ops.embedding_forward(t, np.array([0, -1]))
    with pytest.raises(TypeError, match=r"\[embedding_forward\] indices must be an integer"):
        ops.embedding_forward(t, np.array([0.0]))
    with pytest.raises(TypeError, match=r"\[embedding_forward\] table"):
        ops.embedding_forward(t.astype(np.int32), np.array([0]))
    with pytest.raises(ValueError, match=r"\[embedding_forward\] table must"):
        ops.embedding_forward(np.zeros(3, np.float32), np.array([0]))
    _, saved = ops.embedding_forward(t, np.array([[1, 2]]))
    with pytest.raises(ValueError, match=r"\[embedding_backward\] d_out"):
        ops.embedding_backward(np.zeros((2, 3), np.float32), saved)
    with pytest.raises(TypeError, match=r"\[embedding_backward\] d_out"):
        ops.embedding_backward(np.zeros((1, 2, 3)), saved)
    x, w = np.zeros((4, 3), np.float32), np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"\[dense_forward\] kernel must be \(K, U\)"):
        ops.dense_forward(x, np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match=r"\[dense_forward\] kernel"):
        ops.dense_forward(x, w.astype(np.float64))
    with pytest.raises(ValueError, match=r"\[dense_forward\] bias"):
        ops.dense_forward(x, w, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"\[dense_forward\] x must"):
        ops.dense_forward(np.zeros(3, np.float32), w)
    _, saved = ops.dense_forward(x, w)
    with pytest.raises(ValueError, match=r"\[dense_backward\] dz"):
        ops.dense_backward(np.zeros((4, 3), np.float32), saved)
    v = np.zeros(4, np.float32)
    kw = dict(alpha=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    with pytest.raises(ValueError, match=r"\[adam_update\] m must be a writeable C-contiguous"):
        ops.adam_update(v, np.zeros(8, np.float32)[::2], np.zeros(4, np.float32), v, **kw)
    with pytest.raises(TypeError, match=r"\[adam_update\] v"):
        ops.adam_update(v, np.zeros(4, np.float32), np.zeros(4), v, **kw)
    with pytest.raises(ValueError, match=r"\[adam_update\] grad"):
        ops.adam_update(v, np.zeros(4, np.float32), np.zeros(4, np.float32),
                        np.zeros(5, np.float32), **kw)
    for name, bad in (("alpha", "0.1"), ("beta_1", None), ("beta_2", [0.9]), ("epsilon", 1j)):
        with pytest.raises(TypeError, match=rf"\[adam_update\] {name} must be a real number"):
            ops.adam_update(v, np.zeros(4, np.float32), np.zeros(4, np.float32), v,
                            **{**kw, name: bad})
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"\[adam_update\] var"):
        ops.adam_update(ro, np.zeros(4, np.float32), np.zeros(4, np.float32), v, **kw)
