"""pyseq.ops.gru_forward / gru_backward against the float64 oracle in pyseq.reference, and the
oracle itself against finite differences, PyTorch (reset_after=True) and Keras (both forms)."""

import os
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pyseq import _core, ops, reference

from gru_helpers import (GRU_GRAD_NAMES, GRU_OUT_NAMES, GRU_POSITIONAL, call_gru_forward,
                         gru_bias_shape, make_gru_inputs, make_gru_upstream)
from helpers import numeric_gradients
from rnn_checks import (RecurrentProblem, assert_backward_repeatable,
                        assert_concurrent_matches_serial, assert_forward_deterministic,
                        assert_thread_count_does_not_matter, check_op_against_oracle,
                        draw_common_fields, strided_if_asked)
from rnn_checks import restore_tuning  # noqa: F401 (a fixture, used by name)

DTYPES = [np.float32, np.float64]
SIZES = [1, 2, 3, 5, 7, 13, 17, 31]                 # 1 and primes
UPSTREAM = {"all": ("dy", "dh_T"), "none": (), "dy": ("dy",), "dh_T": ("dh_T",)}


@dataclass(frozen=True)
class Problem(RecurrentProblem):
    reset_after: bool = True


@st.composite
def problems(draw):
    return Problem(**draw_common_fields(draw, sizes=SIZES, dtypes=DTYPES, upstream_kinds=UPSTREAM),
                   reset_after=draw(st.booleans()))


def build(p):
    """(inputs dict, upstream gradients tuple) for a Problem, strided as the Problem asks."""
    rng = np.random.default_rng(p.seed)
    inputs = make_gru_inputs(rng, p.B, p.T, p.I, p.H, p.dtype, reset_after=p.reset_after,
                             mask=p.mask, with_bias=p.with_bias, with_h0=p.with_h0,
                             dropout_p=p.dropout_p)
    up = make_gru_upstream(rng, p.B, p.T, p.H, p.dtype, which=UPSTREAM[p.upstream])
    return strided_if_asked(p, inputs, up, rng)


def check_against_reference(p, *, factor=1.0):
    """Run kernel and oracle on Problem p and compare everything; return the kernel's results."""
    inputs, up = build(p)
    opts = dict(reverse=p.reverse, zero_output_for_mask=p.zero_output_for_mask)
    B, T, I, H = p.B, p.T, p.I, p.H  # noqa: E741
    expected_shapes = dict(y=(B, T, H), h_T=(B, H), dx=(B, T, I), dkernel=(I, 3 * H),
                           drecurrent_kernel=(H, 3 * H), dbias=gru_bias_shape(H, p.reset_after),
                           dh0=(B, H))
    outs, grads, saved = check_op_against_oracle(
        "gru", call_gru_forward, inputs, up, opts, out_names=GRU_OUT_NAMES, grad_names=GRU_GRAD_NAMES,
        upstream_names=("dy", "dh_T"), expected_shapes=expected_shapes, dtype=p.dtype, factor=factor,
        prefix=f"{p}\n  ")
    return outs, grads, saved, up


# ------------------------------------------------------------------------------------------------
# Property test: everything against the oracle
# ------------------------------------------------------------------------------------------------


@settings(max_examples=150)
@given(p=problems())
@example(p=Problem(1, 1, 1, 1, np.float32))
@example(p=Problem(1, 1, 1, 1, np.float64, reset_after=False, with_bias=False, with_h0=False, upstream="none"))
@example(p=Problem(3, 12, 2, 5, np.float64, mask="fully_masked_rows", reverse=True, dropout_p=0.5))
@example(p=Problem(3, 12, 2, 5, np.float64, reset_after=False, mask="fully_masked_rows", reverse=True, dropout_p=0.5))
@example(p=Problem(5, 7, 3, 2, np.float32, mask="leading_masked", zero_output_for_mask=True, noncontiguous=True))
@example(p=Problem(7, 9, 13, 17, np.float32, reset_after=False, mask="right_padded", reverse=True, upstream="dy", noncontiguous=True))
def test_gru_matches_reference(p):
    check_against_reference(p)


# ------------------------------------------------------------------------------------------------
# Awkward sizes, deterministic
# ------------------------------------------------------------------------------------------------

AWKWARD_SHAPES = [(1, 1, 1, 1), (1, 12, 1, 1), (31, 1, 17, 13), (2, 3, 64, 63), (3, 4, 8, 65),
                  (4, 5, 7, 127), (1, 6, 129, 31), (64, 2, 3, 8), (65, 2, 5, 3)]


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,T,I,H", AWKWARD_SHAPES)
def test_gru_awkward_shapes(B, T, I, H, dtype, reset_after):  # noqa: E741
    check_against_reference(Problem(B, T, I, H, dtype, reset_after=reset_after, mask="random",
                                    reverse=(B % 2 == 0), dropout_p=0.25, seed=B * 1000 + T))


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", ["plain", "masked_reverse_dropout", "zero_output_noncontiguous"])
def test_gru_large(dtype, variant, reset_after):
    cfg = dict(plain=dict(),
               masked_reverse_dropout=dict(mask="right_padded", reverse=True, dropout_p=0.25),
               zero_output_noncontiguous=dict(mask="random", zero_output_for_mask=True, noncontiguous=True))[variant]
    check_against_reference(Problem(33, 50, 70, 129, dtype, reset_after=reset_after, seed=1234, **cfg))


# Every way the step loop can be run: threads owning rows or hidden units, packed panels or the
# BLAS for the step products (the row kernel / gemv at one row per thread).
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("split", ["batch", "units"])
@pytest.mark.parametrize("product", ["packed", "blas"])
@pytest.mark.parametrize("B,H", [(1, 65), (2, 40), (9, 129)])
def test_gru_every_step_loop(B, H, product, split, reset_after, restore_tuning):
    _core.set_rnn_split(split)
    _core.set_step_product(product)
    for dtype in DTYPES:
        check_against_reference(Problem(B, 7, 11, H, dtype, reset_after=reset_after,
                                        mask="random", reverse=True, dropout_p=0.25, seed=B + H))


# ------------------------------------------------------------------------------------------------
# saved, determinism, threads
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_twice_from_same_saved(dtype, reset_after):
    p = Problem(5, 8, 6, 7, dtype, reset_after=reset_after, mask="fully_masked_rows", reverse=True,
                dropout_p=0.5, seed=3)
    inputs, up = build(p)
    *_, saved = call_gru_forward(ops.gru_forward, inputs, reverse=True)
    assert_backward_repeatable(ops.gru_backward, up, saved, GRU_GRAD_NAMES)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_is_deterministic(dtype):
    inputs, _ = build(Problem(9, 10, 11, 37, dtype, mask="random", seed=4))
    assert_forward_deterministic(lambda: call_gru_forward(ops.gru_forward, inputs)[:2], GRU_OUT_NAMES)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [1, 17])
def test_thread_count_does_not_change_results(dtype, B, reset_after):
    p = Problem(B, 20, 31, 65, dtype, reset_after=reset_after, mask="random", reverse=True,
                dropout_p=0.25, seed=5)
    inputs, up = build(p)

    def run():
        y, h, saved = call_gru_forward(ops.gru_forward, inputs, reverse=True)
        return (y, h) + tuple(ops.gru_backward(*up, saved))

    assert_thread_count_does_not_matter(run, GRU_OUT_NAMES + GRU_GRAD_NAMES, dtype)


def test_saved_repr_and_size():
    inputs, _ = build(Problem(2, 3, 4, 5, np.float32, reset_after=False))
    *_, saved = call_gru_forward(ops.gru_forward, inputs)
    assert "GRUSaved" in repr(saved) and "reset_after=False" in repr(saved)
    assert saved.nbytes > 0


# ------------------------------------------------------------------------------------------------
# Finite differences (float64): the kernel, and the oracle on its own
# ------------------------------------------------------------------------------------------------

FD_EPS = 1e-6


def _numeric_grads(fn, inputs, up, options):
    """Central differences of sum(y*dy) + sum(h_T*dh_T) for every positional input."""
    def loss(inp):
        y, h, _ = call_gru_forward(fn, inp, **options)
        return float(np.sum(y * up[0]) + np.sum(h * up[1]))

    return numeric_gradients(loss, inputs, GRU_POSITIONAL, FD_EPS)


FD_CASES = {
    "plain": dict(),
    "reverse": dict(reverse=True),
    "mask_leading": dict(mask="leading"),
    "mask_random_reverse": dict(mask="random", reverse=True),
    "zero_output_for_mask": dict(mask="random", zero_output_for_mask=True),
    "dropout": dict(dropout_p=0.5),
    "everything": dict(mask="leading", reverse=True, dropout_p=0.25),
}


def _fd_problem(case, reset_after):
    cfg = dict(FD_CASES[case])
    mask = cfg.pop("mask", None)
    rng = np.random.default_rng(sum(map(ord, case)) + reset_after)
    B, T, I, H = 3, 4, 3, 2
    inputs = make_gru_inputs(rng, B, T, I, H, np.float64, reset_after=reset_after,
                             dropout_p=cfg.pop("dropout_p", None))
    if mask == "leading":
        # row 0: first two steps masked with a non-zero h0; row 1 fully valid; row 2 fully masked
        inputs["mask"] = np.array([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    elif mask == "random":
        inputs["mask"] = np.array([[0, 1, 0, 1], [1, 0, 1, 1], [1, 1, 0, 0]], dtype=bool)
    up = make_gru_upstream(rng, B, T, H, np.float64)
    return inputs, up, cfg


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("case", list(FD_CASES))
@pytest.mark.parametrize("impl", ["kernel", "reference"])
def test_gradients_match_finite_differences(impl, case, reset_after):
    inputs, up, options = _fd_problem(case, reset_after)
    fwd, bwd = (ops.gru_forward, ops.gru_backward) if impl == "kernel" else \
        (reference.gru_forward, reference.gru_backward)
    *_, saved = call_gru_forward(fwd, inputs, **options)
    grads = bwd(*up, saved)
    for name, g, num in zip(GRU_GRAD_NAMES, grads, _numeric_grads(fwd, inputs, up, options)):
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=f"{impl} {case}: {name}")


# ------------------------------------------------------------------------------------------------
# The oracle from outside: a hand-computed step, PyTorch, Keras
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_single_step_matches_scalar_hand_computation(reset_after):
    """B = T = I = H = 1, written out with the math module; the dropout mask d scales h_{t-1}
    in the recurrent products only, not in z * h_{t-1}."""
    import math
    x, h0, d = 0.7, -0.3, 2.0
    W = np.array([[0.5, -1.0, 0.25]])
    U = np.array([[1.5, 0.5, -0.75]])
    b = np.array([[0.1, 1.0, -0.2], [0.3, -0.4, 0.6]]) if reset_after else np.array([0.1, 1.0, -0.2])
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    hm = h0 * d
    if reset_after:
        z = sig(x * W[0, 0] + b[0, 0] + hm * U[0, 0] + b[1, 0])
        r = sig(x * W[0, 1] + b[0, 1] + hm * U[0, 1] + b[1, 1])
        n = math.tanh(x * W[0, 2] + b[0, 2] + r * (hm * U[0, 2] + b[1, 2]))
    else:
        z = sig(x * W[0, 0] + hm * U[0, 0] + b[0])
        r = sig(x * W[0, 1] + hm * U[0, 1] + b[1])
        n = math.tanh(x * W[0, 2] + (r * hm) * U[0, 2] + b[2])
    h = z * h0 + (1 - z) * n
    for fn in (reference.gru_forward, ops.gru_forward):
        y, hT, _ = fn(np.array([[[x]]]), W, U, b, np.array([[h0]]), reset_after=reset_after,
                      recurrent_dropout_mask=np.array([[d]]))
        assert y[0, 0, 0] == pytest.approx(h, rel=1e-14)
        assert hT[0, 0] == pytest.approx(h, rel=1e-14)


def _torch_gru_params(torch, inputs, H):
    """Keras (z, r, h) weights as PyTorch's GRU parameters (r, z, n order, transposed)."""
    def reorder(m):  # (..., 3H) in z, r, h -> r, z, n along the last axis
        return torch.cat([m[..., H:2 * H], m[..., :H], m[..., 2 * H:]], dim=-1)
    return {"weight_ih_l0": reorder(inputs["kernel"]).T, "weight_hh_l0": reorder(inputs["recurrent_kernel"]).T,
            "bias_ih_l0": reorder(inputs["bias"][0]), "bias_hh_l0": reorder(inputs["bias"][1])}


@pytest.mark.parametrize("reverse", [False, True])
def test_matches_pytorch(reverse):
    """Unmasked reset_after GRU against torch.nn.GRU and autograd (when torch is installed)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(31)
    B, T, I, H = 3, 6, 4, 5
    inp = make_gru_inputs(rng, B, T, I, H, np.float64)
    up = make_gru_upstream(rng, B, T, H, np.float64)
    t = {k: torch.tensor(inp[k], requires_grad=True) for k in GRU_POSITIONAL}
    gru = torch.nn.GRU(I, H, batch_first=True).double()
    xs = torch.flip(t["x"], [1]) if reverse else t["x"]
    y_t, h_t = torch.func.functional_call(gru, _torch_gru_params(torch, t, H), (xs, t["h0"][None]))
    if reverse:
        y_t = torch.flip(y_t, [1])
    loss = (y_t * torch.tensor(up[0])).sum() + (h_t[0] * torch.tensor(up[1])).sum()
    loss.backward()
    for fwd, bwd in ((reference.gru_forward, reference.gru_backward), (ops.gru_forward, ops.gru_backward)):
        y, h, cache = call_gru_forward(fwd, inp, reverse=reverse)
        np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h, h_t[0].detach().numpy(), rtol=1e-12, atol=1e-12)
        for name, g in zip(GRU_GRAD_NAMES, bwd(*up, cache)):
            np.testing.assert_allclose(g, t[name[1:]].grad.numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{fwd.__module__} {name} vs torch autograd")


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("dropout", [False, True])
def test_oracle_matches_keras(reset_after, go_backwards, dropout):
    """keras.layers.GRU forward (Keras 3, torch backend) with a mask, both reset_after forms,
    go_backwards, and a recurrent dropout mask injected into the cell. Keras returns the sequence
    in processing order; pyseq in input order."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(41)
    B, T, I, H = 3, 5, 4, 6
    inp = make_gru_inputs(rng, B, T, I, H, np.float32, reset_after=reset_after, mask="leading_masked")
    inp["h0"] = None
    inp["mask"][:, -1] = True
    if dropout:
        # Keras's cell multiplies h_{t-1} by rows 0, 1, 2 of its (B, H) mask for z, r, h: one row
        # repeated over the batch gives the (B, H) mask pyseq takes
        row = np.where(rng.random(H) < 0.5, 0.0, 2.0).astype(np.float32)
        inp["recurrent_dropout_mask"] = np.tile(row, (B, 1))
    layer = keras.layers.GRU(H, return_sequences=True, return_state=True, reset_after=reset_after,
                             go_backwards=go_backwards, recurrent_dropout=0.5 if dropout else 0.0)
    layer.build((B, T, I))
    layer.set_weights([inp["kernel"], inp["recurrent_kernel"], inp["bias"]])
    if dropout:
        mask_tensor = keras.ops.convert_to_tensor(inp["recurrent_dropout_mask"])
        layer.cell.get_recurrent_dropout_mask = lambda step_input: mask_tensor
    y_k, h_k = layer(inp["x"], mask=inp["mask"], training=dropout)
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on {keras.backend.backend()}, this check reads torch tensors")
    y_k, h_k = y_k.detach().numpy(), h_k.detach().numpy()  # (convert_to_numpy warns on NumPy 2)
    if go_backwards:
        y_k = y_k[:, ::-1]
    y, h, _ = call_gru_forward(reference.gru_forward, inp, reverse=go_backwards)
    np.testing.assert_allclose(y, y_k, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, h_k, rtol=1e-5, atol=1e-5)


def test_concurrent_calls_from_python_threads_match_serial_ones():
    """The GIL is released for the whole kernel: several Python threads may run GRUs at once
    (both forms, each call with its own team and scratch); results equal the serial ones."""
    rng = np.random.default_rng(12)
    jobs = []
    for k, (B, T, I, H) in enumerate([(1, 30, 5, 64), (9, 20, 7, 33), (33, 12, 4, 40), (4, 25, 6, 96)] * 2):
        inputs = make_gru_inputs(rng, B, T, I, H, np.float32, reset_after=k % 2 == 0, mask="random",
                                 dropout_p=0.25 if k > 3 else None)
        jobs.append((inputs, make_gru_upstream(rng, B, T, H, np.float32)))

    def run(job):
        inputs, up = job
        y, h, saved = call_gru_forward(ops.gru_forward, inputs)
        return (y, h) + tuple(ops.gru_backward(*up, saved))

    assert_concurrent_matches_serial(run, jobs)
