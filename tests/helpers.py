"""Shared test helpers: per-dtype tolerances, comparisons, awkward strides, random inputs."""

import numpy as np

# ------------------------------------------------------------------------------------------------
# Tolerances
#
# A result passes where |actual - ref| <= atol * scale + rtol * |ref|, element by element, with
# scale = max(1, max|ref|): the absolute part grows with the magnitude of the whole tensor, so that
# entries that are small only through cancellation (typical of gradients summed over B*T terms)
# are judged against the size of the numbers that were summed, not against zero.
# ------------------------------------------------------------------------------------------------

TOLERANCES = {
    np.dtype(np.float32): dict(atol=1e-5, rtol=1e-4),
    np.dtype(np.float64): dict(atol=1e-10, rtol=1e-9),
}


def tolerance(dtype):
    """(atol, rtol) for results computed in ``dtype`` and compared with the float64 oracle."""
    t = TOLERANCES[np.dtype(dtype)]
    return t["atol"], t["rtol"]


def assert_close(actual, ref, dtype, what, *, factor=1.0):
    """Assert ``actual`` matches the oracle ``ref`` to the tolerance of ``dtype``.

    ``what`` names the quantity in the failure message; ``factor`` widens both tolerances for a
    known harder case (say so at the call site).
    """
    actual = np.asarray(actual)
    ref = np.asarray(ref, dtype=np.float64)
    if actual.shape != ref.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {ref.shape}")
    atol, rtol = tolerance(dtype)
    atol, rtol = atol * factor, rtol * factor
    a = actual.astype(np.float64)
    if ref.size == 0:
        return
    scale = max(1.0, float(np.max(np.abs(ref))))
    err = np.abs(a - ref)
    tol = atol * scale + rtol * np.abs(ref)
    bad = ~(err <= tol)  # NaN in actual counts as bad
    if not bad.any():
        return
    n_bad = int(bad.sum())
    err_for_argmax = np.where(np.isnan(err), np.inf, err - tol)
    worst = np.unravel_index(int(np.argmax(err_for_argmax)), ref.shape)
    rel = err / np.maximum(np.abs(ref), atol * scale)  # relative error, floored near zero
    raise AssertionError(
        f"{what} ({np.dtype(dtype).name}, shape {ref.shape}): {n_bad} of {ref.size} elements out of "
        f"tolerance (atol={atol:g}*scale {scale:.3g} + rtol={rtol:g}*|ref|).\n"
        f"  worst at {tuple(int(k) for k in worst)}: actual={a[worst]!r} ref={ref[worst]!r} "
        f"err={err[worst]:.3g} tol={tol[worst]:.3g}\n"
        f"  max abs err={np.nanmax(err):.3g}, max rel err={np.nanmax(rel):.3g}, "
        f"NaNs in actual: {int(np.isnan(a).sum())}"
    )


def assert_all_close(actuals, refs, dtype, names, *, factor=1.0, prefix=""):
    """``assert_close`` over parallel sequences, failing with every mismatching name at once."""
    failures = []
    for a, r, name in zip(actuals, refs, names):
        try:
            assert_close(a, r, dtype, prefix + name, factor=factor)
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        raise AssertionError("\n".join(failures))


# ------------------------------------------------------------------------------------------------
# Memory layouts
# ------------------------------------------------------------------------------------------------


def make_noncontiguous(a, rng):
    """An array equal to ``a`` (same shape, dtype and values) but with non-unit strides.

    One of: every axis sliced with step 2 out of a larger buffer; a transposed copy transposed back
    (Fortran order); axis 0 reversed (negative stride). None is returned unchanged.
    """
    if a is None:
        return None
    a = np.asarray(a)
    kinds = ["step2", "reversed"] + (["fortran"] if a.ndim >= 2 else [])
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "step2":
        big = np.zeros(tuple(2 * n + 1 for n in a.shape), dtype=a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        out = view
    elif kind == "reversed":
        out = np.ascontiguousarray(a[::-1])[::-1]
    else:
        out = a.T.copy().T
    assert out.shape == a.shape and out.dtype == a.dtype
    np.testing.assert_array_equal(out, a)
    return out


# ------------------------------------------------------------------------------------------------
# Random LSTM problems
# ------------------------------------------------------------------------------------------------

MASK_KINDS = ["none", "all_valid", "random", "fully_masked_rows", "leading_masked", "right_padded"]


def make_mask(rng, B, T, kind):
    """A (B, T) bool mask of the given kind (``None`` for "none")."""
    if kind == "none":
        return None
    if kind == "all_valid":
        return np.ones((B, T), dtype=bool)
    if kind == "random":
        return rng.random((B, T)) < 0.6
    if kind == "fully_masked_rows":
        m = rng.random((B, T)) < 0.6
        m[0, :] = False
        if B > 2:
            m[-1, :] = False
        return m
    if kind == "leading_masked":
        # each row: its first k steps (in input order) masked, k in 0..T
        k = rng.integers(0, T + 1, size=B)
        return np.arange(T)[None, :] >= k[:, None]
    if kind == "right_padded":
        # Keras padding: the first L steps valid, the rest padding, L in 0..T
        L = rng.integers(0, T + 1, size=B)
        return np.arange(T)[None, :] < L[:, None]
    raise ValueError(f"unknown mask kind {kind!r}")


def make_dropout_mask(rng, B, H, p, dtype):
    """Inverted-dropout mask (B, H): 0 with probability p, else 1/(1-p)."""
    keep = rng.random((B, H)) >= p
    return (keep / (1.0 - p)).astype(dtype)


def make_lstm_inputs(rng, B, T, I, H, dtype, *, mask="none", with_bias=True, with_h0=True,
                     with_c0=True, dropout_p=None):
    """Random inputs for ``lstm_forward`` as a dict of its argument names.

    Weights are scaled like a sensibly initialised layer (gates mostly unsaturated, the recurrence
    contractive), so that float32 errors stay bounded over long sequences.
    """
    dtype = np.dtype(dtype)

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(dtype)

    return dict(
        x=normal((B, T, I), 1.0),
        kernel=normal((I, 4 * H), 1.0 / np.sqrt(I)),
        recurrent_kernel=normal((H, 4 * H), 1.0 / np.sqrt(H)),
        bias=normal((4 * H,), 0.5) if with_bias else None,
        h0=normal((B, H), 0.5) if with_h0 else None,
        c0=normal((B, H), 0.5) if with_c0 else None,
        mask=make_mask(rng, B, T, mask),
        recurrent_dropout_mask=None if dropout_p is None else make_dropout_mask(rng, B, H, dropout_p, dtype),
    )


def make_lstm_upstream(rng, B, T, H, dtype, *, which=("dy", "dh_T", "dc_T")):
    """Random upstream gradients (dy, dh_T, dc_T); those not named in ``which`` are None."""
    shapes = dict(dy=(B, T, H), dh_T=(B, H), dc_T=(B, H))
    return tuple(rng.standard_normal(shapes[k]).astype(dtype) if k in which else None
                 for k in ("dy", "dh_T", "dc_T"))


LSTM_POSITIONAL = ("x", "kernel", "recurrent_kernel", "bias", "h0", "c0")
LSTM_OPTIONS = ("mask", "reverse", "zero_output_for_mask", "recurrent_dropout_mask")
LSTM_GRAD_NAMES = ("dx", "dkernel", "drecurrent_kernel", "dbias", "dh0", "dc0")


def call_lstm_forward(fn, inputs, **options):
    """``fn(x, kernel, recurrent_kernel, bias, h0, c0, **keyword options)`` from an inputs dict."""
    kw = {k: inputs[k] for k in LSTM_OPTIONS if k in inputs}
    kw.update(options)
    return fn(*(inputs[k] for k in LSTM_POSITIONAL), **kw)


def lstm_loss(y, h_T, c_T, dy, dh_T, dc_T):
    """sum(y*dy) + sum(h_T*dh_T) + sum(c_T*dc_T) in float64; None upstream terms are dropped."""
    total = 0.0
    for out, up in ((y, dy), (h_T, dh_T), (c_T, dc_T)):
        if up is not None:
            total += float(np.sum(np.asarray(out, np.float64) * np.asarray(up, np.float64)))
    return total


def copy_inputs(d):
    """Deep copies of the arrays in a dict (None and non-arrays kept as they are)."""
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in d.items()}


def assert_unchanged(before, after, what):
    """Every array in ``after`` equals (bit for bit) its copy in ``before``."""
    for k, v in before.items():
        if isinstance(v, np.ndarray):
            w = after[k]
            assert w.dtype == v.dtype and w.shape == v.shape, f"{what}: {k} changed dtype/shape"
            assert np.array_equal(w, v, equal_nan=v.dtype.kind in "fc"), f"{what}: input {k} was modified"


# ------------------------------------------------------------------------------------------------
# Random SimpleRNN problems
# ------------------------------------------------------------------------------------------------

RNN_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear", None)
RNN_POSITIONAL = ("x", "kernel", "recurrent_kernel", "bias", "h0")
RNN_OPTIONS = ("activation", "mask", "reverse", "zero_output_for_mask", "recurrent_dropout_mask")
RNN_GRAD_NAMES = ("dx", "dkernel", "drecurrent_kernel", "dbias", "dh0")


def make_rnn_inputs(rng, B, T, I, H, dtype, *, mask="none", with_bias=True, with_h0=True,
                    dropout_p=None):
    """Random inputs for ``rnn_forward`` (positional inputs, mask and dropout mask) as a dict.

    Weights are scaled so that the recurrence is contractive (spectral radius about 0.9), also
    for the unbounded relu and linear activations over long sequences.
    """
    dtype = np.dtype(dtype)

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(dtype)

    return dict(
        x=normal((B, T, I), 1.0),
        kernel=normal((I, H), 1.0 / np.sqrt(I)),
        recurrent_kernel=normal((H, H), 0.9 / np.sqrt(H)),
        bias=normal((H,), 0.5) if with_bias else None,
        h0=normal((B, H), 0.5) if with_h0 else None,
        mask=make_mask(rng, B, T, mask),
        recurrent_dropout_mask=None if dropout_p is None else make_dropout_mask(rng, B, H, dropout_p, dtype),
    )


def make_rnn_upstream(rng, B, T, H, dtype, *, which=("dy", "dh_T")):
    """Random upstream gradients (dy, dh_T); those not named in ``which`` are None."""
    shapes = dict(dy=(B, T, H), dh_T=(B, H))
    return tuple(rng.standard_normal(shapes[k]).astype(dtype) if k in which else None
                 for k in ("dy", "dh_T"))


def call_rnn_forward(fn, inputs, **options):
    """``fn(x, kernel, recurrent_kernel, bias, h0, **keyword options)`` from an inputs dict."""
    kw = {k: inputs[k] for k in RNN_OPTIONS if k in inputs}
    kw.update(options)
    return fn(*(inputs[k] for k in RNN_POSITIONAL), **kw)


# ------------------------------------------------------------------------------------------------
# Finite differences (shared by every family's float64 gradient checks)
# ------------------------------------------------------------------------------------------------


def numeric_gradients(loss, inputs, names, eps=1e-6):
    """Central differences of the scalar ``loss(inputs)`` with respect to each ``inputs[name]``,
    one element at a time (copies are perturbed; ``inputs`` is left as it was)."""
    out = []
    for wrt in names:
        num = np.zeros_like(inputs[wrt])
        for idx in np.ndindex(num.shape):
            plus, minus = dict(inputs), dict(inputs)
            plus[wrt] = inputs[wrt].copy()
            minus[wrt] = inputs[wrt].copy()
            plus[wrt][idx] += eps
            minus[wrt][idx] -= eps
            num[idx] = (loss(plus) - loss(minus)) / (2 * eps)
        out.append(num)
    return out
