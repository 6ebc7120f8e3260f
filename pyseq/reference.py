"""The oracle: every pyseq op's forward and backward in plain float64 NumPy.

Every kernel in ``pyseq._core`` (reached through ``pyseq.ops``) is checked against the
functions in this module. They are written for clarity, not speed: each recurrent op is a
per-time-step Python loop that reads like the equations in ``docs/``, and each backward is
derived by hand, step by step, in the reverse of the forward's order. Nothing here shares code
with the rest of pyseq (the only import is NumPy), so a bug in the kernels or in ``ops.py``
cannot hide in both places at once.

Conventions shared by all ops in this file:

* Every input is converted to float64 first and every result is float64, whatever the dtype of
  the inputs: the tests compare float32 kernels against this float64 truth.
* Layouts are Keras's, batch-major: x is (B, T, features).
* ``*_forward`` returns its outputs followed by ``cache``, a dict holding whatever the matching
  ``*_backward`` needs. ``*_backward`` takes the output gradients (``None`` means zeros) and the
  cache and returns one gradient per positional input of the forward, in the same order.

Legend: B batch, T steps, I input features, H hidden units.
"""

import numpy as np

__all__ = ["lstm_forward", "lstm_backward"]


# ================================================================================================
# Small private helpers
# ================================================================================================


def _f64(a):
    """``a`` as a fresh float64 array (never a view of the caller's data)."""
    return np.array(a, dtype=np.float64, copy=True)


def _f64_or_zeros(a, shape):
    """``a`` as float64, or zeros of ``shape`` when ``a`` is None."""
    return np.zeros(shape, dtype=np.float64) if a is None else _f64(a)


def _sigmoid(z):
    """Logistic sigmoid 1 / (1 + exp(-z)), written so that exp never overflows."""
    e = np.exp(-np.abs(z))  # in (0, 1]
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _step_order(T, reverse):
    """Time indices in processing order (Keras go_backwards processes T-1 .. 0)."""
    return list(range(T - 1, -1, -1)) if reverse else list(range(T))


def _step_mask(mask, B, T):
    """The (B, T) validity mask as bool; None means every step is valid."""
    if mask is None:
        return np.ones((B, T), dtype=bool)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"reference: mask must be bool, got {mask.dtype}")
    return mask.copy()


def _step_inputs(mask, recurrent_dropout_mask, B, T, H):
    """The (B, T) validity mask and the (B, H) recurrent dropout mask (ones for None) shared by
    every recurrent oracle."""
    valid = _step_mask(mask, B, T)
    assert valid.shape == (B, T), valid.shape
    dropout = np.ones((B, H)) if recurrent_dropout_mask is None else _f64(recurrent_dropout_mask)
    assert dropout.shape == (B, H), dropout.shape
    return valid, dropout


# ================================================================================================
# LSTM
#
# Gate order i, f, c (candidate, "g"), o. For one valid step t (processed after step t_prev):
#     hm   = h_prev * recurrent_dropout_mask
#     z    = x_t @ kernel + hm @ recurrent_kernel + bias          (B, 4H) = [z_i | z_f | z_g | z_o]
#     i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
#     c_t  = f * c_prev + i * g
#     h_t  = o * tanh(c_t)
# Masked step (mask[b, t] False): h_t = h_prev, c_t = c_prev, and the output y_t is
#     zeros                                       if zero_output_for_mask
#     the previous output in processing order     otherwise (zeros before the first valid step)
# ================================================================================================


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, *, mask=None,
                 reverse=False, zero_output_for_mask=False, recurrent_dropout_mask=None):
    """LSTM over a whole sequence. Returns ``(y, h_T, c_T, cache)``, all float64.

    x (B, T, I), kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or None,
    h0 / c0 (B, H) or None, mask (B, T) bool or None, recurrent_dropout_mask (B, H) or None.
    y (B, T, H) is in input order: y[:, t] is the output produced when step t was processed.
    """
    x = _f64(x)
    W = _f64(kernel)
    U = _f64(recurrent_kernel)
    B, T, I = x.shape
    H = U.shape[0]
    assert W.shape == (I, 4 * H), (W.shape, I, H)
    assert U.shape == (H, 4 * H), (U.shape, H)
    b = _f64_or_zeros(bias, (4 * H,))
    assert b.shape == (4 * H,), b.shape
    h0 = _f64_or_zeros(h0, (B, H))
    c0 = _f64_or_zeros(c0, (B, H))
    assert h0.shape == (B, H) and c0.shape == (B, H), (h0.shape, c0.shape)
    valid, dropout = _step_inputs(mask, recurrent_dropout_mask, B, T, H)

    y = np.zeros((B, T, H))
    h = h0.copy()                   # state after the last processed step
    c = c0.copy()
    last_y = np.zeros((B, H))       # previous output in processing order (zeros before any valid step)
    steps = []                      # what backward needs, one entry per processed step

    for t in _step_order(T, reverse):
        m = valid[:, t][:, None]    # (B, 1) bool
        x_t = x[:, t, :]
        h_prev, c_prev = h, c

        hm = h_prev * dropout
        z = x_t @ W + hm @ U + b
        i = _sigmoid(z[:, 0 * H:1 * H])
        f = _sigmoid(z[:, 1 * H:2 * H])
        g = np.tanh(z[:, 2 * H:3 * H])
        o = _sigmoid(z[:, 3 * H:4 * H])
        c_new = f * c_prev + i * g
        tanh_c_new = np.tanh(c_new)
        h_new = o * tanh_c_new

        # Masked rows keep their state; their output repeats the previous one or is zero.
        h = np.where(m, h_new, h_prev)
        c = np.where(m, c_new, c_prev)
        if zero_output_for_mask:
            y[:, t, :] = np.where(m, h_new, 0.0)
        else:
            last_y = np.where(m, h_new, last_y)
            y[:, t, :] = last_y

        steps.append(dict(t=t, m=m, x_t=x_t, h_prev=h_prev, c_prev=c_prev, hm=hm,
                          i=i, f=f, g=g, o=o, tanh_c_new=tanh_c_new))

    cache = dict(op="lstm", B=B, T=T, I=I, H=H, W=W, U=U, dropout=dropout,
                 zero_output_for_mask=bool(zero_output_for_mask), steps=steps)
    return y, h.copy(), c.copy(), cache



def _masked_step_backward(dy_t, mf, dh, dlast_y, zero_output_for_mask):
    """Gradients through one step's mask, shared by every recurrent family.

    Forward, with mf (B, 1) = 1 where the step was valid:
        y_t = where(m, h_new, 0)                      (zero_output_for_mask)
        y_t = last_y = where(m, h_new, last_y_prev)   (otherwise)
        h   = where(m, h_new, h_prev)
    Returns (dh_new, dh_prev, dlast_y): the gradient reaching the step's new state, the one
    passed straight to the previous state, and the one left on last_y for earlier steps.
    """
    if zero_output_for_mask:
        dh_new = mf * dy_t
    else:
        dlast_y = dlast_y + dy_t
        dh_new = mf * dlast_y
        dlast_y = (1.0 - mf) * dlast_y
    return dh_new + mf * dh, (1.0 - mf) * dh, dlast_y

def lstm_backward(dy, dh_T, dc_T, cache):
    """Backprop through time for :func:`lstm_forward`.

    Returns ``(dx, dkernel, drecurrent_kernel, dbias, dh0, dc0)``, all float64, where the loss is
    ``sum(y * dy) + sum(h_T * dh_T) + sum(c_T * dc_T)``. ``None`` upstream gradients are zeros.
    """
    if not (isinstance(cache, dict) and cache.get("op") == "lstm"):
        raise TypeError(f"reference lstm_backward: cache must come from lstm_forward, got {type(cache)}")
    B, T, I, H = cache["B"], cache["T"], cache["I"], cache["H"]
    W, U, dropout = cache["W"], cache["U"], cache["dropout"]
    zero_output_for_mask = cache["zero_output_for_mask"]

    dy = _f64_or_zeros(dy, (B, T, H))
    dh = _f64_or_zeros(dh_T, (B, H))        # gradient reaching the state h after the current step
    dc = _f64_or_zeros(dc_T, (B, H))        # same for c
    assert dy.shape == (B, T, H) and dh.shape == (B, H) and dc.shape == (B, H)
    dlast_y = np.zeros((B, H))              # gradient reaching last_y after the current step

    dx = np.zeros((B, T, I))
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    db = np.zeros(4 * H)

    for s in reversed(cache["steps"]):
        t, m = s["t"], s["m"]
        mf = m.astype(np.float64)           # (B, 1), 1 where the step was valid

        # outputs and h through the mask; c = where(m, c_new, c_prev)
        dh_new, dh_prev, dlast_y = _masked_step_backward(dy[:, t, :], mf, dh, dlast_y,
                                                         zero_output_for_mask)
        dc_new = mf * dc
        dc_prev = (1.0 - mf) * dc

        # h_new = o * tanh(c_new)
        i, f, g, o, tanh_c_new = s["i"], s["f"], s["g"], s["o"], s["tanh_c_new"]
        do = dh_new * tanh_c_new
        dc_new = dc_new + dh_new * o * (1.0 - tanh_c_new ** 2)

        # c_new = f * c_prev + i * g
        df = dc_new * s["c_prev"]
        di = dc_new * g
        dg = dc_new * i
        dc_prev = dc_prev + dc_new * f

        # i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
        dz = np.concatenate([di * i * (1.0 - i),
                             df * f * (1.0 - f),
                             dg * (1.0 - g ** 2),
                             do * o * (1.0 - o)], axis=1)          # (B, 4H)

        # z = x_t @ W + hm @ U + b
        dx[:, t, :] = dz @ W.T
        dW += s["x_t"].T @ dz
        dU += s["hm"].T @ dz
        db += dz.sum(axis=0)
        dhm = dz @ U.T

        # hm = h_prev * dropout
        dh_prev = dh_prev + dhm * dropout

        dh, dc = dh_prev, dc_prev

    return dx, dW, dU, db, dh, dc




# ================================================================================================
# GRU
#
# Gate order z, r, h (candidate, "n"). For one valid step t (processed after step t_prev), with
#     hm   = h_prev * recurrent_dropout_mask
#     gx   = x_t @ kernel + b_x                                     (B, 3H) = [gx_z | gx_r | gx_n]
# reset_after=True, bias (2, 3H) = [b_x; b_h]:
#     a    = hm @ recurrent_kernel + b_h                            (B, 3H), one product
#     z, r = sigmoid(gx_z + a_z), sigmoid(gx_r + a_r)
#     n    = tanh(gx_n + r * a_n)
# reset_after=False, bias (3H,) = b_x:
#     z, r = sigmoid(gx_z + hm @ U_z), sigmoid(gx_r + hm @ U_r)
#     n    = tanh(gx_n + (r * hm) @ U_n)
# then h_t = z * h_prev + (1 - z) * n. Masks, reverse and outputs as for the LSTM.
# ================================================================================================

__all__ += ["gru_forward", "gru_backward"]


def gru_forward(x, kernel, recurrent_kernel, bias, h0=None, *, reset_after=True, mask=None,
                reverse=False, zero_output_for_mask=False, recurrent_dropout_mask=None):
    """GRU over a whole sequence. Returns ``(y, h_T, cache)``, all float64.

    x (B, T, I), kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) if reset_after else
    (3H,), or None; h0 (B, H) or None, mask (B, T) bool or None, recurrent_dropout_mask (B, H)
    or None. y (B, T, H) is in input order.
    """
    x = _f64(x)
    W = _f64(kernel)
    U = _f64(recurrent_kernel)
    B, T, I = x.shape
    H = U.shape[0]
    assert W.shape == (I, 3 * H), (W.shape, I, H)
    assert U.shape == (H, 3 * H), (U.shape, H)
    if reset_after:
        b = _f64_or_zeros(bias, (2, 3 * H))
        assert b.shape == (2, 3 * H), b.shape
        b_x, b_h = b[0], b[1]
    else:
        b_x = _f64_or_zeros(bias, (3 * H,))
        assert b_x.shape == (3 * H,), b_x.shape
        b_h = None
    h = _f64_or_zeros(h0, (B, H))
    assert h.shape == (B, H), h.shape
    valid, dropout = _step_inputs(mask, recurrent_dropout_mask, B, T, H)

    y = np.zeros((B, T, H))
    last_y = np.zeros((B, H))
    steps = []
    for t in _step_order(T, reverse):
        m = valid[:, t][:, None]
        x_t = x[:, t, :]
        h_prev = h
        hm = h_prev * dropout
        gx = x_t @ W + b_x
        rest = {}
        if reset_after:
            a = hm @ U + b_h
            z = _sigmoid(gx[:, :H] + a[:, :H])
            r = _sigmoid(gx[:, H:2 * H] + a[:, H:2 * H])
            n = np.tanh(gx[:, 2 * H:] + r * a[:, 2 * H:])
            rest["a_n"] = a[:, 2 * H:]
        else:
            z = _sigmoid(gx[:, :H] + hm @ U[:, :H])
            r = _sigmoid(gx[:, H:2 * H] + hm @ U[:, H:2 * H])
            rh = r * hm
            n = np.tanh(gx[:, 2 * H:] + rh @ U[:, 2 * H:])
            rest["rh"] = rh
        h_new = z * h_prev + (1.0 - z) * n

        h = np.where(m, h_new, h_prev)
        if zero_output_for_mask:
            y[:, t, :] = np.where(m, h_new, 0.0)
        else:
            last_y = np.where(m, h_new, last_y)
            y[:, t, :] = last_y
        steps.append(dict(t=t, m=m, x_t=x_t, h_prev=h_prev, hm=hm, z=z, r=r, n=n, **rest))

    cache = dict(op="gru", B=B, T=T, I=I, H=H, W=W, U=U, dropout=dropout,
                 reset_after=bool(reset_after), zero_output_for_mask=bool(zero_output_for_mask),
                 steps=steps)
    return y, h.copy(), cache


def gru_backward(dy, dh_T, cache):
    """Backprop through time for :func:`gru_forward`.

    Returns ``(dx, dkernel, drecurrent_kernel, dbias, dh0)``, all float64, where the loss is
    ``sum(y * dy) + sum(h_T * dh_T)``; dbias has the forward's bias shape. ``None`` upstream
    gradients are zeros.
    """
    if not (isinstance(cache, dict) and cache.get("op") == "gru"):
        raise TypeError(f"reference gru_backward: cache must come from gru_forward, got {type(cache)}")
    B, T, I, H = cache["B"], cache["T"], cache["I"], cache["H"]
    W, U, dropout = cache["W"], cache["U"], cache["dropout"]
    reset_after, zero_output_for_mask = cache["reset_after"], cache["zero_output_for_mask"]

    dy = _f64_or_zeros(dy, (B, T, H))
    dh = _f64_or_zeros(dh_T, (B, H))
    assert dy.shape == (B, T, H) and dh.shape == (B, H)
    dlast_y = np.zeros((B, H))

    dx = np.zeros((B, T, I))
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    db = np.zeros((2, 3 * H)) if reset_after else np.zeros(3 * H)

    for s in reversed(cache["steps"]):
        t, m = s["t"], s["m"]
        mf = m.astype(np.float64)

        # outputs and h through the mask, as for the LSTM
        dh_new, dh_prev, dlast_y = _masked_step_backward(dy[:, t, :], mf, dh, dlast_y,
                                                         zero_output_for_mask)

        # h_new = z * h_prev + (1 - z) * n
        z, r, n, hm = s["z"], s["r"], s["n"], s["hm"]
        dz = dh_new * (s["h_prev"] - n)
        dn = dh_new * (1.0 - z)
        dh_prev = dh_prev + dh_new * z
        dn_pre = dn * (1.0 - n ** 2)                 # n = tanh(n_pre)

        if reset_after:
            # n_pre = gx_n + r * a_n
            dr = dn_pre * s["a_n"]
            da_n = dn_pre * r
        else:
            # n_pre = gx_n + rh @ U_n,  rh = r * hm
            drh = dn_pre @ U[:, 2 * H:].T
            dr = drh * hm
        dz_pre = dz * z * (1.0 - z)
        dr_pre = dr * r * (1.0 - r)
        dgx = np.concatenate([dz_pre, dr_pre, dn_pre], axis=1)      # d(gx), (B, 3H)

        # gx = x_t @ W + b_x
        dx[:, t, :] = dgx @ W.T
        dW += s["x_t"].T @ dgx
        if reset_after:
            db[0] += dgx.sum(axis=0)
            # a = hm @ U + b_h
            da = np.concatenate([dz_pre, dr_pre, da_n], axis=1)
            dU += hm.T @ da
            db[1] += da.sum(axis=0)
            dhm = da @ U.T
        else:
            db += dgx.sum(axis=0)
            dU[:, :H] += hm.T @ dz_pre
            dU[:, H:2 * H] += hm.T @ dr_pre
            dU[:, 2 * H:] += s["rh"].T @ dn_pre
            dhm = dz_pre @ U[:, :H].T + dr_pre @ U[:, H:2 * H].T + drh * r

        # hm = h_prev * dropout
        dh = dh_prev + dhm * dropout

    return dx, dW, dU, db, dh


# ================================================================================================
# SimpleRNN
#
# For one valid step t (processed after step t_prev):
#     hm   = h_prev * recurrent_dropout_mask
#     z    = x_t @ kernel + hm @ recurrent_kernel + bias          (B, H)
#     h_t  = act(z),  act in {tanh, relu, sigmoid, linear}; None means linear
# Masked steps: as for the LSTM (the state carries over; y repeats the previous output, zeros
# before the first valid step, or zeros everywhere masked with zero_output_for_mask).
# ================================================================================================

__all__ += ["rnn_forward", "rnn_backward"]

# activation name -> (function of z, derivative d act / d z as a function of z)
_RNN_ACTIVATIONS = {
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(np.float64)),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "linear": (lambda z: z, lambda z: np.ones_like(z)),
}


def rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", mask=None,
                reverse=False, zero_output_for_mask=False, recurrent_dropout_mask=None):
    """SimpleRNN over a whole sequence. Returns ``(y, h_T, cache)``, all float64.

    x (B, T, I), kernel (I, H), recurrent_kernel (H, H), bias (H,) or None, h0 (B, H) or None,
    activation "tanh" / "relu" / "sigmoid" / "linear" / None, mask (B, T) bool or None,
    recurrent_dropout_mask (B, H) or None. y (B, T, H) is in input order.
    """
    name = "linear" if activation is None else activation
    if name not in _RNN_ACTIVATIONS:
        raise ValueError(f"reference rnn_forward: unknown activation {activation!r}")
    act, _ = _RNN_ACTIVATIONS[name]
    x = _f64(x)
    W = _f64(kernel)
    U = _f64(recurrent_kernel)
    B, T, I = x.shape
    H = U.shape[0]
    assert W.shape == (I, H) and U.shape == (H, H), (W.shape, U.shape)
    b = _f64_or_zeros(bias, (H,))
    assert b.shape == (H,), b.shape
    h0 = _f64_or_zeros(h0, (B, H))
    assert h0.shape == (B, H), h0.shape
    valid, dropout = _step_inputs(mask, recurrent_dropout_mask, B, T, H)

    y = np.zeros((B, T, H))
    h = h0.copy()
    last_y = np.zeros((B, H))
    steps = []
    for t in _step_order(T, reverse):
        m = valid[:, t][:, None]
        x_t = x[:, t, :]
        h_prev = h
        hm = h_prev * dropout
        z = x_t @ W + hm @ U + b
        h_new = act(z)
        h = np.where(m, h_new, h_prev)
        if zero_output_for_mask:
            y[:, t, :] = np.where(m, h_new, 0.0)
        else:
            last_y = np.where(m, h_new, last_y)
            y[:, t, :] = last_y
        steps.append(dict(t=t, m=m, x_t=x_t, hm=hm, z=z))

    cache = dict(op="rnn", B=B, T=T, I=I, H=H, W=W, U=U, dropout=dropout, activation=name,
                 zero_output_for_mask=bool(zero_output_for_mask), steps=steps)
    return y, h.copy(), cache


def rnn_backward(dy, dh_T, cache):
    """Backprop through time for :func:`rnn_forward`.

    Returns ``(dx, dkernel, drecurrent_kernel, dbias, dh0)``, all float64, where the loss is
    ``sum(y * dy) + sum(h_T * dh_T)``. ``None`` upstream gradients are zeros.
    """
    if not (isinstance(cache, dict) and cache.get("op") == "rnn"):
        raise TypeError(f"reference rnn_backward: cache must come from rnn_forward, got {type(cache)}")
    B, T, I, H = cache["B"], cache["T"], cache["I"], cache["H"]
    W, U, dropout = cache["W"], cache["U"], cache["dropout"]
    _, act_grad = _RNN_ACTIVATIONS[cache["activation"]]
    zero_output_for_mask = cache["zero_output_for_mask"]

    dy = _f64_or_zeros(dy, (B, T, H))
    dh = _f64_or_zeros(dh_T, (B, H))
    assert dy.shape == (B, T, H) and dh.shape == (B, H)
    dlast_y = np.zeros((B, H))

    dx = np.zeros((B, T, I))
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    db = np.zeros(H)
    for s in reversed(cache["steps"]):
        t, m = s["t"], s["m"]
        mf = m.astype(np.float64)

        # outputs and h through the mask, as for the LSTM
        dh_new, dh_prev, dlast_y = _masked_step_backward(dy[:, t, :], mf, dh, dlast_y,
                                                         zero_output_for_mask)

        # h_new = act(z)
        dz = dh_new * act_grad(s["z"])

        # z = x_t @ W + hm @ U + b
        dx[:, t, :] = dz @ W.T
        dW += s["x_t"].T @ dz
        dU += s["hm"].T @ dz
        db += dz.sum(axis=0)

        # hm = h_prev * dropout
        dh = dh_prev + (dz @ U.T) * dropout

    return dx, dW, dU, db, dh


# ================================================================================================
# attention (issue 5)
#
# o = (P ∘ Z) v with P = softmax(scale · q kᵀ) over the keys a query may see (masks AND-ed), and Z
# the inverted-dropout factors (1/(1-p) kept, 0 dropped). The whole (B, N, Lq, Lk) matrix is
# materialised, in float64. Legend: B batch, N heads, Lq/Lk query/key length, D head size,
# Dv value size; q, k, v are (B, L, N, D) as in pyseq.ops.
# ================================================================================================

__all__ += ["attention_forward", "attention_backward", "attention_dropout_keep"]

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x):
    """Vigna's splitmix64 on a uint64 array (wrapping arithmetic)."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
    return x ^ (x >> np.uint64(31))


def attention_dropout_keep(seed, B, N, Lq, Lk, p):
    """The (B, N, Lq, Lk) bool keep-mask of pyseq's attention dropout (see csrc/cpu/attention.h):

    row  = splitmix64(seed ^ splitmix64((b·N + n)·Lq + i))
    bits = fmix32(low32(row) ^ high32(row) ^ (j · 0x9E3779B9 mod 2^32));  keep iff bits >= floor(p·2^32)
    """
    with np.errstate(over="ignore"):
        rows = np.arange(B * N * Lq, dtype=np.uint64)
        key = _splitmix64(np.uint64(seed) ^ _splitmix64(rows))
        lo = (key & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        hi = (key >> np.uint64(32)).astype(np.uint32)
        j = (np.arange(Lk, dtype=np.uint64) * np.uint64(0x9E3779B9)) & np.uint64(0xFFFFFFFF)
        x = (lo ^ hi)[:, None] ^ j.astype(np.uint32)[None, :]
        x = x ^ (x >> np.uint32(16))
        x = x * np.uint32(0x85EBCA6B)
        x = x ^ (x >> np.uint32(13))
        x = x * np.uint32(0xC2B2AE35)
        x = x ^ (x >> np.uint32(16))
    threshold = np.uint32(int(np.floor(p * 2.0**32)))
    return (x >= threshold).reshape(B, N, Lq, Lk)


def _attention_allowed(B, Lq, Lk, causal, key_mask, attn_mask):
    """(B, 1, Lq, Lk) bool: which query/key pairs may attend (every mask AND-ed)."""
    allowed = np.ones((B, 1, Lq, Lk), dtype=bool)
    if causal:
        allowed &= np.tril(np.ones((Lq, Lk), dtype=bool))[None, None]
    if key_mask is not None:
        allowed &= np.asarray(key_mask, dtype=bool)[:, None, None, :]
    if attn_mask is not None:
        allowed &= np.asarray(attn_mask, dtype=bool)[:, None, :, :]
    return allowed


def attention_forward(q, k, v, *, scale=None, causal=False, key_mask=None, attn_mask=None,
                      dropout=0.0, seed=None, return_scores=False):
    """Same contract as ``pyseq.ops.attention_forward`` (seed must be given when dropout > 0)."""
    q, k, v = _f64(q), _f64(k), _f64(v)
    B, Lq, N, D = q.shape
    Lk = k.shape[1]
    if scale is None:
        scale = 1.0 / np.sqrt(D)
    qh, kh, vh = (np.transpose(a, (0, 2, 1, 3)) for a in (q, k, v))  # (B, N, L, ·)
    s = scale * (qh @ np.swapaxes(kh, -1, -2))                       # (B, N, Lq, Lk)
    allowed = _attention_allowed(B, Lq, Lk, causal, key_mask, attn_mask)
    s = np.where(allowed, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)          # fully masked rows: every entry -inf
    e = np.where(allowed, np.exp(s - m), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    if dropout > 0:
        z = attention_dropout_keep(seed, B, N, Lq, Lk, dropout) / (1.0 - dropout)
    else:
        z = np.ones_like(p)
    o = np.transpose((p * z) @ vh, (0, 2, 1, 3))  # (B, Lq, N, Dv)
    cache = dict(qh=qh, kh=kh, vh=vh, p=p, z=z, scale=scale)
    if return_scores:
        return o, p.copy(), cache
    return o, cache


def attention_backward(do, cache):
    """(dq, dk, dv) of ``attention_forward`` for upstream ``do`` (B, Lq, N, Dv) or None."""
    qh, kh, vh, p, z, scale = (cache[x] for x in ("qh", "kh", "vh", "p", "z", "scale"))
    B, N, Lq, D = qh.shape
    Lk, Dv = kh.shape[2], vh.shape[3]
    if do is None:
        return (np.zeros((B, Lq, N, D)), np.zeros((B, Lk, N, D)), np.zeros((B, Lk, N, Dv)))
    doh = np.transpose(_f64(do), (0, 2, 1, 3))          # (B, N, Lq, Dv)
    # o = (p∘z) v
    dvh = np.swapaxes(p * z, -1, -2) @ doh
    dpz = doh @ np.swapaxes(vh, -1, -2)
    dp = dpz * z
    # p = softmax(s) row-wise: ds = p ∘ (dp - rowsum(p ∘ dp)); masked entries have p = 0
    ds = p * (dp - np.sum(p * dp, axis=-1, keepdims=True))
    # s = scale · q kᵀ
    dqh = scale * (ds @ kh)
    dkh = scale * (np.swapaxes(ds, -1, -2) @ qh)
    t = lambda a: np.transpose(a, (0, 2, 1, 3))  # noqa: E731
    return t(dqh), t(dkh), t(dvh)


# ================================================================================================
# Conv1D and 1-D pooling (issue 4)
#
# Channels-last, direct loops. Padding is written out as explicit zero steps (conv) or as
# windows clipped to the real steps (pooling); "same" follows TensorFlow: T' = ceil(T / stride),
# total padding max((T'-1)*stride + span - T, 0) with the odd step on the right.
# ================================================================================================

__all__ += ["conv1d_forward", "conv1d_backward",
            "max_pool1d_forward", "max_pool1d_backward", "avg_pool1d_forward", "avg_pool1d_backward",
            "global_max_pool1d_forward", "global_max_pool1d_backward",
            "global_avg_pool1d_forward", "global_avg_pool1d_backward"]


def _window_padding(T, span, stride, padding):
    """(T_out, pad_left) of a sliding window of ``span`` steps."""
    if padding == "valid":
        return (T - span) // stride + 1, 0
    if padding == "same":
        T_out = -(-T // stride)
        return T_out, max((T_out - 1) * stride + span - T, 0) // 2
    if padding == "causal":
        return (T - 1) // stride + 1, span - 1
    raise ValueError(f"reference: unknown padding {padding!r}")


def conv1d_forward(x, kernel, bias=None, *, stride=1, padding="valid", dilation=1, groups=1):
    """y[b, t', g*fg + j] = bias + sum_k sum_i xp[b, t'*stride + k*dilation, g*cg + i] * kernel[k, i, g*fg + j]
    where xp is x with pad_left zero steps in front (and enough behind). Returns ``(y, cache)``."""
    x = _f64(x)
    W = _f64(kernel)
    B, T, C = x.shape
    K, cg, F = W.shape
    G = groups
    assert C == cg * G and F % G == 0, (C, cg, F, G)
    fg = F // G
    span = dilation * (K - 1) + 1
    T_out, pl = _window_padding(T, span, stride, padding)
    assert T_out >= 1
    need = (T_out - 1) * stride + span                    # padded steps read
    xp = np.zeros((B, max(need, pl + T), C))
    xp[:, pl:pl + T] = x
    y = np.zeros((B, T_out, F)) + (0.0 if bias is None else _f64(bias))
    for t in range(T_out):
        for k in range(K):
            row = xp[:, t * stride + k * dilation]        # (B, C)
            for g in range(G):
                y[:, t, g * fg:(g + 1) * fg] += row[:, g * cg:(g + 1) * cg] @ W[k, :, g * fg:(g + 1) * fg]
    cache = dict(op="conv1d", xp=xp, W=W, T=T, pl=pl, stride=stride, dilation=dilation, G=G,
                 has_bias=bias is not None, T_out=T_out)
    return y, cache


def conv1d_backward(dy, cache):
    """Returns ``(dx, dkernel, dbias)`` (dbias None without bias) for loss sum(y * dy)."""
    if not (isinstance(cache, dict) and cache.get("op") == "conv1d"):
        raise TypeError("reference conv1d_backward: cache must come from conv1d_forward")
    xp, W, G = cache["xp"], cache["W"], cache["G"]
    s, d, pl, T, T_out = cache["stride"], cache["dilation"], cache["pl"], cache["T"], cache["T_out"]
    B, _, C = xp.shape
    K, cg, F = W.shape
    fg = F // G
    dy = _f64_or_zeros(dy, (B, T_out, F))
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    for t in range(T_out):
        for k in range(K):
            u = t * s + k * d
            for g in range(G):
                cols, chans = slice(g * fg, (g + 1) * fg), slice(g * cg, (g + 1) * cg)
                # y[:, t, cols] += xp[:, u, chans] @ W[k, :, cols]
                dxp[:, u, chans] += dy[:, t, cols] @ W[k, :, cols].T
                dW[k, :, cols] += xp[:, u, chans].T @ dy[:, t, cols]
    db = dy.sum(axis=(0, 1)) if cache["has_bias"] else None
    return dxp[:, pl:pl + T].copy(), dW, db


def _pool_windows(T, pool_size, strides, padding):
    """For each output step, the real input steps of its window (padding never counts)."""
    strides = pool_size if strides is None else strides
    T_out, pl = _window_padding(T, pool_size, strides, padding)
    return [list(range(max(t * strides - pl, 0), min(t * strides - pl + pool_size, T))) for t in range(T_out)]


def max_pool1d_forward(x, pool_size, *, strides=None, padding="valid"):
    """y[b, t', c] = max over the window's real steps; backward credits the first maximum."""
    x = _f64(x)
    B, T, C = x.shape
    wins = _pool_windows(T, pool_size, strides, padding)
    y = np.zeros((B, len(wins), C))
    arg = np.zeros((B, len(wins), C), dtype=np.int64)
    for t, w in enumerate(wins):
        seg = x[:, w, :]                                  # (B, len(w), C)
        first = np.argmax(seg, axis=1)                    # argmax returns the first maximum
        arg[:, t, :] = np.asarray(w)[first]
        y[:, t, :] = np.max(seg, axis=1)
    return y, dict(op="max_pool1d", arg=arg, shape=x.shape)


def max_pool1d_backward(dy, cache):
    B, T, C = cache["shape"]
    arg = cache["arg"]
    dy = _f64_or_zeros(dy, arg.shape)
    dx = np.zeros((B, T, C))
    for b in range(B):
        for t in range(arg.shape[1]):
            for c in range(C):
                dx[b, arg[b, t, c], c] += dy[b, t, c]
    return (dx,)


def avg_pool1d_forward(x, pool_size, *, strides=None, padding="valid"):
    """y[b, t', c] = mean over the window's real steps."""
    x = _f64(x)
    B, T, C = x.shape
    wins = _pool_windows(T, pool_size, strides, padding)
    y = np.stack([x[:, w, :].mean(axis=1) for w in wins], axis=1)
    return y, dict(op="avg_pool1d", wins=wins, shape=x.shape)


def avg_pool1d_backward(dy, cache):
    B, T, C = cache["shape"]
    wins = cache["wins"]
    dy = _f64_or_zeros(dy, (B, len(wins), C))
    dx = np.zeros((B, T, C))
    for t, w in enumerate(wins):
        for u in w:
            dx[:, u, :] += dy[:, t, :] / len(w)
    return (dx,)


def global_max_pool1d_forward(x, mask=None):
    """y[b, c] = max over the valid steps of row b (0 for a row with none)."""
    x = _f64(x)
    B, T, C = x.shape
    valid = _step_mask(mask, B, T)
    y = np.zeros((B, C))
    arg = np.full((B, C), -1)
    for b in range(B):
        steps = np.flatnonzero(valid[b])
        if steps.size:
            first = np.argmax(x[b, steps, :], axis=0)
            arg[b] = steps[first]
            y[b] = x[b, arg[b], np.arange(C)]
    return y, dict(op="global_max_pool1d", arg=arg, shape=x.shape)


def global_max_pool1d_backward(dy, cache):
    B, T, C = cache["shape"]
    dy = _f64_or_zeros(dy, (B, C))
    dx = np.zeros((B, T, C))
    for b in range(B):
        for c in range(C):
            if cache["arg"][b, c] >= 0:
                dx[b, cache["arg"][b, c], c] = dy[b, c]
    return (dx,)


def global_avg_pool1d_forward(x, mask=None):
    """y[b, c] = mean over the valid steps of row b (0 for a row with none)."""
    x = _f64(x)
    B, T, C = x.shape
    valid = _step_mask(mask, B, T).astype(np.float64)
    n = valid.sum(axis=1)                                 # (B,)
    inv = np.where(n > 0, 1.0 / np.maximum(n, 1.0), 0.0)
    y = np.einsum("btc,bt->bc", x, valid) * inv[:, None]
    return y, dict(op="global_avg_pool1d", w=valid * inv[:, None], shape=x.shape)


def global_avg_pool1d_backward(dy, cache):
    B, T, C = cache["shape"]
    dy = _f64_or_zeros(dy, (B, C))
    return (cache["w"][:, :, None] * dy[:, None, :],)
# --- layers and models (issue 6): embedding lookup and gradient, Adam step -------------------
__all__ += ["embedding_forward", "embedding_backward", "adam_update"]


def embedding_forward(table, indices):
    """out[..., :] = table[indices[...], :]; saved = (indices, V)."""
    table = np.asarray(table, dtype=np.float64)
    indices = np.asarray(indices)
    return table[indices], (indices, table.shape[0])


def embedding_backward(d_out, saved):
    """d_table[v] = sum of d_out rows whose index is v."""
    indices, V = saved
    d_out = np.asarray(d_out, dtype=np.float64)
    d_table = np.zeros((V, d_out.shape[-1]))
    for r, i in enumerate(indices.reshape(-1)):
        d_table[i] += d_out.reshape(-1, d_out.shape[-1])[r]
    return d_table, None


def adam_update(var, m, v, grad, *, alpha, beta_1, beta_2, epsilon, v_hat=None):
    """The Keras 3 Adam step in float64, returning new (var, m, v, v_hat) instead of updating."""
    g = np.asarray(grad, dtype=np.float64)
    m = m + (g - m) * (1 - beta_1)
    v = v + (g * g - v) * (1 - beta_2)
    denom_v = v
    if v_hat is not None:
        v_hat = np.maximum(v_hat, v)
        denom_v = v_hat
    var = var - alpha * m / (np.sqrt(denom_v) + epsilon)
    return var, m, v, v_hat
# --- end of layers and models block ---------------------------------------------------------


# --- layers and models (issue 6): Dense's affine map -----------------------------------------
__all__ += ["dense_forward", "dense_backward"]


def dense_forward(x, kernel, bias=None):
    x, kernel = np.asarray(x, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    y = x @ kernel
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64)
    return y, (x, kernel, bias is not None)


def dense_backward(dz, saved):
    x, kernel, has_bias = saved
    dz = np.zeros((x.shape[0], kernel.shape[1])) if dz is None else np.asarray(dz, np.float64)
    return dz @ kernel.T, x.T @ dz, (dz.sum(axis=0) if has_bias else None)
# --- end of Dense block ---------------------------------------------------------------------


# ================================================================================================
# Token inputs: <family>_forward_tokens(ids, table, ...) = <family>_forward(table[ids], ...), and
# the backward's first gradient is the table's: d_table[v] = sum of dx over the steps with id v.
# ================================================================================================


def _token_forward(forward):
    def forward_tokens(ids, table, *args, **options):
        ids = np.asarray(ids)
        table = _f64(table)
        *outs, cache = forward(table[ids], *args, **options)
        return (*outs, {"ids": ids, "V": table.shape[0], "inner": cache})
    forward_tokens.__name__ = forward.__name__ + "_tokens"
    forward_tokens.__doc__ = (f":func:`{forward.__name__}` on x = table[ids] (ids (B, T) integers, "
                              f"table (V, I)); see the section comment.")
    return forward_tokens


def _token_backward(backward):
    def backward_tokens(*args):
        *upstream, cache = args
        dx, *rest = backward(*upstream, cache["inner"])
        d_table = np.zeros((cache["V"], dx.shape[-1]))
        np.add.at(d_table, cache["ids"], dx)
        return (d_table, *rest)
    backward_tokens.__name__ = backward.__name__ + "_tokens"
    backward_tokens.__doc__ = f":func:`{backward.__name__}` for the token forward: d_table first."
    return backward_tokens


lstm_forward_tokens = _token_forward(lstm_forward)
lstm_backward_tokens = _token_backward(lstm_backward)
gru_forward_tokens = _token_forward(gru_forward)
gru_backward_tokens = _token_backward(gru_backward)
rnn_forward_tokens = _token_forward(rnn_forward)
rnn_backward_tokens = _token_backward(rnn_backward)
