"""pyseq.ops.rnn_forward / rnn_backward (SimpleRNN) against the float64 oracle in pyseq.reference,
finite differences, and PyTorch's nn.RNN when it is installed."""

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import pyseq
from pyseq import _core, ops, reference

from helpers import (RNN_ACTIVATIONS, RNN_GRAD_NAMES, RNN_POSITIONAL, assert_all_close,
                     assert_close, call_rnn_forward, make_rnn_inputs, make_rnn_upstream,
                     numeric_gradients)
from rnn_checks import (RecurrentProblem, assert_backward_repeatable,
                        assert_concurrent_matches_serial, assert_forward_deterministic,
                        assert_thread_count_does_not_matter, check_op_against_oracle,
                        draw_common_fields, strided_if_asked)
from rnn_checks import restore_tuning  # noqa: F401 (a fixture, used by name)

DTYPES = [np.float32, np.float64]
# 1, primes, and the packed step product's tiles +-1 (rows: 6 or 8; panel columns: 8 to 48)
SIZES = [1, 2, 3, 5, 7, 9, 13, 17, 31, 33, 47, 49]
UPSTREAM = {"all": ("dy", "dh_T"), "none": (), "dy": ("dy",), "dh_T": ("dh_T",)}
OUT_NAMES = ("y", "h_T")


@dataclass(frozen=True)
class Problem(RecurrentProblem):
    activation: Optional[str] = "tanh"


@st.composite
def problems(draw):
    return Problem(**draw_common_fields(draw, sizes=SIZES, dtypes=DTYPES, upstream_kinds=UPSTREAM),
                   activation=draw(st.sampled_from(RNN_ACTIVATIONS)))


def build(p):
    """(inputs dict, upstream gradients tuple) for a Problem, strided as the Problem asks."""
    rng = np.random.default_rng(p.seed)
    inputs = make_rnn_inputs(rng, p.B, p.T, p.I, p.H, p.dtype, mask=p.mask, with_bias=p.with_bias,
                             with_h0=p.with_h0, dropout_p=p.dropout_p)
    up = make_rnn_upstream(rng, p.B, p.T, p.H, p.dtype, which=UPSTREAM[p.upstream])
    return strided_if_asked(p, inputs, up, rng)


def check_against_reference(p, *, factor=1.0):
    """Run kernel and oracle on Problem p and compare everything; return the kernel's results."""
    inputs, up = build(p)
    opts = dict(activation=p.activation, reverse=p.reverse,
                zero_output_for_mask=p.zero_output_for_mask)
    B, T, I, H = p.B, p.T, p.I, p.H  # noqa: E741
    expected_shapes = dict(y=(B, T, H), h_T=(B, H), dx=(B, T, I), dkernel=(I, H),
                           drecurrent_kernel=(H, H), dbias=(H,), dh0=(B, H))
    outs, grads, saved = check_op_against_oracle(
        "rnn", call_rnn_forward, inputs, up, opts, out_names=OUT_NAMES, grad_names=RNN_GRAD_NAMES,
        upstream_names=("dy", "dh_T"), expected_shapes=expected_shapes, dtype=p.dtype, factor=factor,
        prefix=f"{p}\n  ")
    return outs, grads, saved, up


# ------------------------------------------------------------------------------------------------
# Property test: everything against the oracle
# ------------------------------------------------------------------------------------------------


@settings(max_examples=150)
@given(p=problems())
@example(p=Problem(1, 1, 1, 1, np.float32))
@example(p=Problem(1, 1, 1, 1, np.float64, activation=None, with_bias=False, with_h0=False, upstream="none"))
@example(p=Problem(3, 12, 2, 5, np.float64, activation="relu", mask="fully_masked_rows", reverse=True, dropout_p=0.5))
@example(p=Problem(5, 7, 3, 2, np.float32, activation="sigmoid", mask="leading_masked", zero_output_for_mask=True,
                   noncontiguous=True))
@example(p=Problem(7, 9, 13, 17, np.float32, activation="linear", mask="right_padded", reverse=True, upstream="dy",
                   noncontiguous=True))
def test_rnn_matches_reference(p):
    check_against_reference(p)


# ------------------------------------------------------------------------------------------------
# Awkward sizes, every split of the step loop, every SIMD level
# ------------------------------------------------------------------------------------------------

AWKWARD_SHAPES = [(1, 1, 1, 1), (1, 12, 1, 1), (31, 1, 17, 13), (2, 3, 64, 63), (3, 4, 8, 65),
                  (4, 5, 7, 127), (1, 6, 129, 31), (1, 5, 3, 257), (64, 2, 3, 8), (65, 2, 5, 3),
                  (9, 3, 4, 97)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", RNN_ACTIVATIONS)
@pytest.mark.parametrize("B,T,I,H", AWKWARD_SHAPES)
def test_rnn_awkward_shapes(B, T, I, H, activation, dtype):  # noqa: E741
    check_against_reference(Problem(B, T, I, H, dtype, activation=activation, mask="random",
                                    reverse=(B % 2 == 0), dropout_p=0.25, seed=B * 1000 + T))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", ["plain", "masked_reverse_dropout", "zero_output_noncontiguous"])
def test_rnn_large(dtype, variant):
    cfg = dict(plain=dict(),
               masked_reverse_dropout=dict(mask="right_padded", reverse=True, dropout_p=0.25),
               zero_output_noncontiguous=dict(mask="random", zero_output_for_mask=True, noncontiguous=True))[variant]
    check_against_reference(Problem(33, 50, 70, 129, dtype, seed=1234, **cfg))


@pytest.mark.parametrize("product", ["packed", "blas"])
@pytest.mark.parametrize("split", ["batch", "units", "auto"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_thread_split_and_step_product_matches_the_reference(split, product, threads,
                                                                   restore_tuning):
    _core.set_rnn_split(split)
    _core.set_step_product(product)
    pyseq.set_num_threads(threads)
    # rows around the micro-kernel's row block (6 or 8), columns around its panel width, and
    # unit chunks of 8 with a remainder
    for k, (B, T, I, H) in enumerate([(1, 6, 3, 64), (5, 7, 4, 50), (4, 3, 6, 24), (9, 4, 5, 33),
                                      (17, 3, 2, 70), (2, 4, 3, 260)]):
        for dtype in DTYPES:
            check_against_reference(Problem(B, T, I, H, dtype, activation=RNN_ACTIVATIONS[k % 4],
                                            mask="random", reverse=bool(k % 2), dropout_p=0.25,
                                            seed=threads * 100 + k))


@pytest.mark.parametrize("level", _core.build_info()["simd_available"])
@pytest.mark.parametrize("activation", RNN_ACTIVATIONS[:4])
def test_every_simd_level_matches_the_reference(level, activation, restore_tuning):
    _core.set_simd(level)
    assert pyseq.build_info()["simd"] == level
    for k, (B, T, I, H) in enumerate([(3, 5, 4, 7), (2, 9, 3, 67), (1, 4, 5, 129), (20, 3, 5, 49)]):
        for dtype in DTYPES:
            check_against_reference(Problem(B, T, I, H, dtype, activation=activation, mask="random",
                                            reverse=bool(k % 2), dropout_p=0.3, seed=k))


# ------------------------------------------------------------------------------------------------
# Options, saved, determinism, threads
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_none_is_linear(dtype):
    inputs, up = build(Problem(4, 6, 3, 9, dtype, mask="random", dropout_p=0.25, seed=8))
    a = call_rnn_forward(ops.rnn_forward, inputs, activation=None)
    b = call_rnn_forward(ops.rnn_forward, inputs, activation="linear")
    for name, u, v in zip(OUT_NAMES, a[:2], b[:2]):
        np.testing.assert_array_equal(u, v, err_msg=name)
    for name, u, v in zip(RNN_GRAD_NAMES, ops.rnn_backward(*up, a[2]), ops.rnn_backward(*up, b[2])):
        np.testing.assert_array_equal(u, v, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_differ(dtype):
    """Each name reaches its own instantiation: the four activations give four different outputs."""
    inputs, _ = build(Problem(3, 5, 4, 6, dtype, seed=9))
    ys = {a: call_rnn_forward(ops.rnn_forward, inputs, activation=a)[0] for a in RNN_ACTIVATIONS[:4]}
    assert np.all(ys["relu"] >= 0) and np.all((ys["sigmoid"] > 0) & (ys["sigmoid"] < 1))
    assert np.all(np.abs(ys["tanh"]) < 1) and np.any(np.abs(ys["linear"]) > 1)
    names = list(ys)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            assert not np.allclose(ys[names[i]], ys[names[j]]), (names[i], names[j])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reverse", [False, True])
def test_backward_twice_from_same_saved(dtype, reverse):
    p = Problem(5, 8, 6, 7, dtype, activation="relu", mask="fully_masked_rows", reverse=reverse,
                dropout_p=0.5, seed=3)
    inputs, up = build(p)
    *_, saved = call_rnn_forward(ops.rnn_forward, inputs, activation=p.activation, reverse=reverse)
    assert_backward_repeatable(ops.rnn_backward, up, saved, RNN_GRAD_NAMES)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_is_deterministic(dtype):
    inputs, _ = build(Problem(9, 10, 11, 37, dtype, mask="random", seed=4))
    assert_forward_deterministic(lambda: call_rnn_forward(ops.rnn_forward, inputs)[:2], OUT_NAMES)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [1, 17])
def test_thread_count_does_not_change_results(dtype, B, restore_tuning):
    p = Problem(B, 20, 31, 300, dtype, activation="sigmoid", mask="random", reverse=True,
                dropout_p=0.25, seed=5)
    inputs, up = build(p)

    def run():
        y, h, saved = call_rnn_forward(ops.rnn_forward, inputs, activation="sigmoid", reverse=True)
        return (y, h) + tuple(ops.rnn_backward(*up, saved))

    assert_thread_count_does_not_matter(run, OUT_NAMES + RNN_GRAD_NAMES, dtype)


def test_backward_with_a_different_thread_count_than_forward(restore_tuning):
    p = Problem(3, 6, 5, 260, np.float64, mask="random", dropout_p=0.25, seed=11)
    inputs, up = build(p)
    pyseq.set_num_threads(2)
    _, _, saved = call_rnn_forward(ops.rnn_forward, inputs)
    pyseq.set_num_threads(1)
    grads = ops.rnn_backward(*up, saved)
    _, _, cache = call_rnn_forward(reference.rnn_forward, inputs)
    assert_all_close(grads, reference.rnn_backward(*up, cache), np.float64, RNN_GRAD_NAMES)


def test_concurrent_calls_from_python_threads_match_serial_ones():
    """The GIL is released for the whole kernel: several Python threads may be inside pyseq at
    once, each with its own team and scratch memory; results equal the serial ones."""
    jobs = []
    for k, (B, T, I, H) in enumerate([(1, 30, 5, 300), (9, 20, 7, 33), (33, 12, 4, 40), (4, 25, 6, 96)] * 2):
        jobs.append((build(Problem(B, T, I, H, np.float32, mask="random", dropout_p=0.25, seed=k)),
                     RNN_ACTIVATIONS[k % 4]))

    def run(job):
        (inputs, up), activation = job
        y, h, saved = call_rnn_forward(ops.rnn_forward, inputs, activation=activation)
        return (y, h) + tuple(ops.rnn_backward(*up, saved))

    assert_concurrent_matches_serial(run, jobs)


def test_saved_is_opaque():
    inputs, _ = build(Problem(2, 3, 4, 5, np.float32))
    *_, saved = call_rnn_forward(ops.rnn_forward, inputs, activation="relu")
    assert type(saved).__name__ == "RNNSaved"
    assert "relu" in repr(saved) and "float32" in repr(saved)
    assert saved.nbytes == 2 * 2 * 3 * 5 * 4  # act and h_in, (B, T, H) float32 each


# ------------------------------------------------------------------------------------------------
# Finite differences of the kernel itself (float64)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", RNN_ACTIVATIONS[:4])
@pytest.mark.parametrize("reverse", [False, True])
def test_kernel_gradients_match_finite_differences(activation, reverse):
    eps = 1e-6
    B, T, I, H = 3, 4, 3, 2
    rng = np.random.default_rng(6)
    inputs = make_rnn_inputs(rng, B, T, I, H, np.float64, dropout_p=0.5)
    inputs["mask"] = np.array([[0, 0, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1]], dtype=bool)
    up = make_rnn_upstream(rng, B, T, H, np.float64)
    opts = dict(activation=activation, reverse=reverse)

    def loss(inp):
        y, h, _ = call_rnn_forward(ops.rnn_forward, inp, **opts)
        return float(np.sum(y * up[0]) + np.sum(h * up[1]))

    *_, saved = call_rnn_forward(ops.rnn_forward, inputs, **opts)
    grads = ops.rnn_backward(*up, saved)
    for name, g, num in zip(RNN_GRAD_NAMES, grads, numeric_gradients(loss, inputs, RNN_POSITIONAL, eps)):
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8,
                                   err_msg=f"kernel {name} ({activation}) vs finite differences")


@pytest.mark.parametrize("activation", RNN_ACTIVATIONS[:4])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_reference_gradients_match_finite_differences(activation, zero_output_for_mask):
    """The oracle's hand-written backward against its own forward."""
    eps = 1e-6
    B, T, I, H = 2, 5, 2, 3
    rng = np.random.default_rng(12)
    inputs = make_rnn_inputs(rng, B, T, I, H, np.float64, mask="random", dropout_p=0.5)
    up = make_rnn_upstream(rng, B, T, H, np.float64)
    opts = dict(activation=activation, zero_output_for_mask=zero_output_for_mask, reverse=True)

    def loss(inp):
        y, h, _ = call_rnn_forward(reference.rnn_forward, inp, **opts)
        return float(np.sum(y * up[0]) + np.sum(h * up[1]))

    *_, cache = call_rnn_forward(reference.rnn_forward, inputs, **opts)
    grads = reference.rnn_backward(*up, cache)
    for name, g, num in zip(RNN_GRAD_NAMES, grads, numeric_gradients(loss, inputs, RNN_POSITIONAL, eps)):
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8,
                                   err_msg=f"reference {name} ({activation}) vs finite differences")


# ------------------------------------------------------------------------------------------------
# PyTorch's nn.RNN (tanh and relu), when installed
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch_rnn(activation, bidirectional, dtype):
    torch = pytest.importorskip("torch")
    B, T, I, H = 4, 7, 5, 6
    rng = np.random.default_rng(13)
    dirs = [make_rnn_inputs(rng, B, T, I, H, dtype) for _ in range(1 + bidirectional)]
    x = dirs[0]["x"]
    up = [make_rnn_upstream(rng, B, T, H, dtype) for _ in dirs]
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    rnn = torch.nn.RNN(I, H, nonlinearity=activation, batch_first=True, bidirectional=bidirectional,
                       dtype=tdtype)
    with torch.no_grad():
        for k, d in enumerate(dirs):
            sfx = "_reverse" if k else ""
            # PyTorch stores W and U transposed and adds two biases: split ours between them
            split = rng.standard_normal(H).astype(dtype)
            getattr(rnn, "weight_ih_l0" + sfx).copy_(torch.from_numpy(d["kernel"].T.copy()))
            getattr(rnn, "weight_hh_l0" + sfx).copy_(torch.from_numpy(d["recurrent_kernel"].T.copy()))
            getattr(rnn, "bias_ih_l0" + sfx).copy_(torch.from_numpy(d["bias"] - split))
            getattr(rnn, "bias_hh_l0" + sfx).copy_(torch.from_numpy(split))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    th0 = torch.from_numpy(np.stack([d["h0"] for d in dirs])).requires_grad_(True)
    ty, thn = rnn(tx, th0)
    tdy = torch.from_numpy(np.concatenate([u[0] for u in up], axis=-1))
    tdh = torch.from_numpy(np.stack([u[1] for u in up]))
    params = list(rnn.parameters())
    tgrads = [g.detach().numpy() for g in torch.autograd.grad((ty, thn), (tx, *params, th0), (tdy, tdh))]
    ty, thn = ty.detach().numpy(), thn.detach().numpy()

    dx_sum = 0
    for k, d in enumerate(dirs):
        y, h, saved = ops.rnn_forward(x, d["kernel"], d["recurrent_kernel"], d["bias"], d["h0"],
                                      activation=activation, reverse=bool(k))
        dx, dk, drk, db, dh0 = ops.rnn_backward(*up[k], saved)
        dx_sum = dx_sum + dx
        w_ih, w_hh, b_ih, b_hh = tgrads[1 + 4 * k: 5 + 4 * k]
        assert_all_close((y, h, dk, drk, db, db, dh0),
                         (ty[..., k * H:(k + 1) * H], thn[k], w_ih.T, w_hh.T, b_ih, b_hh, tgrads[-1][k]),
                         dtype, ("y", "h_T", "dkernel", "drecurrent_kernel", "dbias (ih)", "dbias (hh)", "dh0"),
                         factor=10.0 if dtype == np.float32 else 1.0, prefix=f"direction {k}: ")
    assert_close(dx_sum, tgrads[0], dtype, "dx", factor=10.0 if dtype == np.float32 else 1.0)


# ------------------------------------------------------------------------------------------------
# Keras's SimpleRNN (mask semantics, go_backwards), when installed
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", None])
@pytest.mark.parametrize("mask", ["none", "random", "fully_masked_rows", "leading_masked"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_keras_simple_rnn(activation, mask, go_backwards, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras was imported earlier with the {keras.backend.backend()} backend")
    B, T, I, H = 4, 6, 3, 5
    rng = np.random.default_rng(14)
    inputs = make_rnn_inputs(rng, B, T, I, H, np.float32, mask=mask)
    layer = keras.layers.SimpleRNN(H, activation=activation, return_sequences=True,
                                   return_state=True, go_backwards=go_backwards)
    layer.build((B, T, I))
    layer.set_weights([inputs["kernel"], inputs["recurrent_kernel"], inputs["bias"]])
    kmask = None if inputs["mask"] is None else keras.ops.convert_to_tensor(inputs["mask"])
    ky, kh = layer(keras.ops.convert_to_tensor(inputs["x"]), mask=kmask,
                   initial_state=[keras.ops.convert_to_tensor(inputs["h0"])])
    ky, kh = ky.detach().cpu().numpy(), kh.detach().cpu().numpy()  # torch tensors
    if go_backwards:
        ky = ky[:, ::-1]  # Keras returns the sequence in processing order, pyseq in input order
    y, h, _ = call_rnn_forward(ops.rnn_forward, inputs, activation=activation, reverse=go_backwards)
    assert_all_close((y, h), (ky, kh), np.float32, OUT_NAMES, factor=10.0)
