"""pyseq.ops.conv1d_forward / conv1d_backward against the float64 oracle in pyseq.reference,
finite differences, and PyTorch where it is installed."""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import pyseq
from pyseq import ops, reference

from helpers import (assert_all_close, assert_close, assert_unchanged, copy_inputs, make_noncontiguous,
                     numeric_gradients)

DTYPES = [np.float32, np.float64]
PADDINGS = ["valid", "same", "causal"]
GRAD_NAMES = ("dx", "dkernel", "dbias")
# Channels / filters per group around the kernel's thresholds: under 8 a group takes the direct
# loops, from 8 the packed micro-kernel (whose row blocks are 8 or 12 and panels 16 or 32 wide).
CHANNELS = [1, 2, 3, 7, 8, 9, 13, 16, 17, 33]


@dataclass(frozen=True)
class Problem:
    B: int
    T: int
    C: int
    F: int
    K: int
    dtype: type
    stride: int = 1
    padding: str = "valid"
    dilation: int = 1
    groups: int = 1
    with_bias: bool = True
    noncontiguous: bool = False
    upstream: bool = True  # False: dy is None
    seed: int = 0

    @property
    def span(self):
        return self.dilation * (self.K - 1) + 1


@st.composite
def problems(draw):
    C = draw(st.sampled_from(CHANNELS))
    groups = draw(st.sampled_from([g for g in (1, 2, 3, C) if C % g == 0]))
    F = groups * draw(st.sampled_from([1, 2, 3, 8, 9, 17]))
    K = draw(st.integers(1, 7))
    dilation = draw(st.sampled_from([1, 1, 2, 3]))
    padding = draw(st.sampled_from(PADDINGS))
    T = draw(st.integers(1, 20))
    if padding == "valid" and dilation * (K - 1) + 1 > T:
        T = dilation * (K - 1) + 1 + draw(st.integers(0, 3))
    return Problem(B=draw(st.sampled_from([1, 2, 3, 5])), T=T, C=C, F=F, K=K,
                   dtype=draw(st.sampled_from(DTYPES)), stride=draw(st.sampled_from([1, 1, 2, 3, 5])),
                   padding=padding, dilation=dilation, groups=groups,
                   with_bias=draw(st.booleans()), noncontiguous=draw(st.booleans()),
                   upstream=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


def build(p):
    rng = np.random.default_rng(p.seed)
    dt = np.dtype(p.dtype)
    cg = p.C // p.groups
    inputs = dict(x=rng.standard_normal((p.B, p.T, p.C)).astype(dt),
                  kernel=(rng.standard_normal((p.K, cg, p.F)) / np.sqrt(p.K * cg)).astype(dt),
                  bias=rng.standard_normal(p.F).astype(dt) if p.with_bias else None)
    T_out = reference.conv1d_forward(inputs["x"][:, :, :], inputs["kernel"], stride=p.stride,
                                     padding=p.padding, dilation=p.dilation, groups=p.groups)[0].shape[1]
    dy = rng.standard_normal((p.B, T_out, p.F)).astype(dt) if p.upstream else None
    if p.noncontiguous:
        inputs = {k: make_noncontiguous(v, rng) for k, v in inputs.items()}
        dy = make_noncontiguous(dy, rng)
    return inputs, dy


def options(p):
    return dict(stride=p.stride, padding=p.padding, dilation=p.dilation, groups=p.groups)


def check_against_reference(p, *, factor=1.0):
    inputs, dy = build(p)
    before = copy_inputs(dict(inputs, dy=dy))
    y, saved = ops.conv1d_forward(inputs["x"], inputs["kernel"], inputs["bias"], **options(p))
    grads = ops.conv1d_backward(dy, saved)
    y_r, cache = reference.conv1d_forward(inputs["x"], inputs["kernel"], inputs["bias"], **options(p))
    grads_r = reference.conv1d_backward(dy, cache)

    dt = np.dtype(p.dtype)
    assert isinstance(y, np.ndarray) and y.dtype == dt and y.shape == y_r.shape
    assert len(grads) == 3
    if not p.with_bias:
        assert grads[2] is None and grads_r[2] is None
    for name, g, r in zip(GRAD_NAMES, grads, grads_r):
        if r is None:
            continue
        assert isinstance(g, np.ndarray) and g.dtype == dt and g.shape == r.shape, name
        if dy is None:
            assert not np.any(g), f"{name} must be zero for dy=None"
    assert_close(y, y_r, dt, f"{p}\n  y", factor=factor)
    assert_all_close([g for g in grads if g is not None], [r for r in grads_r if r is not None], dt,
                     GRAD_NAMES, factor=factor, prefix=f"{p}\n  ")
    assert_unchanged(before, dict(inputs, dy=dy), "conv1d_forward/backward")
    return y, grads


# ------------------------------------------------------------------------------------------------
# Reference semantics, pinned by hand
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("T,stride,K,dilation,padding,T_out,pad_left", [
    (10, 1, 3, 1, "valid", 8, 0), (10, 3, 3, 1, "valid", 3, 0), (10, 1, 3, 2, "valid", 6, 0),
    (10, 1, 4, 1, "same", 10, 1),     # total pad 3: 1 left, 2 right (TF: odd extra on the right)
    (10, 3, 4, 1, "same", 4, 1),      # ceil(10/3) = 4 outputs, total pad (4-1)*3 + 4 - 10 = 3
    (10, 4, 2, 1, "same", 3, 0),      # total pad (3-1)*4 + 2 - 10 = 0
    (5, 1, 9, 1, "same", 5, 4),       # K > T
    (10, 1, 3, 2, "causal", 10, 4), (10, 3, 3, 2, "causal", 4, 4), (2, 1, 7, 1, "causal", 2, 6),
])
def test_output_length_and_padding(T, stride, K, dilation, padding, T_out, pad_left):
    """T' and the left padding, checked through a one-hot input: y[t'] sees x[u] at tap k exactly
    when u = t'*stride + k*dilation - pad_left."""
    C = F = 1
    for u in range(T):
        x = np.zeros((1, T, C))
        x[0, u, 0] = 1.0
        kernel = (np.arange(K, dtype=np.float64) + 1.0).reshape(K, 1, 1)  # tap k has weight k+1
        y, _ = ops.conv1d_forward(x, kernel, stride=stride, padding=padding, dilation=dilation)
        assert y.shape == (1, T_out, F)
        expect = np.zeros(T_out)
        for t in range(T_out):
            for k in range(K):
                if t * stride + k * dilation - pad_left == u:
                    expect[t] += k + 1.0
        np.testing.assert_array_equal(y[0, :, 0], expect)


def test_same_padding_matches_keras_rule_by_hand():
    """Hand-computed "same", stride 2, K 3 on T 4: T' = 2, total pad (2-1)*2 + 3 - 4 = 1, on the right."""
    x = np.arange(1.0, 5.0).reshape(1, 4, 1)  # 1 2 3 4
    kernel = np.array([1.0, 10.0, 100.0]).reshape(3, 1, 1)
    y, _ = ops.conv1d_forward(x, kernel, padding="same", stride=2)
    # t'=0 reads x[0..2] = 1,2,3; t'=1 reads x[2..4] = 3,4,(pad)
    np.testing.assert_array_equal(y[0, :, 0], [1 + 20 + 300, 3 + 40 + 0])


# ------------------------------------------------------------------------------------------------
# Property test: everything against the oracle
# ------------------------------------------------------------------------------------------------


@given(p=problems())
@example(p=Problem(1, 1, 1, 1, 1, np.float32))                                     # T = 1, kernel 1
@example(p=Problem(2, 3, 4, 4, 7, np.float64, padding="same"))                     # K > T, same
@example(p=Problem(2, 3, 4, 5, 7, np.float32, padding="causal", dilation=2))       # K > T, causal
@example(p=Problem(3, 17, 5, 4, 2, np.float64, stride=5))                          # stride > K
@example(p=Problem(2, 11, 9, 9, 3, np.float32, padding="same", groups=9))          # depthwise
@example(p=Problem(2, 11, 3, 6, 3, np.float64, padding="causal", groups=3))        # depthwise x2
@example(p=Problem(3, 19, 16, 17, 3, np.float32, stride=2, dilation=3, padding="same"))
@example(p=Problem(2, 13, 16, 16, 3, np.float64, stride=3, dilation=2, groups=2, padding="causal",
                   noncontiguous=True, with_bias=False))
@example(p=Problem(2, 9, 8, 8, 3, np.float32, upstream=False))
def test_conv1d_matches_reference(p):
    check_against_reference(p)


# Shapes that straddle the micro-kernel's blocks: output rows past 8/12/256 (row blocks, dkernel's
# reduction block), K·C past 512 and 2048 (reduction blocks), filters past the 16/32-wide panels.
AWKWARD = [
    # B, T, C, F, K, stride, dilation, groups, padding
    (1, 300, 33, 33, 5, 1, 1, 1, "same"),
    (2, 270, 130, 31, 5, 1, 1, 1, "valid"),
    (1, 260, 17, 65, 3, 2, 1, 1, "causal"),
    (2, 61, 64, 49, 4, 3, 1, 1, "same"),
    (3, 40, 32, 32, 3, 1, 2, 1, "same"),
    (2, 50, 48, 48, 3, 1, 1, 3, "causal"),
    (1, 33, 24, 24, 5, 2, 2, 24, "same"),
    (1, 23, 16, 32, 3, 1, 1, 16, "valid"),
    # rows of 512 bytes or more: dkernel from x copied in channel blocks (12 + a partial one),
    # a batch split mid-row between the threads (B = 3)
    (3, 41, 129, 65, 3, 2, 1, 1, "causal"),
    # filters (per group) a multiple of 64: float's 64-wide panels and 6-row blocks on AVX-512
    (2, 37, 20, 128, 3, 1, 1, 1, "same"),
    (1, 30, 16, 128, 3, 1, 2, 2, "causal"),
    # K·C past 2048, the products' reduction block (with the bias seeding only the first block)
    (1, 40, 700, 33, 3, 1, 1, 1, "same"),
    (2, 20, 520, 64, 5, 1, 1, 1, "valid"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,T,C,F,K,stride,dilation,groups,padding", AWKWARD)
def test_conv1d_awkward_shapes(B, T, C, F, K, stride, dilation, groups, padding, dtype):
    check_against_reference(Problem(B, T, C, F, K, dtype, stride=stride, padding=padding,
                                    dilation=dilation, groups=groups, seed=B * 1000 + T,
                                    noncontiguous=(T % 2 == 1)))


# ------------------------------------------------------------------------------------------------
# saved, determinism, threads
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_twice_and_none(dtype):
    p = Problem(3, 40, 16, 24, 5, dtype, padding="same", seed=3)
    inputs, dy = build(p)
    y, saved = ops.conv1d_forward(inputs["x"], inputs["kernel"], inputs["bias"], **options(p))
    g1 = ops.conv1d_backward(dy, saved)
    g0 = ops.conv1d_backward(None, saved)
    g2 = ops.conv1d_backward(dy, saved)
    for name, a, z, b in zip(GRAD_NAMES, g1, g0, g2):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert z.shape == a.shape and not np.any(z), name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,padding,stride,groups", [(1, "same", 1, 1), (7, "causal", 2, 1), (1, "valid", 1, 4), (3, "same", 3, 16)])
def test_thread_count_does_not_change_results(dtype, B, padding, stride, groups):
    p = Problem(B, 97, 16, 32, 5, dtype, padding=padding, stride=stride, groups=groups, seed=5)
    inputs, dy = build(p)
    n0 = pyseq.get_num_threads()
    results = {}
    try:
        for n in (1, 2, 3):
            pyseq.set_num_threads(n)
            y, saved = ops.conv1d_forward(inputs["x"], inputs["kernel"], inputs["bias"], **options(p))
            results[n] = (y,) + tuple(ops.conv1d_backward(dy, saved))
    finally:
        pyseq.set_num_threads(n0)
    for n in (2, 3):
        for name, a, b in zip(("y",) + GRAD_NAMES, results[1], results[n]):
            assert_close(b, a, dtype, f"{name}: {n} threads vs 1")


@pytest.mark.parametrize("simd", ["baseline", "avx2", "avx512"])
def test_every_simd_level(simd):
    if simd not in pyseq.build_info()["simd_available"]:
        pytest.skip(f"{simd} not available here")
    from pyseq import _core
    previous = _core.get_simd()
    try:
        _core.set_simd(simd)
        for p in (Problem(2, 70, 20, 40, 3, np.float32, padding="same", seed=8),
                  Problem(2, 30, 12, 12, 3, np.float64, stride=2, dilation=2, groups=12, seed=9),
                  Problem(1, 300, 9, 17, 4, np.float32, padding="causal", stride=2, seed=10),
                  Problem(3, 41, 133, 20, 3, np.float32, padding="same", stride=2, seed=11)):
            check_against_reference(p)
    finally:
        _core.set_simd(previous)


# ------------------------------------------------------------------------------------------------
# Finite differences of the kernel itself (float64)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, "valid", 1, 1), (1, "same", 1, 1), (2, "same", 2, 1), (3, "causal", 1, 2), (1, "causal", 2, 4),
])
def test_gradients_match_finite_differences(stride, padding, dilation, groups):
    eps = 1e-6
    rng = np.random.default_rng(6)
    B, T, C, F, K = 2, 7, 4, 8, 3
    inputs = dict(x=rng.standard_normal((B, T, C)), kernel=rng.standard_normal((K, C // groups, F)),
                  bias=rng.standard_normal(F))
    opts = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y, saved = ops.conv1d_forward(inputs["x"], inputs["kernel"], inputs["bias"], **opts)
    dy = rng.standard_normal(y.shape)
    grads = ops.conv1d_backward(dy, saved)

    def loss(inp):
        return float(np.sum(ops.conv1d_forward(inp["x"], inp["kernel"], inp["bias"], **opts)[0] * dy))

    numeric = numeric_gradients(loss, inputs, [name[1:] for name in GRAD_NAMES], eps)
    for name, g, num in zip(GRAD_NAMES, grads, numeric):
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=f"{name} vs finite differences")


# ------------------------------------------------------------------------------------------------
# PyTorch (channels-first) where installed
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, "valid", 1, 1), (1, "same", 1, 1), (2, "same", 1, 1), (2, "causal", 3, 1), (1, "same", 2, 4),
    (3, "valid", 2, 16),
])
def test_matches_torch(stride, padding, dilation, groups):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    B, T, C, F, K = 3, 41, 16, 32, 4
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    kernel = (rng.standard_normal((K, C // groups, F)) * 0.2).astype(np.float32)
    bias = rng.standard_normal(F).astype(np.float32)
    y, saved = ops.conv1d_forward(x, kernel, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dk, db = ops.conv1d_backward(dy, saved)

    span = dilation * (K - 1) + 1
    if padding == "valid":
        pl = pr = 0
    elif padding == "causal":
        pl, pr = span - 1, 0
    else:
        T_out = -(-T // stride)
        total = max((T_out - 1) * stride + span - T, 0)
        pl, pr = total // 2, total - total // 2
    xt = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)           # (B, C, T)
    wt = torch.tensor(kernel.transpose(2, 1, 0).copy(), requires_grad=True)  # (F, C/G, K)
    bt = torch.tensor(bias, requires_grad=True)
    yt = torch.nn.functional.conv1d(torch.nn.functional.pad(xt, (pl, pr)), wt, bt, stride=stride,
                                    dilation=dilation, groups=groups)
    yt.backward(torch.tensor(dy.transpose(0, 2, 1).copy()))
    assert_close(y, yt.detach().numpy().transpose(0, 2, 1), np.float32, "y vs torch", factor=10)
    assert_close(dx, xt.grad.numpy().transpose(0, 2, 1), np.float32, "dx vs torch", factor=10)
    assert_close(dk, wt.grad.numpy().transpose(2, 1, 0), np.float32, "dkernel vs torch", factor=10)
    assert_close(db, bt.grad.numpy(), np.float32, "dbias vs torch", factor=10)


def test_large_outputs_are_never_shared_while_alive():
    """Outputs of 4 MiB and more come from blocks pyseq keeps for reuse once their array dies:
    an array still alive must keep its memory and its values."""
    rng = np.random.default_rng(12)
    x1, x2 = (rng.standard_normal((2, 4100, 16)).astype(np.float32) for _ in range(2))
    kernel = rng.standard_normal((3, 16, 128)).astype(np.float32)
    y1, s1 = ops.conv1d_forward(x1, kernel)
    assert y1.nbytes >= 4 << 20
    keep = y1.copy()
    y2, s2 = ops.conv1d_forward(x2, kernel)
    dx2, _, _ = ops.conv1d_backward(y2, s2)
    assert not np.shares_memory(y1, y2) and not np.shares_memory(y1, dx2)
    del y2, s2, dx2
    y3, _ = ops.conv1d_forward(x1, kernel)   # may reuse y2's block, never y1's
    assert not np.shares_memory(y1, y3)
    np.testing.assert_array_equal(y1, keep)
    np.testing.assert_array_equal(y3, keep)
    assert y3.flags.writeable and y3.flags.c_contiguous


@pytest.mark.parametrize("padding", PADDINGS)
def test_huge_stride_gives_one_step(padding):
    """stride up to 2**31 - 1: one output step (stride*C would overflow the BLAS's integers)."""
    p = Problem(2, 9, 24, 16, 3, np.float32, stride=2**31 - 1, padding=padding, seed=13)
    y, _ = check_against_reference(p)
    assert y.shape == (2, 1, 16)


# ------------------------------------------------------------------------------------------------
# Keras (torch backend) where installed: layer weights in, the same outputs out
# ------------------------------------------------------------------------------------------------


# Keras's torch backend converts NumPy inputs through an __array__ call that NumPy 2 flags.
KERAS_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def _keras_torch_backend():
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on {keras.backend.backend()}, these checks use its torch backend")
    return keras


@pytest.mark.parametrize("K,stride,dilation,padding,groups", [
    (3, 1, 1, "same", 1), (4, 1, 1, "same", 1), (4, 2, 1, "same", 1), (3, 3, 1, "same", 1),
    (3, 1, 2, "causal", 1), (2, 2, 1, "causal", 1), (3, 1, 1, "valid", 2), (5, 2, 1, "same", 4),
    (4, 1, 3, "same", 1),
])
@KERAS_WARNING
def test_matches_keras_conv1d_layer(K, stride, dilation, padding, groups):
    keras = _keras_torch_backend()
    x = np.random.default_rng(14).standard_normal((2, 11, 4)).astype(np.float32)
    layer = keras.layers.Conv1D(8, K, strides=stride, padding=padding, dilation_rate=dilation,
                                groups=groups)
    y_keras = keras.ops.convert_to_numpy(layer(x))
    kernel, bias = layer.get_weights()
    y, _ = ops.conv1d_forward(x, kernel, bias, stride=stride, padding=padding, dilation=dilation,
                              groups=groups)
    assert_close(y, y_keras, np.float32, "y vs keras.layers.Conv1D", factor=10)
