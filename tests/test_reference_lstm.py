"""Checks of the LSTM oracle itself (pyseq.reference), independent of the kernels.

The oracle is what every kernel is judged by, so it is checked from outside: finite-difference
gradients, algebraic identities (all-valid mask == no mask, reverse == flipped forward), Keras
mask semantics on hand-made cases, a hand-computed scalar step, and PyTorch when it is installed.
"""

import math

import numpy as np
import pytest

from pyseq import reference

from helpers import LSTM_GRAD_NAMES, LSTM_POSITIONAL, make_lstm_inputs, make_lstm_upstream

# ------------------------------------------------------------------------------------------------
# Finite differences
# ------------------------------------------------------------------------------------------------

FD_EPS = 1e-6


def _loss(inputs, options, up):
    y, h, c, _ = reference.lstm_forward(*(inputs[k] for k in LSTM_POSITIONAL), **options)
    dy, dh, dc = up
    return float(np.sum(y * dy) + np.sum(h * dh) + np.sum(c * dc))


def _numeric_grad(inputs, name, options, up):
    """Central differences of the loss with respect to every element of inputs[name]."""
    base = inputs[name]
    grad = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        plus = dict(inputs)
        minus = dict(inputs)
        plus[name] = base.copy()
        minus[name] = base.copy()
        plus[name][idx] += FD_EPS
        minus[name][idx] -= FD_EPS
        grad[idx] = (_loss(plus, options, up) - _loss(minus, options, up)) / (2 * FD_EPS)
    return grad


def _split(inputs):
    """(positional inputs dict with None replaced by zeros, keyword options dict)."""
    pos = {k: inputs[k] for k in LSTM_POSITIONAL}
    x, k_ = pos["x"], pos["kernel"]
    B, T, _ = x.shape
    H = k_.shape[1] // 4
    if pos["bias"] is None:
        pos["bias"] = np.zeros(4 * H)
    for name in ("h0", "c0"):
        if pos[name] is None:
            pos[name] = np.zeros((B, H))
    options = dict(mask=inputs["mask"], recurrent_dropout_mask=inputs["recurrent_dropout_mask"])
    return pos, options


FD_CASES = {
    "plain": dict(),
    "no_bias_no_state": dict(with_bias=False, with_h0=False, with_c0=False),
    "reverse": dict(reverse=True),
    "mask_random": dict(mask="random"),
    "mask_fully_masked_rows": dict(mask="fully_masked_rows"),
    "mask_leading": dict(mask="leading_masked"),
    "mask_right_padded_reverse": dict(mask="right_padded", reverse=True),
    "zero_output_for_mask": dict(mask="random", zero_output_for_mask=True),
    "zero_output_for_mask_reverse": dict(mask="leading_masked", zero_output_for_mask=True, reverse=True),
    "dropout": dict(dropout_p=0.5),
    "everything": dict(mask="fully_masked_rows", reverse=True, dropout_p=0.25),
}


@pytest.mark.parametrize("case", list(FD_CASES))
def test_gradients_match_finite_differences(case):
    cfg = dict(FD_CASES[case])
    reverse = cfg.pop("reverse", False)
    zero_out = cfg.pop("zero_output_for_mask", False)
    rng = np.random.default_rng(sum(map(ord, case)))
    B, T, I, H = 3, 4, 2, 3
    inputs = make_lstm_inputs(rng, B, T, I, H, np.float64, **cfg)
    if case == "mask_leading":
        # row 0: first two steps masked with a non-zero h0; row 1 fully valid; row 2 fully masked
        inputs["mask"] = np.array([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    up = make_lstm_upstream(rng, B, T, H, np.float64)

    y, h, c, cache = reference.lstm_forward(*(inputs[k] for k in LSTM_POSITIONAL),
                                            mask=inputs["mask"], reverse=reverse,
                                            zero_output_for_mask=zero_out,
                                            recurrent_dropout_mask=inputs["recurrent_dropout_mask"])
    grads = reference.lstm_backward(*up, cache)
    assert len(grads) == 6

    pos, options = _split(inputs)
    options.update(reverse=reverse, zero_output_for_mask=zero_out)
    for name, g in zip(LSTM_GRAD_NAMES, grads):
        wrt = name[1:]
        assert g.shape == pos[wrt].shape and g.dtype == np.float64, (name, g.shape, g.dtype)
        num = _numeric_grad(pos, wrt, options, up)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=f"{case}: {name}")


def test_gradients_match_finite_differences_single_upstream_terms():
    """Each of dy, dh_T, dc_T on its own (the others None) matches finite differences."""
    rng = np.random.default_rng(7)
    B, T, I, H = 2, 3, 2, 2
    inputs = make_lstm_inputs(rng, B, T, I, H, np.float64, mask="random", dropout_p=0.5)
    pos, options = _split(inputs)
    full = make_lstm_upstream(rng, B, T, H, np.float64)
    for keep in range(3):
        up = tuple(u if j == keep else None for j, u in enumerate(full))
        up_zeros = tuple(u if u is not None else np.zeros_like(full[j]) for j, u in enumerate(up))
        _, _, _, cache = reference.lstm_forward(*(pos[k] for k in LSTM_POSITIONAL), **options)
        grads = reference.lstm_backward(*up, cache)
        for name, g in zip(LSTM_GRAD_NAMES, grads):
            num = _numeric_grad(pos, name[1:], options, up_zeros)
            np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=f"upstream {keep}: {name}")


# ------------------------------------------------------------------------------------------------
# Identities
# ------------------------------------------------------------------------------------------------


def _run(inputs, up, **options):
    kw = dict(mask=inputs["mask"], recurrent_dropout_mask=inputs["recurrent_dropout_mask"])
    kw.update(options)
    y, h, c, cache = reference.lstm_forward(*(inputs[k] for k in LSTM_POSITIONAL), **kw)
    return (y, h, c), reference.lstm_backward(*up, cache)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_all_valid_mask_equals_no_mask(reverse, zero_output_for_mask):
    rng = np.random.default_rng(11)
    B, T, I, H = 3, 5, 4, 3
    inputs = make_lstm_inputs(rng, B, T, I, H, np.float64, dropout_p=0.5)
    up = make_lstm_upstream(rng, B, T, H, np.float64)
    opts = dict(reverse=reverse, zero_output_for_mask=zero_output_for_mask)
    out_none, grads_none = _run(inputs, up, **opts)
    inputs["mask"] = np.ones((B, T), dtype=bool)
    out_all, grads_all = _run(inputs, up, **opts)
    for a, b in zip(out_none + grads_none, out_all + grads_all):
        np.testing.assert_array_equal(a, b)


def test_dropout_mask_of_ones_equals_no_dropout():
    rng = np.random.default_rng(12)
    B, T, I, H = 2, 4, 3, 3
    inputs = make_lstm_inputs(rng, B, T, I, H, np.float64, mask="random")
    up = make_lstm_upstream(rng, B, T, H, np.float64)
    out_none, grads_none = _run(inputs, up)
    inputs["recurrent_dropout_mask"] = np.ones((B, H))
    out_ones, grads_ones = _run(inputs, up)
    for a, b in zip(out_none + grads_none, out_ones + grads_ones):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mask", ["none", "random", "fully_masked_rows", "leading_masked"])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_reverse_equals_forward_on_flipped_input(mask, zero_output_for_mask):
    rng = np.random.default_rng(13)
    B, T, I, H = 3, 6, 2, 4
    inputs = make_lstm_inputs(rng, B, T, I, H, np.float64, mask=mask, dropout_p=0.25)
    up = make_lstm_upstream(rng, B, T, H, np.float64)
    (y_r, h_r, c_r), g_r = _run(inputs, up, reverse=True, zero_output_for_mask=zero_output_for_mask)

    flipped = dict(inputs)
    flipped["x"] = inputs["x"][:, ::-1]
    if inputs["mask"] is not None:
        flipped["mask"] = inputs["mask"][:, ::-1]
    up_f = (up[0][:, ::-1], up[1], up[2])
    (y_f, h_f, c_f), g_f = _run(flipped, up_f, reverse=False, zero_output_for_mask=zero_output_for_mask)

    np.testing.assert_allclose(y_r, y_f[:, ::-1], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(h_r, h_f, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(c_r, c_f, rtol=1e-13, atol=1e-14)
    dx_f = g_f[0][:, ::-1]
    for name, a, b in zip(LSTM_GRAD_NAMES, g_r, (dx_f,) + tuple(g_f[1:])):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13, err_msg=name)


def test_backward_with_none_upstream_equals_zeros():
    rng = np.random.default_rng(14)
    B, T, I, H = 2, 3, 2, 2
    inputs = make_lstm_inputs(rng, B, T, I, H, np.float64, mask="random")
    _, _, _, cache = reference.lstm_forward(*(inputs[k] for k in LSTM_POSITIONAL), mask=inputs["mask"])
    g_none = reference.lstm_backward(None, None, None, cache)
    g_zero = reference.lstm_backward(np.zeros((B, T, H)), np.zeros((B, H)), np.zeros((B, H)), cache)
    for name, a, b in zip(LSTM_GRAD_NAMES, g_none, g_zero):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert not a.any(), name


# ------------------------------------------------------------------------------------------------
# Keras mask semantics on hand-made cases
# ------------------------------------------------------------------------------------------------


def _small(rng, B=3, T=5, I=2, H=3, dtype=np.float64):
    return make_lstm_inputs(rng, B, T, I, H, dtype)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_fully_masked_row_gives_zero_output_and_initial_state(reverse, zero_output_for_mask):
    rng = np.random.default_rng(21)
    inp = _small(rng)
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    y, h, c, _ = reference.lstm_forward(*(inp[k] for k in LSTM_POSITIONAL), mask=mask, reverse=reverse,
                                        zero_output_for_mask=zero_output_for_mask)
    assert not y[1].any()
    np.testing.assert_array_equal(h[1], inp["h0"][1])
    np.testing.assert_array_equal(c[1], inp["c0"][1])
    # the other rows are what they would be alone
    for b in (0, 2):
        one = {k: (v[b:b + 1] if k in ("x", "h0", "c0") else v) for k, v in inp.items()}
        y1, h1, c1, _ = reference.lstm_forward(*(one[k] for k in LSTM_POSITIONAL), reverse=reverse)
        np.testing.assert_allclose(y[b], y1[0], rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(h[b], h1[0], rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(c[b], c1[0], rtol=1e-14, atol=1e-15)


def test_fully_masked_row_gradients_pass_straight_through():
    """A fully masked row: dh0 = dh_T, dc0 = dc_T, dx = 0 for that row, no weight gradient."""
    rng = np.random.default_rng(22)
    B, T, I, H = 2, 4, 2, 3
    inp = make_lstm_inputs(rng, B, T, I, H, np.float64, dropout_p=0.5)
    mask = np.zeros((B, T), dtype=bool)
    up = make_lstm_upstream(rng, B, T, H, np.float64)
    _, _, _, cache = reference.lstm_forward(*(inp[k] for k in LSTM_POSITIONAL), mask=mask,
                                            recurrent_dropout_mask=inp["recurrent_dropout_mask"])
    dx, dW, dU, db, dh0, dc0 = reference.lstm_backward(*up, cache)
    assert not dx.any() and not dW.any() and not dU.any() and not db.any()
    np.testing.assert_array_equal(dh0, up[1])
    np.testing.assert_array_equal(dc0, up[2])


def test_leading_masked_steps_output_zeros_even_with_nonzero_h0():
    rng = np.random.default_rng(23)
    inp = _small(rng, B=1, T=5)
    assert np.abs(inp["h0"]).min() > 0
    mask = np.array([[False, False, True, False, True]])
    y, h, c, _ = reference.lstm_forward(*(inp[k] for k in LSTM_POSITIONAL), mask=mask)
    assert not y[0, 0].any() and not y[0, 1].any()
    # steps 0, 1 carry h0/c0, so step 2 is the first step of an LSTM started from (h0, c0)
    y2, h2, c2, _ = reference.lstm_forward(inp["x"][:, 2:3], inp["kernel"], inp["recurrent_kernel"],
                                           inp["bias"], inp["h0"], inp["c0"])
    np.testing.assert_allclose(y[0, 2], y2[0, 0], rtol=1e-14)
    # masked step 3 repeats step 2's output; the final state is step 4's
    np.testing.assert_array_equal(y[0, 3], y[0, 2])
    np.testing.assert_array_equal(y[0, 4], h[0])
    y4, h4, c4, _ = reference.lstm_forward(inp["x"][:, 4:5], inp["kernel"], inp["recurrent_kernel"],
                                           inp["bias"], h2, c2)
    np.testing.assert_allclose(h, h4, rtol=1e-14)
    np.testing.assert_allclose(c, c4, rtol=1e-14)


def test_reverse_masked_output_repeats_previous_in_processing_order():
    rng = np.random.default_rng(24)
    inp = _small(rng, B=1, T=4)
    mask = np.array([[True, False, True, False]])  # processing order: t=3 (masked), 2, 1 (masked), 0
    y, h, c, _ = reference.lstm_forward(*(inp[k] for k in LSTM_POSITIONAL), mask=mask, reverse=True)
    assert not y[0, 3].any()                     # nothing processed yet: zeros, not h0
    np.testing.assert_array_equal(y[0, 1], y[0, 2])  # repeats the output of t=2
    np.testing.assert_array_equal(y[0, 0], h[0])     # t=0 is processed last
    y_z, h_z, c_z, _ = reference.lstm_forward(*(inp[k] for k in LSTM_POSITIONAL), mask=mask, reverse=True,
                                              zero_output_for_mask=True)
    assert not y_z[0, 1].any() and not y_z[0, 3].any()
    np.testing.assert_array_equal(y_z[0, [0, 2]], y[0, [0, 2]])
    np.testing.assert_array_equal(h_z, h)
    np.testing.assert_array_equal(c_z, c)


def test_zero_output_for_mask_zeros_exactly_the_masked_steps():
    rng = np.random.default_rng(25)
    B, T, I, H = 4, 6, 3, 2
    inp = make_lstm_inputs(rng, B, T, I, H, np.float64, mask="random")
    args = [inp[k] for k in LSTM_POSITIONAL]
    y0, h0, c0, _ = reference.lstm_forward(*args, mask=inp["mask"])
    y1, h1, c1, _ = reference.lstm_forward(*args, mask=inp["mask"], zero_output_for_mask=True)
    m = inp["mask"][:, :, None]
    np.testing.assert_array_equal(y1, np.where(m, y0, 0.0))
    np.testing.assert_array_equal(h1, h0)
    np.testing.assert_array_equal(c1, c0)


# ------------------------------------------------------------------------------------------------
# Hand computation, dtypes, inputs untouched, PyTorch
# ------------------------------------------------------------------------------------------------


def test_single_step_matches_scalar_hand_computation():
    """B = T = I = H = 1, written out with the math module."""
    x, h0, c0, d = 0.7, -0.3, 0.4, 2.0
    W = np.array([[0.5, -1.0, 0.25, 2.0]])
    U = np.array([[1.5, 0.5, -0.75, -0.5]])
    b = np.array([0.1, 1.0, -0.2, 0.0])
    z = [x * W[0, k] + h0 * d * U[0, k] + b[k] for k in range(4)]
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    i, f, g, o = sig(z[0]), sig(z[1]), math.tanh(z[2]), sig(z[3])
    c = f * c0 + i * g
    h = o * math.tanh(c)
    y, hT, cT, _ = reference.lstm_forward(np.array([[[x]]]), W, U, b, np.array([[h0]]), np.array([[c0]]),
                                          recurrent_dropout_mask=np.array([[d]]))
    assert y.shape == (1, 1, 1) and hT.shape == (1, 1) and cT.shape == (1, 1)
    assert y[0, 0, 0] == pytest.approx(h, rel=1e-15)
    assert hT[0, 0] == pytest.approx(h, rel=1e-15)
    assert cT[0, 0] == pytest.approx(c, rel=1e-15)


def test_sigmoid_is_stable_for_large_inputs():
    # pyproject turns warnings into errors, so an overflow in exp would fail here
    z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    s = reference._sigmoid(z)
    np.testing.assert_allclose(s, [0.0, 1.0 / (1.0 + math.exp(40.0)), 0.5, 1.0 / (1.0 + math.exp(-40.0)), 1.0],
                               rtol=1e-15, atol=0)
    rng = np.random.default_rng(26)
    inp = make_lstm_inputs(rng, 2, 3, 2, 2, np.float64)
    inp["x"] = inp["x"] * 1e4
    y, h, c, _ = reference.lstm_forward(*(inp[k] for k in LSTM_POSITIONAL))
    assert np.isfinite(y).all() and np.isfinite(h).all() and np.isfinite(c).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_are_float64_and_inputs_untouched(dtype):
    rng = np.random.default_rng(27)
    B, T, I, H = 2, 3, 2, 3
    inp = make_lstm_inputs(rng, B, T, I, H, dtype, mask="random", dropout_p=0.5)
    before = {k: (v.copy() if v is not None else None) for k, v in inp.items()}
    up = make_lstm_upstream(rng, B, T, H, dtype)
    up_before = tuple(u.copy() for u in up)
    y, h, c, cache = reference.lstm_forward(*(inp[k] for k in LSTM_POSITIONAL), mask=inp["mask"],
                                            recurrent_dropout_mask=inp["recurrent_dropout_mask"])
    grads = reference.lstm_backward(*up, cache)
    grads_again = reference.lstm_backward(*up, cache)
    for a in (y, h, c) + tuple(grads):
        assert a.dtype == np.float64
    for a, b in zip(grads, grads_again):
        np.testing.assert_array_equal(a, b)
    for k, v in before.items():
        if v is not None:
            assert inp[k].dtype == v.dtype
            np.testing.assert_array_equal(inp[k], v, err_msg=k)
    for u, ub in zip(up, up_before):
        np.testing.assert_array_equal(u, ub)
    # float32 inputs are converted exactly: same result as passing their float64 upcast
    up64 = tuple(u.astype(np.float64) for u in up)
    y64, h64, c64, cache64 = reference.lstm_forward(
        *(None if inp[k] is None else inp[k].astype(np.float64) for k in LSTM_POSITIONAL),
        mask=inp["mask"], recurrent_dropout_mask=inp["recurrent_dropout_mask"].astype(np.float64))
    np.testing.assert_array_equal(y, y64)
    for a, b in zip(grads, reference.lstm_backward(*up64, cache64)):
        np.testing.assert_array_equal(a, b)


def test_none_bias_and_state_give_full_shape_gradients():
    rng = np.random.default_rng(28)
    B, T, I, H = 2, 3, 4, 5
    inp = make_lstm_inputs(rng, B, T, I, H, np.float64, with_bias=False, with_h0=False, with_c0=False)
    y, h, c, cache = reference.lstm_forward(*(inp[k] for k in LSTM_POSITIONAL))
    zeros = reference.lstm_forward(inp["x"], inp["kernel"], inp["recurrent_kernel"], np.zeros(4 * H),
                                   np.zeros((B, H)), np.zeros((B, H)))
    for a, b in zip((y, h, c), zeros[:3]):
        np.testing.assert_array_equal(a, b)
    dx, dW, dU, db, dh0, dc0 = reference.lstm_backward(None, np.ones((B, H)), None, cache)
    assert dx.shape == (B, T, I) and dW.shape == (I, 4 * H) and dU.shape == (H, 4 * H)
    assert db.shape == (4 * H,) and dh0.shape == (B, H) and dc0.shape == (B, H)


def test_backward_rejects_foreign_cache():
    for bad in (None, {}, (1, 2), "cache"):
        with pytest.raises(TypeError):
            reference.lstm_backward(None, None, None, bad)


@pytest.mark.parametrize("reverse", [False, True])
def test_matches_pytorch(reverse):
    """Unmasked LSTM against torch.nn.functional's LSTM and autograd (when torch is installed)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(29)
    B, T, I, H = 3, 5, 4, 6
    inp = make_lstm_inputs(rng, B, T, I, H, np.float64)
    up = make_lstm_upstream(rng, B, T, H, np.float64)
    y, h, c, cache = reference.lstm_forward(*(inp[k] for k in LSTM_POSITIONAL), reverse=reverse)
    grads = reference.lstm_backward(*up, cache)

    t = {k: torch.tensor(inp[k], requires_grad=True) for k in LSTM_POSITIONAL}
    lstm = torch.nn.LSTM(I, H, batch_first=True).double()
    xs = torch.flip(t["x"], [1]) if reverse else t["x"]
    # torch's gate order is also i, f, g, o; weights are (4H, in)
    y_t, (h_t, c_t) = torch.func.functional_call(
        lstm, {"weight_ih_l0": t["kernel"].T, "weight_hh_l0": t["recurrent_kernel"].T,
               "bias_ih_l0": t["bias"], "bias_hh_l0": torch.zeros(4 * H, dtype=torch.float64)},
        (xs, (t["h0"][None], t["c0"][None])))
    if reverse:
        y_t = torch.flip(y_t, [1])
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h, h_t[0].detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c, c_t[0].detach().numpy(), rtol=1e-12, atol=1e-13)
    loss = (y_t * torch.tensor(up[0])).sum() + (h_t[0] * torch.tensor(up[1])).sum() \
        + (c_t[0] * torch.tensor(up[2])).sum()
    loss.backward()
    for name, g in zip(LSTM_GRAD_NAMES, grads):
        np.testing.assert_allclose(g, t[name[1:]].grad.numpy(), rtol=1e-11, atol=1e-12, err_msg=name)
