"""pyseq.ops.attention_forward / attention_backward against the float64 oracle in pyseq.reference
(and against PyTorch's scaled_dot_product_attention where torch is importable)."""

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import pyseq
from pyseq import _core, ops, reference

from helpers import assert_all_close, assert_close, assert_unchanged, copy_inputs, make_noncontiguous

DTYPES = [np.float32, np.float64]
GRAD_NAMES = ("dq", "dk", "dv")

# The float32 AVX-512 kernels take their score products from AMX tiles where the CPU has them
# (split-bfloat16, float32 accuracy), else from FMAs: every test here runs on each path there is.
PATHS = ["amx", "fma"] if _core.attention_amx_available() else ["fma"]


@pytest.fixture(autouse=True, params=PATHS)
def score_products(request):
    _core.set_attention_amx(request.param == "amx")
    try:
        yield request.param
    finally:
        _core.set_attention_amx(True)  # the default


# Tile sizes (queries, keys) the property tests run under: the default, and small ones so that
# lengths of a few tiles ± 1 stay cheap. 0 = the kernel's own choice.
TILES = [(0, 0), (4, 6), (5, 7), (8, 48), (3, 96)]
LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 17, 31, 47, 48, 49]
HEAD_SIZES = [1, 2, 3, 8, 16, 17, 33]  # 17, 33: more than one panel of 16 doubles / 32 floats
MASK_KINDS = ["none", "key", "attn", "key+attn", "key_full_rows", "attn_full_rows", "all_masked"]


@contextmanager
def tiles(block_q, block_k):
    previous = _core.get_attention_tiles()
    _core.set_attention_tiles(block_q, block_k)
    try:
        yield
    finally:
        _core.set_attention_tiles(*previous)


@dataclass(frozen=True)
class Problem:
    B: int
    N: int
    Lq: int
    Lk: int
    D: int
    Dv: int
    dtype: type
    causal: bool = False
    mask: str = "none"
    scale: Optional[float] = None
    dropout: float = 0.0
    noncontiguous: bool = False
    upstream: bool = True
    tiles: tuple = (0, 0)
    seed: int = 0


def make_masks(rng, kind, B, Lq, Lk):
    """(key_mask, attn_mask) of a kind; *_full_rows kinds mask every key of some query rows."""
    key_mask = attn_mask = None
    if "key" in kind:
        key_mask = rng.random((B, Lk)) < 0.7
    if "attn" in kind:
        attn_mask = rng.random((B, Lq, Lk)) < 0.7
    if kind == "key_full_rows":
        key_mask[0, :] = False  # batch 0: every query row fully masked
    if kind == "attn_full_rows":
        attn_mask[:, 0, :] = False
        attn_mask[-1, -1, :] = False
    if kind == "all_masked":
        key_mask = np.zeros((B, Lk), dtype=bool)
    return key_mask, attn_mask


def build(p):
    rng = np.random.default_rng(p.seed)
    dt = np.dtype(p.dtype)
    q = rng.standard_normal((p.B, p.Lq, p.N, p.D)).astype(dt)
    k = rng.standard_normal((p.B, p.Lk, p.N, p.D)).astype(dt)
    v = rng.standard_normal((p.B, p.Lk, p.N, p.Dv)).astype(dt)
    do = rng.standard_normal((p.B, p.Lq, p.N, p.Dv)).astype(dt) if p.upstream else None
    key_mask, attn_mask = make_masks(rng, p.mask, p.B, p.Lq, p.Lk)
    inputs = dict(q=q, k=k, v=v, key_mask=key_mask, attn_mask=attn_mask, do=do)
    if p.noncontiguous:
        inputs = {name: make_noncontiguous(a, rng) for name, a in inputs.items()}
    return inputs


def options(p, inputs):
    return dict(scale=p.scale, causal=p.causal, key_mask=inputs["key_mask"],
                attn_mask=inputs["attn_mask"], dropout=p.dropout,
                seed=1000 + p.seed if p.dropout > 0 else None)


def check_against_reference(p, *, factor=1.0):
    """Kernel and oracle on Problem p: o, scores and the three gradients; inputs unchanged."""
    inputs = build(p)
    before = copy_inputs(inputs)
    opts = options(p, inputs)
    q, k, v, do = (inputs[x] for x in ("q", "k", "v", "do"))
    with tiles(*p.tiles):
        o, scores, saved = ops.attention_forward(q, k, v, return_scores=True, **opts)
        grads = ops.attention_backward(do, saved)
        # Without the weights too: float32 forward then takes its fast path (AVX-512) where the
        # options allow, and backward starts from that forward's log-sum-exp.
        o_fast, saved_fast = ops.attention_forward(q, k, v, **opts)
        grads_fast = ops.attention_backward(do, saved_fast)
    dt = np.dtype(p.dtype)
    shapes = dict(o=(p.B, p.Lq, p.N, p.Dv), scores=(p.B, p.N, p.Lq, p.Lk),
                  dq=(p.B, p.Lq, p.N, p.D), dk=(p.B, p.Lk, p.N, p.D), dv=(p.B, p.Lk, p.N, p.Dv))
    for name, a in zip(("o", "scores") + GRAD_NAMES, (o, scores) + tuple(grads)):
        assert isinstance(a, np.ndarray) and a.dtype == dt, f"{name}: {type(a).__name__} {getattr(a, 'dtype', '')}"
        assert a.shape == shapes[name], f"{name} has shape {a.shape}, expected {shapes[name]}"
    o_r, scores_r, cache = reference.attention_forward(q, k, v, return_scores=True, **opts)
    grads_r = reference.attention_backward(do, cache)
    assert_all_close((o, scores), (o_r, scores_r), dt, ("o", "scores"), factor=factor, prefix=f"{p}\n  ")
    assert_all_close(grads, grads_r, dt, GRAD_NAMES, factor=factor, prefix=f"{p}\n  ")
    assert_all_close((o_fast,), (o_r,), dt, ("o without scores",), factor=factor, prefix=f"{p}\n  ")
    assert_all_close(grads_fast, grads_r, dt, tuple(f"{g} without scores" for g in GRAD_NAMES),
                     factor=factor, prefix=f"{p}\n  ")
    assert_unchanged(before, inputs, "attention_forward/backward")
    return o, scores, grads, saved


@st.composite
def problems(draw):
    mask = draw(st.sampled_from(MASK_KINDS))
    return Problem(
        B=draw(st.sampled_from([1, 2, 3])),
        N=draw(st.sampled_from([1, 2, 3])),
        Lq=draw(st.sampled_from(LENGTHS)),
        Lk=draw(st.sampled_from(LENGTHS)),
        D=draw(st.sampled_from(HEAD_SIZES)),
        Dv=draw(st.sampled_from(HEAD_SIZES)),
        dtype=draw(st.sampled_from(DTYPES)),
        causal=draw(st.booleans()),
        mask=mask,
        scale=draw(st.sampled_from([None, 1.0, 0.3, -0.7, 0.0])),
        dropout=draw(st.sampled_from([0.0, 0.0, 0.2, 0.6])),
        noncontiguous=draw(st.booleans()),
        upstream=draw(st.sampled_from([True, True, True, False])),
        tiles=draw(st.sampled_from(TILES)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


# ------------------------------------------------------------------------------------------------
# Property test: everything against the oracle
# ------------------------------------------------------------------------------------------------


@given(p=problems())
@example(p=Problem(1, 1, 1, 1, 1, 1, np.float32))
@example(p=Problem(1, 1, 1, 1, 1, 1, np.float64, causal=True, mask="all_masked"))
@example(p=Problem(2, 3, 9, 13, 8, 3, np.float64, causal=True, mask="key+attn", dropout=0.6, tiles=(4, 6)))
@example(p=Problem(3, 1, 13, 5, 17, 2, np.float32, causal=True, mask="attn_full_rows", noncontiguous=True, tiles=(5, 7)))
@example(p=Problem(2, 2, 7, 11, 3, 16, np.float32, mask="key_full_rows", scale=-0.7, dropout=0.2, upstream=False))
@example(p=Problem(1, 1, 9, 13, 3, 33, np.float32, causal=True, tiles=(4, 6)))  # P·V over part of a key tile
@example(p=Problem(1, 1, 9, 13, 3, 17, np.float64, causal=True, tiles=(4, 6)))
def test_attention_matches_reference(p):
    check_against_reference(p)


# ------------------------------------------------------------------------------------------------
# Default tile sizes ± 1, and a long sequence (float32 sums over many keys)
# ------------------------------------------------------------------------------------------------


# The kernel's default (block_q, block_k), forward and backward (csrc/cpu/attention.cpp
# choose_tiles): lengths of a tile ± 1 are the boundary cases.
DEFAULT_TILES = [(64, 192), (128, 384), (32, 144)]  # forward causal, forward, backward
# The AVX-512 float32 paths (fused_forward_impl, fused_backward_impl): tiles of 48 queries,
# blocks of 128 keys (forward; 32 with AMX) and 64 (backward); register blocks of 8 keys.
FUSED_TILES = [(48, 64), (96, 128)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bq,bk", DEFAULT_TILES)
@pytest.mark.parametrize("dq,dk", [(-1, -1), (0, 0), (1, 1), (-1, 1), (1, -1)])
def test_attention_default_tile_boundaries(dtype, bq, bk, dq, dk):
    for causal, mask, dropout in [(False, "none", 0.0), (True, "key+attn", 0.3)]:
        check_against_reference(Problem(1, 2, bq + dq, bk + dk, 16, 8, dtype, causal=causal,
                                        mask=mask, dropout=dropout, seed=7 + dq + 3 * dk))


@pytest.mark.parametrize("lq,lk", FUSED_TILES)
@pytest.mark.parametrize("dq,dk", [(-1, -1), (0, 0), (1, 1), (-1, 1), (1, -1)])
def test_attention_fused_tile_boundaries(lq, lk, dq, dk):
    # D, Dv multiples of 16 (the fused backward's condition; 48 = one panel of 32 and one of 16)
    # with causal and key masks, rows whose keys are all masked, and Lq != Lk.
    for causal, mask, d, dv in [(False, "none", 16, 48), (True, "key_full_rows", 32, 16),
                                (True, "key", 64, 64)]:
        check_against_reference(Problem(2, 2, lq + dq, lk + dk, d, dv, np.float32, causal=causal,
                                        mask=mask, seed=5 + dq + 3 * dk))


@pytest.mark.parametrize("lq,lk", [(291, 291), (200, 301), (301, 200)])
def test_attention_fused_causal_diagonal(lq, lk):
    # The fused kernels skip what lies wholly above the diagonal: whole vectors of 16 queries in
    # the score blocks, and in the products, the queries (key rows) or keys (query rows) a block
    # of 6 cannot see. Several tiles of 48 queries against blocks of 64 and 128 keys put the
    # diagonal at every offset those skips depend on.
    for d, dv in [(64, 64), (32, 48)]:
        check_against_reference(Problem(1, 2, lq, lk, d, dv, np.float32, causal=True, seed=lq + d))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("lq,lk", [(150, 150), (100, 170), (170, 100), (150, 197)])
def test_attention_fused_heads_in_sequence(threads, lq, lk):
    # Whole heads per task (B·N a multiple of the threads, or at least four per thread): each
    # thread keeps one copy of a head's keys and values and replaces it head after head. Nine
    # causal heads on one to three threads, with Lq shorter, equal and longer than Lk.
    n0 = pyseq.get_num_threads()
    try:
        pyseq.set_num_threads(threads)
        for d, dv, mask in [(64, 64, "none"), (32, 48, "key")]:
            check_against_reference(Problem(3, 3, lq, lk, d, dv, np.float32, causal=True,
                                            mask=mask, seed=lq + lk + d))
    finally:
        pyseq.set_num_threads(n0)


@contextmanager
def key_chunk(keys):
    previous = _core.get_attention_key_chunk()
    _core.set_attention_key_chunk(keys)
    try:
        yield
    finally:
        _core.set_attention_key_chunk(previous)


@pytest.mark.parametrize("chunk", [1, 64, 100, 192])
@pytest.mark.parametrize("lq,lk", [(150, 150), (97, 260), (260, 97)])
def test_attention_fused_backward_in_key_chunks(chunk, lq, lk):
    # The fused backward takes a head's keys in passes (set_attention_key_chunk, rounded up to
    # its key block; automatic: with AMX as many keys as keep their data in L2) over the tiles that
    # see them, and sums dq over the passes. Passes of one key block up to all the keys, causal
    # (tiles skip the passes after their queries), key masks, Lq shorter and longer than Lk.
    with key_chunk(chunk):
        for causal, mask, d, dv in [(True, "none", 64, 64), (False, "key", 32, 48),
                                    (True, "key_full_rows", 16, 16)]:
            check_against_reference(Problem(2, 2, lq, lk, d, dv, np.float32, causal=causal,
                                            mask=mask, seed=chunk + lq + d))


def test_attention_fused_backward_automatic_chunks():
    # Lk = 1500 at D = 64 is three passes of 512 keys with AMX (one pass on the FMA path).
    for causal in [False, True]:
        check_against_reference(Problem(1, 2, 120, 1500, 64, 64, np.float32, causal=causal,
                                        mask="key", seed=3))


def test_attention_key_chunk_setting():
    with key_chunk(0):
        assert _core.get_attention_key_chunk() == 0
        _core.set_attention_key_chunk(96)
        assert _core.get_attention_key_chunk() == 96
    with pytest.raises(ValueError, match="set_attention_key_chunk"):
        _core.set_attention_key_chunk(-1)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mask", ["none", "key"])
@pytest.mark.parametrize("climb", ["up", "down", "jumps"])
def test_attention_scores_climbing_along_the_keys(causal, mask, climb):
    # The fused float32 forward takes each probability against a reference maximum that it only
    # raises when a score exceeds it by more than 2^8 (base 2), and then rescales what it already
    # took in the block. Scores that climb steeply along the keys raise it at many key rows, mid
    # block too; falling scores never do; a few isolated jumps do now and then.
    rng = np.random.default_rng(len(climb) + 2 * causal)
    B, N, Lq, Lk, D = 1, 2, 61, 300, 64
    # every query near u, and key j = noise + g_j u·sqrt(D)/|u|²: score(i, j) ≈ g_j (natural units)
    u = rng.standard_normal((1, 1, N, D))
    q = (u + 0.3 * rng.standard_normal((B, Lq, N, D))).astype(np.float32)
    g = {"up": np.linspace(0.0, 60.0, Lk), "down": np.linspace(60.0, 0.0, Lk),
         "jumps": np.where(np.arange(Lk) % 37 == 5, 12.0, 0.0)}[climb]
    k = (0.3 * rng.standard_normal((B, Lk, N, D))
         + g[None, :, None, None] * u * np.sqrt(D) / (u * u).sum(-1, keepdims=True)).astype(np.float32)
    v = rng.standard_normal((B, Lk, N, 32)).astype(np.float32)
    do = rng.standard_normal((B, Lq, N, 32)).astype(np.float32)
    key_mask = rng.random((B, Lk)) < 0.8 if mask == "key" else None
    o, saved = ops.attention_forward(q, k, v, causal=causal, key_mask=key_mask)
    grads = ops.attention_backward(do, saved)
    o_r, cache = reference.attention_forward(q, k, v, causal=causal, key_mask=key_mask)
    grads_r = reference.attention_backward(do, cache)
    # the scores span tens of units: a float32 score's rounding is amplified by exp
    assert_all_close((o,) + tuple(grads), (o_r,) + tuple(grads_r), np.float32,
                     ("o",) + GRAD_NAMES, factor=8.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_attention_long(dtype, causal):
    # Lq != Lk, several default tiles, two heads so that both backward schedules run
    check_against_reference(Problem(1, 2, 389, 601, 64, 48, dtype, causal=causal, mask="key",
                                    dropout=0.1, seed=11))
    check_against_reference(Problem(1, 1, 389, 601, 64, 48, dtype, causal=causal, mask="key",
                                    seed=12))


# ------------------------------------------------------------------------------------------------
# Semantics: masks, scores, dropout, seeds
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("return_scores", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_nan_scores_are_carried_into_their_rows(dtype, return_scores, causal):
    # As PyTorch: a NaN in a query makes its row of o (and of dq) NaN; a NaN in a key makes the
    # rows of every query that sees it NaN. Other rows of o stay finite. (In dq, a NaN key also
    # reaches the rows that share a register block with those that see it, as 0 · NaN; PyTorch's
    # dense backward spreads it to every row.)
    rng = np.random.default_rng(3)
    B, N, Lq, Lk = 1, 2, 70, 90
    q, k = (rng.standard_normal((B, L, N, 64)).astype(dtype) for L in (Lq, Lk))
    v = rng.standard_normal((B, Lk, N, 32)).astype(dtype)
    do = rng.standard_normal((B, Lq, N, 32)).astype(dtype)
    q[0, 5, 0, 7] = np.nan      # query 5 of head 0: every score NaN
    k[0, 40, 1, 3] = np.nan     # key 40 of head 1: NaN for every query that sees it
    out = ops.attention_forward(q, k, v, causal=causal, return_scores=return_scores)
    o, saved = out[0], out[-1]
    dq, _, _ = ops.attention_backward(do, saved)
    nan_rows = np.zeros((Lq, N), bool)
    nan_rows[5, 0] = True
    nan_rows[40 if causal else 0:, 1] = True
    assert np.isnan(o[0]).all(axis=-1)[nan_rows].all() and np.isfinite(o[0][~nan_rows]).all()
    assert np.isnan(dq[0]).all(axis=-1)[nan_rows].all()
    assert np.isfinite(dq[0, :, 0][~nan_rows[:, 0]]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_masked_rows_are_zero_with_zero_gradients(dtype):
    p = Problem(3, 2, 6, 9, 5, 4, dtype, causal=True, mask="attn_full_rows", dropout=0.3, seed=2)
    o, scores, (dq, dk, dv), _ = check_against_reference(p)
    inputs = build(p)
    dead = ~inputs["attn_mask"].any(axis=-1)  # (B, Lq)
    assert dead.any()
    for name, a in (("o", o), ("dq", dq)):
        assert np.all(np.isfinite(a)), f"{name} has non-finite entries"
        assert not np.any(a[dead]), f"{name} is not zero on fully masked rows"
    assert not np.any(scores.transpose(0, 2, 1, 3)[dead])
    # every key masked everywhere: all outputs and gradients are exactly zero
    p = Problem(2, 2, 4, 5, 3, 3, dtype, mask="all_masked")
    o, scores, grads, _ = check_against_reference(p)
    for name, a in zip(("o", "scores") + GRAD_NAMES, (o, scores) + tuple(grads)):
        assert not np.any(a) and np.all(np.isfinite(a)), f"{name} is not all zeros"


def test_causal_is_top_left_aligned():
    """Query i sees keys 0..i (Keras use_causal_mask), also when Lq != Lk."""
    rng = np.random.default_rng(3)
    for Lq, Lk in [(4, 7), (7, 4), (5, 5)]:
        q = rng.standard_normal((1, Lq, 1, 3))
        k = rng.standard_normal((1, Lk, 1, 3))
        v = rng.standard_normal((1, Lk, 1, 2))
        _, scores, _ = ops.attention_forward(q, k, v, causal=True, return_scores=True)
        allowed = np.tril(np.ones((Lq, Lk), dtype=bool))
        assert np.all(scores[0, 0][~allowed] == 0)
        assert np.all(scores[0, 0][allowed] > 0)
        np.testing.assert_allclose(scores[0, 0].sum(-1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scores_are_weights_before_dropout(dtype):
    """return_scores gives softmax weights before dropout (Keras MultiHeadAttention's
    attention_scores); they do not depend on the dropout seed."""
    p = Problem(2, 2, 7, 8, 4, 4, dtype, mask="key", dropout=0.5, seed=4)
    inputs = build(p)
    q, k, v = inputs["q"], inputs["k"], inputs["v"]
    o1, s1, _ = ops.attention_forward(q, k, v, key_mask=inputs["key_mask"], dropout=0.5, seed=1, return_scores=True)
    o2, s2, _ = ops.attention_forward(q, k, v, key_mask=inputs["key_mask"], dropout=0.5, seed=2, return_scores=True)
    _, s0, _ = ops.attention_forward(q, k, v, key_mask=inputs["key_mask"], return_scores=True)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(s1, s0)
    assert not np.array_equal(o1, o2)
    rows = s0.sum(-1)
    np.testing.assert_allclose(rows, 1.0, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_dropout_mask_generator_matches_numpy_twin():
    for seed, shape, p in [(0, (1, 1, 1, 1), 0.5), (2**64 - 1, (2, 3, 5, 70), 0.3), (12345, (1, 2, 40, 33), 0.9)]:
        keep = _core.attention_dropout_mask(seed, *shape, p)
        np.testing.assert_array_equal(keep, reference.attention_dropout_keep(seed, *shape, p))
    keep = _core.attention_dropout_mask(7, 2, 2, 100, 100, 0.3)
    assert abs(keep.mean() - 0.7) < 0.02  # 40000 draws: a 7-sigma band
    assert _core.attention_dropout_mask(7, 1, 1, 10, 10, 0.0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_same_seed_same_output_and_seed_none(dtype):
    p = Problem(2, 2, 9, 10, 4, 5, dtype, causal=True, seed=5)
    inputs = build(p)
    q, k, v, do = (inputs[x] for x in ("q", "k", "v", "do"))
    o1, s1 = ops.attention_forward(q, k, v, dropout=0.4, seed=99)
    o2, s2 = ops.attention_forward(q, k, v, dropout=0.4, seed=99)
    np.testing.assert_array_equal(o1, o2)
    for a, b in zip(ops.attention_backward(do, s1), ops.attention_backward(do, s2)):
        np.testing.assert_array_equal(a, b)
    assert s1.seed == 99 and s1.dropout == pytest.approx(0.4)
    o3, s3 = ops.attention_forward(q, k, v, dropout=0.4, seed=100)
    assert not np.array_equal(o1, o3)
    # seed=None draws a seed, kept in saved: the oracle with that seed agrees
    o4, s4 = ops.attention_forward(q, k, v, dropout=0.4)
    assert isinstance(s4.seed, int)
    o_r, cache = reference.attention_forward(q, k, v, causal=False, dropout=0.4, seed=s4.seed)
    assert_close(o4, o_r, dtype, "o with a drawn seed")
    assert_all_close(ops.attention_backward(do, s4), reference.attention_backward(do, cache), dtype, GRAD_NAMES)


@pytest.mark.parametrize("B,N", [(2, 3), (1, 1), (1, 3)])  # backward by heads, and by key tiles
def test_backward_twice_and_none_upstream(B, N):
    """Reproducible bit for bit, whichever way backward splits the work."""
    p = Problem(B, N, 211, 307, 5, 6, np.float64, causal=True, mask="key", dropout=0.3, seed=6,
                tiles=(16, 24))
    inputs = build(p)
    with tiles(*p.tiles):
        o, saved = ops.attention_forward(inputs["q"], inputs["k"], inputs["v"], **options(p, inputs))
        g1 = ops.attention_backward(inputs["do"], saved)
        g0 = ops.attention_backward(None, saved)
        g2 = ops.attention_backward(inputs["do"], saved)
    for name, a, b, z in zip(GRAD_NAMES, g1, g2, g0):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert not np.any(z) and z.shape == a.shape, name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dv", [16, 7])  # streaming-store rows, and the plain fallback
def test_outputs_are_aligned_writeable_arrays(dtype, dv):
    """o, dq, dk, dv: C-contiguous, writeable, 64-byte aligned (the fused kernels write them with
    streaming stores); each a view into its own allocation, so outputs never share memory."""
    rng = np.random.default_rng(3)
    q, k = (rng.standard_normal((2, 37, 3, 16)).astype(dtype) for _ in range(2))
    v = rng.standard_normal((2, 37, 3, dv)).astype(dtype)
    o, saved = ops.attention_forward(q, k, v)
    grads = ops.attention_backward(np.ones_like(o), saved)
    ref_o, cache = reference.attention_forward(q, k, v)
    assert_close(o, ref_o, dtype, "o")
    assert_all_close(grads, reference.attention_backward(np.ones_like(o), cache), dtype, GRAD_NAMES)
    outs = (o,) + tuple(grads)
    for a in outs:
        assert a.flags.c_contiguous and a.flags.writeable and a.ctypes.data % 64 == 0
        a[...] = 0  # writeable without touching the others
    assert not any(np.shares_memory(a, b) for i, a in enumerate(outs) for b in outs[i + 1:])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("BN", [(1, 1), (1, 3), (2, 2), (5, 3)])
def test_thread_count_does_not_change_results(dtype, BN):
    """Backward runs whole heads per task or key tiles with per-thread dq (B·N small): both agree
    with one thread."""
    B, N = BN
    p = Problem(B, N, 150, 170, 16, 8, dtype, causal=True, mask="key", dropout=0.2, seed=8)
    inputs = build(p)
    n0 = pyseq.get_num_threads()
    results = {}
    try:
        for n in (1, 2, 3):
            pyseq.set_num_threads(n)
            with tiles(16, 24):
                o, saved = ops.attention_forward(inputs["q"], inputs["k"], inputs["v"], **options(p, inputs))
                results[n] = (o,) + tuple(ops.attention_backward(inputs["do"], saved))
    finally:
        pyseq.set_num_threads(n0)
    for n in (2, 3):
        for name, a, b in zip(("o",) + GRAD_NAMES, results[1], results[n]):
            assert_close(b, a, dtype, f"{name}: {n} threads vs 1 thread")


def test_memory_is_not_quadratic():
    """Forward saves o and the log-sum-exp only (B, N, Lq): no Lq × Lk array."""
    L = 1000
    q = np.ones((1, L, 1, 4), dtype=np.float32)
    o, saved = ops.attention_forward(q, q, q)
    assert saved.nbytes == L * 4
    assert saved.lse.shape == (1, 1, L)


# ------------------------------------------------------------------------------------------------
# Finite differences of the kernel itself (float64), with every option
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("causal,mask,dropout,scale", [
    (False, "none", 0.0, None),
    (True, "key+attn", 0.0, 0.8),
    (True, "attn_full_rows", 0.4, None),
    (False, "key", 0.5, -1.2),
])
def test_kernel_gradients_match_finite_differences(causal, mask, dropout, scale):
    eps = 1e-6
    p = Problem(2, 2, 5, 6, 3, 2, np.float64, causal=causal, mask=mask, dropout=dropout,
                scale=scale, seed=9)
    inputs = build(p)
    opts = options(p, inputs)
    do = inputs["do"]
    arrays = {x: inputs[x] for x in ("q", "k", "v")}

    def loss(a):
        o, _ = ops.attention_forward(a["q"], a["k"], a["v"], **opts)
        return float(np.sum(o * do))

    with tiles(2, 3):  # several tiles even at these sizes
        _, saved = ops.attention_forward(arrays["q"], arrays["k"], arrays["v"], **opts)
        grads = ops.attention_backward(do, saved)
        for name, g in zip(GRAD_NAMES, grads):
            wrt = name[1:]
            num = np.zeros_like(arrays[wrt])
            for idx in np.ndindex(num.shape):
                plus, minus = dict(arrays), dict(arrays)
                plus[wrt] = arrays[wrt].copy()
                minus[wrt] = arrays[wrt].copy()
                plus[wrt][idx] += eps
                minus[wrt][idx] -= eps
                num[idx] = (loss(plus) - loss(minus)) / (2 * eps)
            np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=f"kernel {name} vs finite differences")


# ------------------------------------------------------------------------------------------------
# PyTorch cross-check (its layout is (B, N, L, D): transposed)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal,mask,scale", [(False, "none", None), (True, "none", None),
                                              (True, "key+attn", 0.5), (False, "key", 1.0)])
def test_attention_matches_torch(dtype, causal, mask, scale):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(10)
    B, N, Lq, Lk, D, Dv = 2, 3, 70, 70 if causal else 90, 16, 24
    dt = np.dtype(dtype)
    q = rng.standard_normal((B, Lq, N, D)).astype(dt)
    k = rng.standard_normal((B, Lk, N, D)).astype(dt)
    v = rng.standard_normal((B, Lk, N, Dv)).astype(dt)
    do = rng.standard_normal((B, Lq, N, Dv)).astype(dt)
    key_mask, attn_mask = make_masks(rng, mask, B, Lq, Lk)
    allowed = reference._attention_allowed(B, Lq, Lk, causal, key_mask, attn_mask)
    if key_mask is not None:  # torch gives NaN on fully masked rows: keep one key per row
        key_mask[:, 0] = True
    if attn_mask is not None:
        attn_mask[:, :, 0] = True
    allowed = reference._attention_allowed(B, Lq, Lk, causal, key_mask, attn_mask)
    o, saved = ops.attention_forward(q, k, v, scale=scale, causal=causal, key_mask=key_mask, attn_mask=attn_mask)
    grads = ops.attention_backward(do, saved)

    tq, tk, tv = (torch.from_numpy(a.transpose(0, 2, 1, 3).copy()).requires_grad_(True) for a in (q, k, v))
    t_mask = None if mask == "none" else torch.from_numpy(allowed)
    to = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=t_mask, is_causal=causal and t_mask is None,
                                        scale=scale)
    tgrads = torch.autograd.grad(to, (tq, tk, tv), torch.from_numpy(do.transpose(0, 2, 1, 3).copy()))
    t = lambda a: a.detach().numpy().transpose(0, 2, 1, 3)  # noqa: E731
    # torch's own float32 error adds to ours: twice the tolerance
    assert_close(o, t(to), dt, "o vs torch", factor=2)
    assert_all_close(grads, [t(g) for g in tgrads], dt, GRAD_NAMES, factor=2, prefix="vs torch ")


@pytest.mark.parametrize("simd", ["baseline", "avx2", "avx512"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_simd_level(simd, dtype):
    """Each ISA build of the kernel (baseline SSE2: 6×32-byte panels; AVX2; AVX-512) is correct."""
    if simd not in pyseq.build_info()["simd_available"]:
        pytest.skip(f"{simd} not compiled in or not supported by this CPU")
    previous = _core.get_simd()
    _core.set_simd(simd)
    try:
        for causal in (False, True):
            check_against_reference(Problem(2, 2, 37, 53, 19, 33, dtype, causal=causal, mask="key+attn",
                                            dropout=0.3, seed=13, tiles=(8, 12)))
            check_against_reference(Problem(1, 1, 200, 211, 64, 64, dtype, causal=causal, seed=14))
    finally:
        _core.set_simd(previous)
