"""Functional forward/backward pairs on NumPy arrays; the only caller of pyseq._core.

Every family follows one convention::

    outputs..., saved = ops.<op>_forward(inputs..., **options)
    d_inputs...       = ops.<op>_backward(d_outputs..., saved)

``saved`` is opaque; backward returns one gradient per positional input of forward, in order,
and a ``None`` output gradient means zeros. float32 and float64 are chosen by the input's dtype
(every other float input must match it); arrays of any strides are accepted; inputs are never
modified. Bad input raises ValueError (shapes, values) or TypeError (dtypes, types) with a
message that starts with ``[op]``.
"""

import numpy as np

from . import _core

__all__ = ["lstm_forward", "lstm_backward"]


def _flag(op, name, value):
    # Python's and NumPy's bool scalars; anything else (0/1, strings) is a caller mistake.
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"[{op}] {name} must be a bool, got {type(value).__name__}")


def lstm_forward(x, kernel, recurrent_kernel, bias, h0=None, c0=None, *, mask=None,
                 reverse=False, zero_output_for_mask=False, recurrent_dropout_mask=None):
    """LSTM over a whole sequence (Keras layout and gate order i, f, c, o).

    Shapes: x (B, T, I), kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or None,
    h0 and c0 (B, H) or None (zeros).

    Options:
      mask: (B, T) bool, True = valid step. A masked step carries h and c over; its output
        repeats the previous output (zeros until the row's first valid step), or is zeros with
        ``zero_output_for_mask=True``.
      reverse: process t = T-1 .. 0 (Keras go_backwards); y is still returned in input order.
      recurrent_dropout_mask: (B, H), multiplied into h_{t-1} before the recurrent product.

    Returns ``(y, h_T, c_T, saved)`` with y (B, T, H) and h_T, c_T (B, H), the states after the
    last processed step. ``saved`` holds references to the (contiguous) inputs: modifying x or
    the weights in place before ``lstm_backward`` changes the gradients.
    """
    op = "lstm_forward"
    return _core.lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, mask,
                              _flag(op, "reverse", reverse),
                              _flag(op, "zero_output_for_mask", zero_output_for_mask),
                              recurrent_dropout_mask)


def lstm_backward(dy, dh_T, dc_T, saved):
    """Gradients of :func:`lstm_forward`.

    dy (B, T, H), dh_T and dc_T (B, H), each may be None (zeros). Returns
    ``(dx, dkernel, drecurrent_kernel, dbias, dh0, dc0)``, always arrays: dbias is (4H,) even
    when bias was None, and dh0, dc0 are (B, H) even when h0, c0 were None.
    """
    return _core.lstm_backward(dy, dh_T, dc_T, saved)


# ---- GRU ---------------------------------------------------------------------------------------

__all__ += ["gru_forward", "gru_backward"]


def gru_forward(x, kernel, recurrent_kernel, bias, h0=None, *, reset_after=True, mask=None,
                reverse=False, zero_output_for_mask=False, recurrent_dropout_mask=None):
    """GRU over a whole sequence (Keras layout and gate order z, r, h).

    Shapes: x (B, T, I), kernel (I, 3H), recurrent_kernel (H, 3H), h0 (B, H) or None (zeros);
    bias (2, 3H) with ``reset_after=True`` (row 0 the input bias, row 1 the recurrent bias),
    (3H,) with ``reset_after=False``, or None (zeros).

    reset_after=True (Keras's default, PyTorch's form):
        n = tanh(x_t W_h + b_xh + r * (h_in U_h + b_hh))
    reset_after=False:
        n = tanh(x_t W_h + (r * h_in) U_h + b_h)
    with h_in = h_{t-1} * recurrent_dropout_mask, and h_t = z * h_{t-1} + (1 - z) * n.

    Options:
      mask: (B, T) bool, True = valid step. A masked step carries h over; its output repeats the
        previous output (zeros until the row's first valid step), or is zeros with
        ``zero_output_for_mask=True``.
      reverse: process t = T-1 .. 0 (Keras go_backwards); y is still returned in input order.
      recurrent_dropout_mask: (B, H), multiplied into h_{t-1} before the recurrent products
        (not into the z * h_{t-1} term, as in Keras).

    Returns ``(y, h_T, saved)`` with y (B, T, H) and h_T (B, H), the state after the last
    processed step. ``saved`` holds references to the (contiguous) inputs: modifying x or the
    weights in place before ``gru_backward`` changes the gradients.
    """
    op = "gru_forward"
    return _core.gru_forward(x, kernel, recurrent_kernel, bias, h0,
                             _flag(op, "reset_after", reset_after), mask,
                             _flag(op, "reverse", reverse),
                             _flag(op, "zero_output_for_mask", zero_output_for_mask),
                             recurrent_dropout_mask)


def gru_backward(dy, dh_T, saved):
    """Gradients of :func:`gru_forward`.

    dy (B, T, H) and dh_T (B, H), each may be None (zeros). Returns
    ``(dx, dkernel, drecurrent_kernel, dbias, dh0)``, always arrays: dbias has the bias shape of
    the forward's reset_after form even when bias was None, and dh0 is (B, H) even when h0 was
    None.
    """
    return _core.gru_backward(dy, dh_T, saved)


# ------------------------------------------------------------------------------------------------
# SimpleRNN
# ------------------------------------------------------------------------------------------------

__all__ += ["rnn_forward", "rnn_backward"]


def rnn_forward(x, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh", mask=None,
                reverse=False, zero_output_for_mask=False, recurrent_dropout_mask=None):
    """SimpleRNN over a whole sequence (Keras layout): h_t = act(x_t·W + b + h_in·U).

    Shapes: x (B, T, I), kernel (I, H), recurrent_kernel (H, H), bias (H,) or None,
    h0 (B, H) or None (zeros).

    Options:
      activation: "tanh" (default), "relu", "sigmoid", "linear" or None (= "linear").
      mask: (B, T) bool, True = valid step. A masked step carries h over; its output repeats
        the previous output (zeros until the row's first valid step), or is zeros with
        ``zero_output_for_mask=True``.
      reverse: process t = T-1 .. 0 (Keras go_backwards); y is still returned in input order.
      recurrent_dropout_mask: (B, H), multiplied into h_{t-1} before the recurrent product
        (h_in = h_{t-1} * recurrent_dropout_mask).

    Returns ``(y, h_T, saved)`` with y (B, T, H) and h_T (B, H), the state after the last
    processed step. ``saved`` holds references to the (contiguous) inputs: modifying x or the
    weights in place before ``rnn_backward`` changes the gradients.
    """
    op = "rnn_forward"
    return _core.rnn_forward(x, kernel, recurrent_kernel, bias, h0, activation, mask,
                             _flag(op, "reverse", reverse),
                             _flag(op, "zero_output_for_mask", zero_output_for_mask),
                             recurrent_dropout_mask)


def rnn_backward(dy, dh_T, saved):
    """Gradients of :func:`rnn_forward`.

    dy (B, T, H) and dh_T (B, H), each may be None (zeros). Returns
    ``(dx, dkernel, drecurrent_kernel, dbias, dh0)``, always arrays: dbias is (H,) even when bias
    was None, and dh0 is (B, H) even when h0 was None.
    """
    return _core.rnn_backward(dy, dh_T, saved)
