"""The CUDA ops (attention, LSTM, GRU, SimpleRNN, conv1d, pooling) on GPU arrays against the same float64 oracle as the CPU tests,
with the CPU tests' problem generators. Arrays are PyTorch CUDA tensors; everything here is
skipped, with the reason, where there is no CUDA GPU or pyseq was built without CUDA."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings

import pyseq
from pyseq import _core, ops, reference

import test_attention as cpu_attention
import test_lstm as cpu_lstm
import test_conv1d as cpu_conv1d
import test_gru as cpu_gru
import test_pool1d as cpu_pool1d
import test_simple_rnn as cpu_rnn
from gru_helpers import GRU_GRAD_NAMES, GRU_OUT_NAMES, call_gru_forward
from helpers import (LSTM_GRAD_NAMES, assert_close, make_mask, LSTM_POSITIONAL, RNN_GRAD_NAMES, assert_all_close, call_lstm_forward,
                     call_rnn_forward, numeric_gradients)

try:
    import torch
    HAVE_GPU = torch.cuda.is_available()
except ImportError:  # pragma: no cover - torch is in the test environment
    torch, HAVE_GPU = None, False

pytestmark = [
    pytest.mark.skipif(not HAVE_GPU, reason="no CUDA GPU"),
    pytest.mark.skipif(HAVE_GPU and not pyseq.build_info()["cuda"],
                       reason="pyseq built without CUDA (pip install . -Ccmake.define.PYSEQ_CUDA=ON)"),
]

# GPU sums run in another order than the CPU's (and dQ with atomics): twice the CPU tolerance.
FACTOR = 2.0


def to_gpu(a, strided=False):
    """A NumPy array as a CUDA tensor; ``strided`` gives a non-contiguous view of equal values."""
    if a is None:
        return None
    t = torch.as_tensor(np.ascontiguousarray(a), device="cuda")
    if not strided or t.ndim == 0:
        return t
    big = torch.zeros(t.shape[:-1] + (2 * t.shape[-1],), dtype=t.dtype, device="cuda")
    big[..., ::2] = t
    return big[..., ::2]


def to_host(t):
    assert isinstance(t, torch.Tensor) and t.is_cuda, type(t)
    return t.detach().cpu().numpy()


# ------------------------------------------------------------------------------------------------
# attention
# ------------------------------------------------------------------------------------------------


def check_attention(p):
    """GPU attention forward/backward on Problem p (test_attention's) against the oracle."""
    inputs = cpu_attention.build(replace(p, noncontiguous=False))
    opts = cpu_attention.options(p, inputs)
    g = {k: to_gpu(v, strided=p.noncontiguous) for k, v in inputs.items()}
    before = {k: None if v is None else v.clone() for k, v in g.items()}
    o, saved = ops.attention_forward(g["q"], g["k"], g["v"], **dict(opts, key_mask=g["key_mask"],
                                                                      attn_mask=g["attn_mask"]))
    grads = ops.attention_backward(g["do"], saved)
    dt = np.dtype(p.dtype)
    for name, t in zip(("o",) + cpu_attention.GRAD_NAMES, (o,) + tuple(grads)):
        assert isinstance(t, torch.Tensor) and t.is_cuda and t.dtype == g["q"].dtype, name
    o_r, cache = reference.attention_forward(inputs["q"], inputs["k"], inputs["v"], **opts)
    grads_r = reference.attention_backward(inputs["do"], cache)
    assert_all_close((to_host(o),), (o_r,), dt, ("o",), factor=FACTOR, prefix=f"{p}\n  ")
    assert_all_close(tuple(map(to_host, grads)), grads_r, dt, cpu_attention.GRAD_NAMES, factor=FACTOR,
                     prefix=f"{p}\n  ")
    for k, v in g.items():
        if v is not None:
            assert torch.equal(v, before[k]), f"{k} was modified"
    return o, grads, saved


Problem = cpu_attention.Problem


@settings(max_examples=100)
@given(p=cpu_attention.problems())
@example(p=Problem(1, 1, 1, 1, 1, 1, np.float32))
@example(p=Problem(1, 1, 1, 1, 1, 1, np.float64, causal=True, mask="all_masked"))
@example(p=Problem(2, 3, 9, 13, 8, 3, np.float64, causal=True, mask="key+attn", dropout=0.6))
@example(p=Problem(3, 1, 13, 5, 17, 2, np.float32, causal=True, mask="attn_full_rows", noncontiguous=True))
@example(p=Problem(2, 2, 7, 11, 3, 16, np.float32, mask="key_full_rows", scale=-0.7, dropout=0.2, upstream=False))
def test_gpu_attention_matches_reference(p):
    check_attention(p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("L", [63, 64, 65, 127, 129, 389])  # the GPU tiles (64, 32, 16 rows) ± 1
@pytest.mark.parametrize("causal", [False, True])
def test_gpu_attention_tile_boundaries(dtype, L, causal):
    check_attention(cpu_attention.Problem(2, 2, L, L + 2, 64, 48, dtype, causal=causal, mask="key",
                                          dropout=0.1, seed=L))
    check_attention(cpu_attention.Problem(1, 1, L + 1, L, 16, 8, dtype, causal=causal, seed=L))


def test_gpu_attention_dropout_mask_is_the_cpu_generator():
    from pyseq import _cuda
    for seed, shape, p in ((0, (1, 1, 1, 1), 0.5), (12345, (2, 3, 17, 33), 0.3), (2**64 - 1, (1, 2, 5, 130), 0.9)):
        keep = torch.as_tensor(_cuda.attention_dropout_mask(seed, *shape, p), device="cuda")
        np.testing.assert_array_equal(to_host(keep), _core.attention_dropout_mask(seed, *shape, p))


def test_gpu_attention_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal(s) for s in ((1, 4, 2, 3), (1, 5, 2, 3), (1, 5, 2, 2)))
    do = rng.standard_normal((1, 4, 2, 2))
    km = np.array([[True, False, True, True, True]])
    opts = dict(causal=True, key_mask=to_gpu(km), dropout=0.3, seed=9)

    def loss(q, k, v):
        o, _ = ops.attention_forward(to_gpu(q), to_gpu(k), to_gpu(v), **opts)
        return float(np.sum(to_host(o) * do))

    inputs = dict(q=q, k=k, v=v)
    numeric = numeric_gradients(lambda d: loss(**d), inputs, ("q", "k", "v"))
    _, saved = ops.attention_forward(to_gpu(q), to_gpu(k), to_gpu(v), **opts)
    grads = ops.attention_backward(to_gpu(do), saved)
    for name, g, n in zip(("dq", "dk", "dv"), grads, numeric):
        np.testing.assert_allclose(to_host(g), n, rtol=1e-5, atol=1e-7, err_msg=name)


def test_gpu_attention_errors_name_the_op():
    x = torch.zeros((1, 2, 1, 3), device="cuda")
    with pytest.raises(ValueError, match=r"\[attention_forward\] k must be"):
        ops.attention_forward(x, torch.zeros((1, 2, 1, 4), device="cuda"), x)
    with pytest.raises(TypeError, match=r"\[attention_forward\] k must have the dtype float32"):
        ops.attention_forward(x, x.double(), x)
    with pytest.raises(TypeError, match=r"\[attention_forward\] q must be float32 or float64"):
        ops.attention_forward(x.half(), x.half(), x.half())
    with pytest.raises(TypeError, match=r"\[attention_forward\].*q on the GPU and k, v on the host"):
        ops.attention_forward(x, np.zeros((1, 2, 1, 3), np.float32), np.zeros((1, 2, 1, 3), np.float32))
    _, saved = ops.attention_forward(x, x, x)
    with pytest.raises(ValueError, match=r"\[attention_backward\] do must be"):
        ops.attention_backward(torch.zeros((1, 3, 1, 3), device="cuda"), saved)
    _, cpu_saved = ops.attention_forward(*(np.zeros((1, 2, 1, 3), np.float32),) * 3)
    with pytest.raises(TypeError, match=r"\[attention_backward\] saved must be the object returned by the GPU"):
        ops.attention_backward(x, cpu_saved)


# ------------------------------------------------------------------------------------------------
# LSTM
# ------------------------------------------------------------------------------------------------


def check_recurrent(family, op, call, p, opts, out_names, grad_names):
    """GPU <op>_forward/backward on Problem p of a CPU test module (``family``: its build) against
    the oracle; ``call(fn, inputs, **opts)`` calls a forward from an inputs dict."""
    inputs, up = family.build(replace(p, noncontiguous=False))
    g = {k: to_gpu(v, strided=p.noncontiguous) if isinstance(v, np.ndarray) or v is None else v
         for k, v in inputs.items()}
    g_up = tuple(to_gpu(u, strided=p.noncontiguous) for u in up)
    *outs, saved = call(getattr(ops, f"{op}_forward"), g, **opts)
    grads = getattr(ops, f"{op}_backward")(*g_up, saved)
    *outs_r, cache = call(getattr(reference, f"{op}_forward"), inputs, **opts)
    grads_r = getattr(reference, f"{op}_backward")(*up, cache)
    dt = np.dtype(p.dtype)
    assert_all_close(tuple(map(to_host, outs)), tuple(outs_r), dt, out_names, factor=FACTOR, prefix=f"{p}\n  ")
    assert_all_close(tuple(map(to_host, grads)), grads_r, dt, grad_names, factor=FACTOR, prefix=f"{p}\n  ")


def check_lstm(p):
    check_recurrent(cpu_lstm, "lstm", call_lstm_forward, p,
                    dict(reverse=p.reverse, zero_output_for_mask=p.zero_output_for_mask),
                    cpu_lstm.OUT_NAMES, LSTM_GRAD_NAMES)


LstmProblem = cpu_lstm.Problem


@settings(max_examples=100)
@given(p=cpu_lstm.problems())
@example(p=LstmProblem(1, 1, 1, 1, np.float32))
@example(p=LstmProblem(1, 1, 1, 1, np.float64, with_bias=False, with_h0=False, with_c0=False, upstream="none"))
@example(p=LstmProblem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5))
@example(p=LstmProblem(5, 7, 3, 2, np.float32, mask="leading_masked", zero_output_for_mask=True, noncontiguous=True))
@example(p=LstmProblem(7, 9, 13, 17, np.float32, mask="right_padded", reverse=True, upstream="dy", noncontiguous=True))
def test_gpu_lstm_matches_reference(p):
    check_lstm(p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,H", [(15, 15), (16, 16), (17, 17), (33, 31), (64, 130)])  # step tiles 16 ± 1
def test_gpu_lstm_tile_boundaries(dtype, B, H):
    check_lstm(cpu_lstm.Problem(B, 6, 7, H, dtype, mask="random", reverse=True, dropout_p=0.25, seed=B + H))


def test_gpu_lstm_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    B, T, I, H = 2, 4, 3, 5
    inputs = dict(x=rng.standard_normal((B, T, I)), kernel=rng.standard_normal((I, 4 * H)) * 0.5,
                  recurrent_kernel=rng.standard_normal((H, 4 * H)) * 0.5, bias=rng.standard_normal(4 * H),
                  h0=rng.standard_normal((B, H)), c0=rng.standard_normal((B, H)))
    mask = np.array([[True, False, True, True], [False, False, True, False]])
    dy, dh, dc = rng.standard_normal((B, T, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def loss(kw):
        y, h, c, _ = ops.lstm_forward(*(to_gpu(kw[k]) for k in LSTM_POSITIONAL), mask=to_gpu(mask))
        return float(np.sum(to_host(y) * dy) + np.sum(to_host(h) * dh) + np.sum(to_host(c) * dc))

    numeric = numeric_gradients(loss, inputs, LSTM_POSITIONAL)
    *_, saved = ops.lstm_forward(*(to_gpu(inputs[k]) for k in LSTM_POSITIONAL), mask=to_gpu(mask))
    grads = ops.lstm_backward(to_gpu(dy), to_gpu(dh), to_gpu(dc), saved)
    for name, g, n in zip(LSTM_GRAD_NAMES, grads, numeric):
        np.testing.assert_allclose(to_host(g), n, rtol=1e-5, atol=1e-7, err_msg=name)


def test_gpu_lstm_errors_name_the_op():
    x = torch.zeros((2, 3, 4), device="cuda")
    with pytest.raises(ValueError, match=r"\[lstm_forward\] recurrent_kernel must be \(H, 4H\)"):
        ops.lstm_forward(x, torch.zeros((4, 20), device="cuda"), torch.zeros((5, 19), device="cuda"), None)
    with pytest.raises(TypeError, match=r"\[lstm_forward\] mask must be a bool array"):
        ops.lstm_forward(x, torch.zeros((4, 20), device="cuda"), torch.zeros((5, 20), device="cuda"), None,
                         mask=torch.ones((2, 3), device="cuda"))


def test_outputs_are_views_of_pyseq_memory_in_the_callers_library():
    x = torch.randn((2, 3, 4), device="cuda", dtype=torch.float64)
    y, h, c, saved = ops.lstm_forward(x, torch.randn((4, 8), device="cuda", dtype=torch.float64),
                                      torch.randn((2, 8), device="cuda", dtype=torch.float64), None)
    for t in (y, h, c):
        assert isinstance(t, torch.Tensor) and t.device == x.device and t.dtype == torch.float64
    del saved
    torch.cuda.synchronize()
    assert torch.isfinite(y).all()  # the tensor keeps pyseq's buffer alive after saved is gone


# ------------------------------------------------------------------------------------------------
# GRU (reset_after=True) and SimpleRNN
# ------------------------------------------------------------------------------------------------


def check_gru(p):
    check_recurrent(cpu_gru, "gru", call_gru_forward, p,
                    dict(reverse=p.reverse, zero_output_for_mask=p.zero_output_for_mask),
                    GRU_OUT_NAMES, GRU_GRAD_NAMES)


def check_rnn(p):
    check_recurrent(cpu_rnn, "rnn", call_rnn_forward, p,
                    dict(activation=p.activation, reverse=p.reverse, zero_output_for_mask=p.zero_output_for_mask),
                    cpu_rnn.OUT_NAMES, RNN_GRAD_NAMES)


@settings(max_examples=100)
@given(p=cpu_gru.problems().map(lambda p: replace(p, reset_after=True)))
@example(p=cpu_gru.Problem(1, 1, 1, 1, np.float32))
@example(p=cpu_gru.Problem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5))
@example(p=cpu_gru.Problem(7, 9, 13, 17, np.float32, mask="right_padded", zero_output_for_mask=True, noncontiguous=True))
def test_gpu_gru_matches_reference(p):
    check_gru(p)


@settings(max_examples=100)
@given(p=cpu_rnn.problems())
@example(p=cpu_rnn.Problem(1, 1, 1, 1, np.float32))
@example(p=cpu_rnn.Problem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5,
                           activation="relu"))
@example(p=cpu_rnn.Problem(7, 9, 13, 17, np.float32, mask="leading_masked", activation=None, noncontiguous=True))
def test_gpu_rnn_matches_reference(p):
    check_rnn(p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,H", [(15, 15), (17, 17), (33, 31)])  # step tiles 16 ± 1
def test_gpu_gru_and_rnn_tile_boundaries(dtype, B, H):
    check_gru(cpu_gru.Problem(B, 6, 7, H, dtype, mask="random", reverse=True, dropout_p=0.25, seed=B + H))
    check_rnn(cpu_rnn.Problem(B, 6, 7, H, dtype, mask="random", dropout_p=0.25, activation="sigmoid", seed=B))


def test_gpu_gru_reset_before_is_not_there_yet():
    x = torch.zeros((2, 3, 4), device="cuda")
    with pytest.raises(NotImplementedError, match=r"\[gru_forward\] the CUDA backend has reset_after=True only"):
        ops.gru_forward(x, torch.zeros((4, 15), device="cuda"), torch.zeros((5, 15), device="cuda"), None,
                        reset_after=False)


# ------------------------------------------------------------------------------------------------
# conv1d and pooling
# ------------------------------------------------------------------------------------------------


def check_conv1d(p):
    inputs, dy = cpu_conv1d.build(replace(p, noncontiguous=False))
    opts = cpu_conv1d.options(p)
    g = {k: to_gpu(v, strided=p.noncontiguous) for k, v in inputs.items()}
    y, saved = ops.conv1d_forward(g["x"], g["kernel"], g["bias"], **opts)
    grads = ops.conv1d_backward(to_gpu(dy, strided=p.noncontiguous), saved)
    y_r, cache = reference.conv1d_forward(inputs["x"], inputs["kernel"], inputs["bias"], **opts)
    grads_r = reference.conv1d_backward(dy, cache)
    dt = np.dtype(p.dtype)
    assert_close(to_host(y), y_r, dt, f"{p}\n  y", factor=FACTOR)
    assert (grads[2] is None) == (not p.with_bias)
    for name, gr, r in zip(cpu_conv1d.GRAD_NAMES, grads, grads_r):
        if r is not None:
            assert_close(to_host(gr), r, dt, f"{p}\n  {name}", factor=FACTOR)


@settings(max_examples=100)
@given(p=cpu_conv1d.problems())
@example(p=cpu_conv1d.Problem(1, 1, 1, 1, 1, np.float32))
@example(p=cpu_conv1d.Problem(2, 17, 6, 9, 5, np.float64, stride=3, padding="same", dilation=2, groups=3))
@example(p=cpu_conv1d.Problem(3, 9, 4, 4, 3, np.float32, padding="causal", groups=4, with_bias=False,
                              noncontiguous=True, upstream=False))
def test_gpu_conv1d_matches_reference(p):
    check_conv1d(p)


def check_pool1d(p):
    rng = np.random.default_rng(p.seed)
    dt = np.dtype(p.dtype)
    x = (rng.integers(-2, 3, size=(p.B, p.T, p.C)) if p.ties else rng.standard_normal((p.B, p.T, p.C))).astype(dt)
    mask = make_mask(rng, p.B, p.T, p.mask) if p.op in cpu_pool1d.GLOBAL else None
    y_r, cache = cpu_pool1d.run(reference, p, x, mask)
    dy = rng.standard_normal(y_r.shape).astype(dt) if p.upstream else None
    y, saved = cpu_pool1d.run(ops, p, to_gpu(x, strided=p.noncontiguous), to_gpu(mask))
    (dx,) = getattr(ops, p.op + "_backward")(to_gpu(dy, strided=p.noncontiguous), saved)
    (dx_r,) = getattr(reference, p.op + "_backward")(dy, cache)
    assert_close(to_host(y), y_r, dt, f"{p}\n  y")
    assert_close(to_host(dx), dx_r, dt, f"{p}\n  dx")


@settings(max_examples=100)
@given(p=cpu_pool1d.problems())
@example(p=cpu_pool1d.Problem("max_pool1d", 2, 10, 3, np.float32, pool_size=4, strides=1, padding="same", ties=True))
@example(p=cpu_pool1d.Problem("avg_pool1d", 2, 3, 4, np.float64, pool_size=7, padding="same"))
@example(p=cpu_pool1d.Problem("global_max_pool1d", 3, 6, 4, np.float64, mask="fully_masked_rows", ties=True))
@example(p=cpu_pool1d.Problem("global_avg_pool1d", 3, 6, 4, np.float32, mask="fully_masked_rows", noncontiguous=True))
def test_gpu_pool1d_matches_reference(p):
    check_pool1d(p)
