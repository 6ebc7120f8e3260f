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
    valid = _step_mask(mask, B, T)
    assert valid.shape == (B, T), valid.shape
    dropout = np.ones((B, H)) if recurrent_dropout_mask is None else _f64(recurrent_dropout_mask)
    assert dropout.shape == (B, H), dropout.shape

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

        # y_t = where(m, h_new, 0)                   (zero_output_for_mask)
        # y_t = last_y = where(m, h_new, last_y_prev)  (otherwise)
        dh_new = np.zeros((B, H))
        if zero_output_for_mask:
            dh_new += mf * dy[:, t, :]
        else:
            dlast_y = dlast_y + dy[:, t, :]
            dh_new += mf * dlast_y
            dlast_y = (1.0 - mf) * dlast_y

        # h = where(m, h_new, h_prev);  c = where(m, c_new, c_prev)
        dh_new += mf * dh
        dc_new = mf * dc
        dh_prev = (1.0 - mf) * dh
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
    valid = _step_mask(mask, B, T)
    assert valid.shape == (B, T), valid.shape
    dropout = np.ones((B, H)) if recurrent_dropout_mask is None else _f64(recurrent_dropout_mask)
    assert dropout.shape == (B, H), dropout.shape

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

        # outputs, as for the LSTM
        dh_new = np.zeros((B, H))
        if zero_output_for_mask:
            dh_new += mf * dy[:, t, :]
        else:
            dlast_y = dlast_y + dy[:, t, :]
            dh_new += mf * dlast_y
            dlast_y = (1.0 - mf) * dlast_y
        # h = where(m, h_new, h_prev)
        dh_new += mf * dh
        dh_prev = (1.0 - mf) * dh

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
    valid = _step_mask(mask, B, T)
    assert valid.shape == (B, T), valid.shape
    dropout = np.ones((B, H)) if recurrent_dropout_mask is None else _f64(recurrent_dropout_mask)
    assert dropout.shape == (B, H), dropout.shape

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

        # y_t = where(m, h_new, 0)  or  y_t = last_y = where(m, h_new, last_y_prev)
        dh_new = np.zeros((B, H))
        if zero_output_for_mask:
            dh_new += mf * dy[:, t, :]
        else:
            dlast_y = dlast_y + dy[:, t, :]
            dh_new += mf * dlast_y
            dlast_y = (1.0 - mf) * dlast_y

        # h = where(m, h_new, h_prev)
        dh_new += mf * dh
        dh_prev = (1.0 - mf) * dh

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
