"""The recurrent layers' NumPy path, for activations the fused kernels do not implement.

The kernels compute LSTM/GRU with tanh and sigmoid only, and SimpleRNN with tanh, relu, sigmoid
or linear. Any other activation from :mod:`pyseq.activations` runs here instead: a per-step
Python loop (slow, but the same semantics as the kernels: masks, reverse, zero_output_for_mask,
the recurrent dropout mask), with a hand-written backward. Shapes and return values follow
``ops.<cell>_forward/backward`` exactly, so the layers call either path the same way.

Legend: B batch, T steps, I input features, H hidden units, G gates.
"""

import numpy as np


class _LSTMCell:
    gates, n_states = 4, 2

    def __init__(self, act, ract):
        self.act, self.ract = act, ract

    def step(self, xw, states, U, b_rec, rd):
        # (B,4H) x-projection incl. bias, states [h, c] (B,H) -> new states, step cache
        h, c = states
        hd = h if rd is None else h * rd
        z = xw + hd @ U
        H = h.shape[1]
        zi, zf, zc, zo = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
        i, f, o = self.ract(zi), self.ract(zf), self.ract(zo)
        g = self.act(zc)
        c_new = f * c + i * g
        ac = self.act(c_new)
        h_new = o * ac
        return [h_new, c_new], (hd, c, z, i, f, g, o, c_new, ac)

    def back(self, cache, dstates, U, rd):
        hd, c, z, i, f, g, o, c_new, ac = cache
        dh, dc = dstates
        H = dh.shape[1]
        do = dh * ac
        dc = dc + self.act.backward(c_new, ac, dh * o)
        dz = np.concatenate([self.ract.backward(z[:, :H], i, dc * g),
                             self.ract.backward(z[:, H:2 * H], f, dc * c),
                             self.act.backward(z[:, 2 * H:3 * H], g, dc * i),
                             self.ract.backward(z[:, 3 * H:], o, do)], axis=1)
        dh_prev = dz @ U.T
        if rd is not None:
            dh_prev *= rd
        return dz, [dh_prev, dc * f], hd.T @ dz, None


class _GRUCell:
    gates, n_states = 3, 1

    def __init__(self, act, ract, reset_after):
        self.act, self.ract, self.reset_after = act, ract, reset_after

    def step(self, xw, states, U, b_rec, rd):
        # xw (B,3H) includes the input bias; b_rec (3H,) the recurrent bias (reset_after only)
        (h,) = states
        H = h.shape[1]
        hd = h if rd is None else h * rd
        if self.reset_after:
            hu = hd @ U
            if b_rec is not None:
                hu = hu + b_rec
            pz, pr = xw[:, :H] + hu[:, :H], xw[:, H:2 * H] + hu[:, H:2 * H]
            z, r = self.ract(pz), self.ract(pr)
            ph = xw[:, 2 * H:] + r * hu[:, 2 * H:]
        else:
            hu = hd @ U[:, :2 * H]
            pz, pr = xw[:, :H] + hu[:, :H], xw[:, H:2 * H] + hu[:, H:]
            z, r = self.ract(pz), self.ract(pr)
            rh = r * hd
            ph = xw[:, 2 * H:] + rh @ U[:, 2 * H:]
            hu = rh  # what backward needs in this form
        hh = self.act(ph)
        h_new = z * h + (1 - z) * hh
        return [h_new], (h, hd, hu, pz, pr, ph, z, r, hh)

    def back(self, cache, dstates, U, rd):
        h, hd, hu, pz, pr, ph, z, r, hh = cache
        (dh,) = dstates
        H = dh.shape[1]
        dph = self.act.backward(ph, hh, dh * (1 - z))
        dpz = self.ract.backward(pz, z, dh * (h - hh))
        dh_prev = dh * z
        if self.reset_after:
            dpr = self.ract.backward(pr, r, dph * hu[:, 2 * H:])
            dhu = np.concatenate([dpz, dpr, dph * r], axis=1)
            dhd = dhu @ U.T
            dU = hd.T @ dhu
            db_rec = dhu.sum(axis=0)
        else:
            drh = dph @ U[:, 2 * H:].T
            dpr = self.ract.backward(pr, r, drh * hd)
            dzr = np.concatenate([dpz, dpr], axis=1)
            dhd = dzr @ U[:, :2 * H].T + drh * r
            dU = np.concatenate([hd.T @ dzr, hu.T @ dph], axis=1)
            db_rec = None
        if rd is not None:
            dhd *= rd
        return np.concatenate([dpz, dpr, dph], axis=1), [dh_prev + dhd], dU, db_rec


class _SimpleCell:
    gates, n_states = 1, 1

    def __init__(self, act):
        self.act = act

    def step(self, xw, states, U, b_rec, rd):
        (h,) = states
        hd = h if rd is None else h * rd
        p = xw + hd @ U
        h_new = self.act(p)
        return [h_new], (hd, p, h_new)

    def back(self, cache, dstates, U, rd):
        hd, p, h_new = cache
        dp = self.act.backward(p, h_new, dstates[0])
        dh_prev = dp @ U.T
        if rd is not None:
            dh_prev *= rd
        return dp, [dh_prev], hd.T @ dp, None


def _forward(cell, x, W, U, b_in, b_rec, states0, mask, reverse, zero_output, rd):
    """The time loop shared by the cells: the x-projection hoisted, masks as the kernels do."""
    B, T, _ = x.shape
    H = U.shape[0]
    xw = x @ W
    if b_in is not None:
        xw = xw + b_in
    states = [np.zeros((B, H), x.dtype) if s is None else np.asarray(s, x.dtype)
              for s in states0]
    y = np.zeros((B, T, H), x.dtype)
    prev_out = np.zeros((B, H), x.dtype)
    steps = []
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        new, cache = cell.step(xw[:, t], states, U, b_rec, rd)
        if mask is None:
            states, out = new, new[0]
        else:
            m = mask[:, t:t + 1]
            states = [np.where(m, n, s) for n, s in zip(new, states)]
            out = np.where(m, new[0], 0 if zero_output else prev_out)
        y[:, t] = out
        prev_out = out
        steps.append((t, cache))
    saved = (cell, x, W, U, b_in is not None, b_rec is not None, mask, zero_output, rd, steps)
    return y, states, saved


def _backward(dy, dstates_T, saved):
    cell, x, W, U, has_b_in, has_b_rec, mask, zero_output, rd, steps = saved
    B, T, _ = x.shape
    H = U.shape[0]
    dxw = np.zeros((B, T, cell.gates * H), x.dtype)
    dU = np.zeros_like(U)
    db_rec = np.zeros(cell.gates * H, x.dtype) if has_b_rec else None
    dstates = [np.zeros((B, H), x.dtype) if d is None else np.array(d, x.dtype)
               for d in dstates_T]
    d_out = np.zeros((B, H), x.dtype)  # gradient reaching the previous step's output
    for t, cache in reversed(steps):
        g = d_out + (0 if dy is None else dy[:, t])
        if mask is None:
            dstates[0] = dstates[0] + g
            d_out = np.zeros_like(d_out)
            dz, dstates, dU_t, db_t = cell.back(cache, dstates, U, rd)
        else:
            m = mask[:, t:t + 1]
            d_new = [np.where(m, d, 0) for d in dstates]
            d_new[0] = d_new[0] + np.where(m, g, 0)
            d_out = np.where(m, 0, 0 if zero_output else g)
            dz, d_prev, dU_t, db_t = cell.back(cache, d_new, U, rd)
            dz = np.where(m, dz, 0)
            dstates = [np.where(m, dp, d) for dp, d in zip(d_prev, dstates)]
        dxw[:, t] = dz
        dU += dU_t
        if db_rec is not None and db_t is not None:
            db_rec += db_t
    flat = dxw.reshape(B * T, -1)
    dx = (flat @ W.T).reshape(x.shape)
    dW = x.reshape(B * T, -1).T @ flat
    db_in = flat.sum(axis=0) if has_b_in else None
    return dx, dW, dU, db_in, db_rec, dstates


def lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, *, activation, recurrent_activation,
                 mask=None, reverse=False, zero_output_for_mask=False, recurrent_dropout_mask=None):
    cell = _LSTMCell(activation, recurrent_activation)
    y, (h, c), saved = _forward(cell, x, kernel, recurrent_kernel, bias, None, [h0, c0], mask,
                                reverse, zero_output_for_mask, recurrent_dropout_mask)
    return y, h, c, saved


def lstm_backward(dy, dh_T, dc_T, saved):
    dx, dW, dU, db, _, (dh0, dc0) = _backward(dy, [dh_T, dc_T], saved)
    return dx, dW, dU, db, dh0, dc0


def gru_forward(x, kernel, recurrent_kernel, bias, h0, *, activation, recurrent_activation,
                reset_after=True, mask=None, reverse=False, zero_output_for_mask=False,
                recurrent_dropout_mask=None):
    cell = _GRUCell(activation, recurrent_activation, reset_after)
    b_in = b_rec = None
    if bias is not None:
        b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, None)
    y, (h,), saved = _forward(cell, x, kernel, recurrent_kernel, b_in, b_rec, [h0], mask,
                              reverse, zero_output_for_mask, recurrent_dropout_mask)
    return y, h, saved


def gru_backward(dy, dh_T, saved):
    dx, dW, dU, db_in, db_rec, (dh0,) = _backward(dy, [dh_T], saved)
    db = None if db_in is None else (np.stack([db_in, db_rec]) if db_rec is not None else db_in)
    return dx, dW, dU, db, dh0


def rnn_forward(x, kernel, recurrent_kernel, bias, h0, *, activation, mask=None, reverse=False,
                zero_output_for_mask=False, recurrent_dropout_mask=None):
    cell = _SimpleCell(activation)
    y, (h,), saved = _forward(cell, x, kernel, recurrent_kernel, bias, None, [h0], mask, reverse,
                              zero_output_for_mask, recurrent_dropout_mask)
    return y, h, saved


def rnn_backward(dy, dh_T, saved):
    dx, dW, dU, db, _, (dh0,) = _backward(dy, [dh_T], saved)
    return dx, dW, dU, db, dh0
