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

__all__ = ["lstm_forward", "lstm_forward_tokens", "lstm_backward"]


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


def lstm_forward_tokens(ids, table, kernel, recurrent_kernel, bias, h0=None, c0=None, *,
                        mask=None, reverse=False, zero_output_for_mask=False,
                        recurrent_dropout_mask=None):
    """:func:`lstm_forward` on ``x = table[ids]`` (an Embedding feeding an LSTM), without
    forming x.

    ids (B, T) integers in [0, V), table (V, I); the rest as :func:`lstm_forward`. The input
    projection x·kernel becomes (table·kernel)[ids], and :func:`lstm_backward` sums the gate
    gradients by id before its products, so three products over B·T rows shrink to V rows: the
    cheaper path when V < B·T (a character vocabulary against a batch of sequences). The
    results equal ``lstm_forward(table[ids], ...)`` up to rounding (sums in another order).
    With this ``saved``, lstm_backward's first output is ``d_table`` (V, I), the gradient
    reaching the table (rows of unused ids are zero), instead of dx.
    """
    op = "lstm_forward_tokens"
    return _core.lstm_forward_tokens(ids, table, kernel, recurrent_kernel, bias, h0, c0, mask,
                                     _flag(op, "reverse", reverse),
                                     _flag(op, "zero_output_for_mask", zero_output_for_mask),
                                     recurrent_dropout_mask)


def lstm_backward(dy, dh_T, dc_T, saved):
    """Gradients of :func:`lstm_forward` (or :func:`lstm_forward_tokens`).

    dy (B, T, H), dh_T and dc_T (B, H), each may be None (zeros). Returns
    ``(dx, dkernel, drecurrent_kernel, dbias, dh0, dc0)``, always arrays: dbias is (4H,) even
    when bias was None, and dh0, dc0 are (B, H) even when h0, c0 were None. After
    :func:`lstm_forward_tokens`, dx is replaced by ``d_table`` (V, I).
    """
    return _core.lstm_backward(dy, dh_T, dc_T, saved)


# ---- GRU ---------------------------------------------------------------------------------------

__all__ += ["gru_forward", "gru_forward_tokens", "gru_backward"]


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


def gru_forward_tokens(ids, table, kernel, recurrent_kernel, bias, h0=None, *, reset_after=True,
                       mask=None, reverse=False, zero_output_for_mask=False,
                       recurrent_dropout_mask=None):
    """:func:`gru_forward` on ``x = table[ids]`` without forming x: ids (B, T) integers in
    [0, V), table (V, I), the rest as :func:`gru_forward`. As :func:`lstm_forward_tokens`, the
    input-side products run over the table's V rows; :func:`gru_backward` on this ``saved``
    returns ``d_table`` (V, I) in place of dx.
    """
    op = "gru_forward_tokens"
    return _core.gru_forward_tokens(ids, table, kernel, recurrent_kernel, bias, h0,
                                    _flag(op, "reset_after", reset_after), mask,
                                    _flag(op, "reverse", reverse),
                                    _flag(op, "zero_output_for_mask", zero_output_for_mask),
                                    recurrent_dropout_mask)


def gru_backward(dy, dh_T, saved):
    """Gradients of :func:`gru_forward` (or :func:`gru_forward_tokens`: d_table in place of dx).

    dy (B, T, H) and dh_T (B, H), each may be None (zeros). Returns
    ``(dx, dkernel, drecurrent_kernel, dbias, dh0)``, always arrays: dbias has the bias shape of
    the forward's reset_after form even when bias was None, and dh0 is (B, H) even when h0 was
    None.
    """
    return _core.gru_backward(dy, dh_T, saved)


# ------------------------------------------------------------------------------------------------
# SimpleRNN
# ------------------------------------------------------------------------------------------------

__all__ += ["rnn_forward", "rnn_forward_tokens", "rnn_backward"]


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


def rnn_forward_tokens(ids, table, kernel, recurrent_kernel, bias, h0=None, *, activation="tanh",
                       mask=None, reverse=False, zero_output_for_mask=False,
                       recurrent_dropout_mask=None):
    """:func:`rnn_forward` on ``x = table[ids]`` without forming x: ids (B, T) integers in
    [0, V), table (V, I), the rest as :func:`rnn_forward`. As :func:`lstm_forward_tokens`, the
    input-side products run over the table's V rows; :func:`rnn_backward` on this ``saved``
    returns ``d_table`` (V, I) in place of dx.
    """
    op = "rnn_forward_tokens"
    return _core.rnn_forward_tokens(ids, table, kernel, recurrent_kernel, bias, h0, activation,
                                    mask, _flag(op, "reverse", reverse),
                                    _flag(op, "zero_output_for_mask", zero_output_for_mask),
                                    recurrent_dropout_mask)


def rnn_backward(dy, dh_T, saved):
    """Gradients of :func:`rnn_forward` (or :func:`rnn_forward_tokens`: d_table in place of dx).

    dy (B, T, H) and dh_T (B, H), each may be None (zeros). Returns
    ``(dx, dkernel, drecurrent_kernel, dbias, dh0)``, always arrays: dbias is (H,) even when bias
    was None, and dh0 is (B, H) even when h0 was None.
    """
    return _core.rnn_backward(dy, dh_T, saved)


# ================================================================================================
# attention (issue 5)
# ================================================================================================

__all__ += ["attention_forward", "attention_backward"]


def _real(op, name, value):
    # Python and NumPy reals; bools are flags, not numbers.
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"[{op}] {name} must be a real number, got {type(value).__name__}")
    return float(value)


def _attention_scalars(op, q_shape, scale, dropout, seed):
    """(scale, dropout, seed) checked and defaulted, for the CPU and the GPU op alike; q_shape()
    gives q's shape, asked only for the default scale."""
    if scale is None:
        shape = q_shape()
        d = shape[-1] if len(shape) >= 1 else 1
        scale = 1.0 / np.sqrt(d) if d > 0 else 1.0
    scale = _real(op, "scale", scale)
    dropout = _real(op, "dropout", dropout)
    if not 0.0 <= dropout < 1.0:  # also refuses NaN
        raise ValueError(f"[{op}] dropout must be in [0, 1), got {dropout!r}")
    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**63)) if dropout > 0 else 0
    elif isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"[{op}] seed must be an int or None, got {type(seed).__name__}")
    elif not 0 <= int(seed) < 2**64:
        raise ValueError(f"[{op}] seed must be in [0, 2**64), got {int(seed)}")
    return scale, dropout, int(seed)


def attention_forward(q, k, v, *, scale=None, causal=False, key_mask=None, attn_mask=None,
                      dropout=0.0, seed=None, return_scores=False):
    """Softmax attention o = softmax(scale · q kᵀ, masked) v, fused, flash-style.

    Shapes (the layout of a multi-head layer's projections): q (B, Lq, N, D), k (B, Lk, N, D),
    v (B, Lk, N, Dv); o is (B, Lq, N, Dv). Lq may differ from Lk and Dv from D.

    Options:
      scale: multiplies q·k; default 1/sqrt(D) (Keras ``Attention`` uses 1). Any finite real,
        zero and negative included.
      causal: query i sees keys 0..i only (lower-triangular, aligned top-left, as Keras
        ``use_causal_mask``).
      key_mask: (B, Lk) bool, True = keep the key (padding masks).
      attn_mask: (B, Lq, Lk) bool, True = attend. All masks combine by AND; a query row with every
        key masked gives zeros in o and zero gradients (never NaN).
      dropout: probability in [0, 1) of dropping each attention weight after the softmax, the kept
        ones scaled by 1/(1-p). The mask comes from a counter-based generator keyed on
        (seed, b, n, i, j): the same seed gives the same output, and backward regenerates it.
      seed: int in [0, 2**64); None with dropout > 0 draws one from ``numpy.random.default_rng()``
        (available afterwards as ``saved.seed``).
      return_scores: also return the (B, N, Lq, Lk) softmax weights, before dropout (what Keras
        ``MultiHeadAttention`` returns with ``return_attention_scores=True``); fully masked rows
        are zeros. Only then does an Lq × Lk array exist.

    Returns ``(o, saved)``, or ``(o, scores, saved)`` with ``return_scores``. ``saved`` keeps
    references to the (contiguous) q, k, v and to o, plus the log-sum-exp (B, N, Lq).
    """
    op = "attention_forward"
    causal = _flag(op, "causal", causal)
    return_scores = _flag(op, "return_scores", return_scores)
    scale, dropout, seed = _attention_scalars(op, lambda: np.shape(q), scale, dropout, seed)
    return _core.attention_forward(q, k, v, scale, causal, key_mask, attn_mask, dropout,
                                   seed, return_scores)


def attention_backward(do, saved):
    """Gradients of :func:`attention_forward`: ``(dq, dk, dv)`` for an upstream gradient ``do``
    (B, Lq, N, Dv), or None (zeros). Dropout is regenerated from the seed forward used."""
    return _core.attention_backward(do, saved)


# ================================================================================================
# Conv1D and 1-D pooling (issue 4)
# ================================================================================================

__all__ += ["conv1d_forward", "conv1d_backward",
            "max_pool1d_forward", "max_pool1d_backward", "avg_pool1d_forward", "avg_pool1d_backward",
            "global_max_pool1d_forward", "global_max_pool1d_backward",
            "global_avg_pool1d_forward", "global_avg_pool1d_backward"]


def conv1d_forward(x, kernel, bias=None, *, stride=1, padding="valid", dilation=1, groups=1):
    """1-D convolution, channels-last (Keras ``Conv1D``; like TensorFlow, a cross-correlation).

    Shapes: x (B, T, C), kernel (K, C/groups, F), bias (F,) or None; returns ``(y, saved)`` with
    y (B, T', F)::

        y[b, t', g*F/G + j] = bias[.] + sum_k sum_i x[b, t'*stride + k*dilation - pad_left, g*C/G + i]
                                                    * kernel[k, i, g*F/G + j]

    x counting as zero outside [0, T). Padding (span = dilation*(K-1) + 1):
      "valid":  no padding, T' = (T - span) // stride + 1 (span > T is an error);
      "same":   TensorFlow's rule: T' = ceil(T / stride), total padding
                max((T'-1)*stride + span - T, 0), the odd one on the right;
      "causal": span - 1 zeros on the left, T' = (T - 1) // stride + 1.
    stride and dilation may both exceed 1 (Keras forbids it; the arithmetic is TF's/PyTorch's).
    groups splits channels and filters into that many independent groups (groups = C with
    F = C is a depthwise convolution). ``saved`` holds references to the contiguous x and kernel.
    """
    return _core.conv1d_forward(x, kernel, bias, stride, padding, dilation, groups)


def conv1d_backward(dy, saved):
    """Gradients of :func:`conv1d_forward`: ``(dx, dkernel, dbias)``; dbias is None when the
    forward had no bias. dy (B, T', F) or None (zeros)."""
    return _core.conv1d_backward(dy, saved)


def max_pool1d_forward(x, pool_size, *, strides=None, padding="valid"):
    """Max over windows of ``pool_size`` steps (Keras ``MaxPooling1D``), channels-last.

    x (B, T, C) -> ``(y, saved)``, y (B, T', C). strides defaults to pool_size. "valid":
    T' = (T - pool_size) // strides + 1 (pool_size > T is an error); "same": T' = ceil(T/strides),
    padded like TensorFlow (odd extra step on the right), padding never wins the max. The
    gradient of a window goes to its first maximum (as TensorFlow's and PyTorch's CPU kernels).
    """
    return _core.max_pool1d_forward(x, pool_size, strides, padding)


def max_pool1d_backward(dy, saved):
    """Gradient of :func:`max_pool1d_forward`: ``(dx,)``; dy (B, T', C) or None (zeros)."""
    return _core.max_pool1d_backward(dy, saved)


def avg_pool1d_forward(x, pool_size, *, strides=None, padding="valid"):
    """Mean over windows of ``pool_size`` steps (Keras ``AveragePooling1D``), channels-last.

    As :func:`max_pool1d_forward`; with "same" a window clipped by the padding averages over its
    real steps only (TensorFlow's rule)."""
    return _core.avg_pool1d_forward(x, pool_size, strides, padding)


def avg_pool1d_backward(dy, saved):
    """Gradient of :func:`avg_pool1d_forward`: ``(dx,)``; dy (B, T', C) or None (zeros)."""
    return _core.avg_pool1d_backward(dy, saved)


def global_max_pool1d_forward(x, mask=None):
    """Max over all steps (Keras ``GlobalMaxPooling1D``): x (B, T, C) -> ``(y, saved)``, y (B, C).

    mask: (B, T) bool, True = valid step; masked steps are ignored. A row with no valid step
    gives 0 (not -inf) and passes no gradient. The gradient goes to the first maximum."""
    return _core.global_max_pool1d_forward(x, mask)


def global_max_pool1d_backward(dy, saved):
    """Gradient of :func:`global_max_pool1d_forward`: ``(dx,)``; dy (B, C) or None (zeros)."""
    return _core.global_max_pool1d_backward(dy, saved)


def global_avg_pool1d_forward(x, mask=None):
    """Mean over all steps (Keras ``GlobalAveragePooling1D``): x (B, T, C) -> ``(y, saved)``.

    mask: (B, T) bool; the mean is over the valid steps. A row with no valid step gives 0 (Keras
    would divide 0 by 0) and a zero gradient."""
    return _core.global_avg_pool1d_forward(x, mask)


def global_avg_pool1d_backward(dy, saved):
    """Gradient of :func:`global_avg_pool1d_forward`: ``(dx,)``; dy (B, C) or None (zeros)."""
    return _core.global_avg_pool1d_backward(dy, saved)
# --- layers and models (issue 6): embedding lookup and gradient, fused Adam step -------------
__all__ += ["embedding_forward", "embedding_backward", "adam_update"]


def embedding_forward(table, indices):
    """Rows of ``table`` (V, D) at integer ``indices`` (any shape, values in [0, V)).

    Returns ``(out, saved)`` with out of shape ``indices.shape + (D,)`` in the table's dtype.
    """
    return _core.embedding_forward(table, indices)


def embedding_backward(d_out, saved):
    """Gradient of :func:`embedding_forward`: ``(d_table, None)``, d_table (V, D) the sum of the
    rows of ``d_out`` at each index (None means zeros); indices get no gradient."""
    return _core.embedding_backward(d_out, saved)


def adam_update(var, m, v, grad, *, alpha, beta_1, beta_2, epsilon, v_hat=None):
    """One Adam step, **in place** on ``var``, ``m``, ``v`` (and ``v_hat`` with amsgrad), with
    Keras 3's arithmetic::

        m += (grad - m) * (1 - beta_1);  v += (grad**2 - v) * (1 - beta_2)
        v_hat = maximum(v_hat, v)        # amsgrad only; then used for v below
        var -= alpha * m / (sqrt(v) + epsilon)

    ``alpha`` = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t) for step t. var, m, v and
    v_hat must be writeable C-contiguous arrays of one float dtype and shape; grad is converted
    to that dtype only if it already has it (no silent casts: TypeError otherwise).
    """
    scalars = []
    for name, value in (("alpha", alpha), ("beta_1", beta_1), ("beta_2", beta_2),
                        ("epsilon", epsilon)):
        kind = np.asarray(value).dtype.kind if not isinstance(value, str) else "U"
        if np.ndim(value) != 0 or kind not in "iuf":
            raise TypeError(f"[adam_update] {name} must be a real number, got {value!r:.60}")
        scalars.append(float(value))
    _core.adam_update(var, m, v, grad, *scalars, v_hat)
# --- end of layers and models block ---------------------------------------------------------


# --- layers and models (issue 6): Dense's affine map on pyseq's BLAS ------------------------
__all__ += ["dense_forward", "dense_backward"]


def dense_forward(x, kernel, bias=None):
    """``y = x @ kernel + bias`` for x (M, K), kernel (K, U), bias (U,) or None.

    The product runs on pyseq's BLAS inside pyseq's thread team (rows split across threads), so
    that no second BLAS thread pool spins beside the sequence kernels. Returns ``(y, saved)``.
    """
    return _core.dense_forward(x, kernel, bias)


def dense_backward(dz, saved):
    """Gradients of :func:`dense_forward`: ``(dx, dkernel, dbias)`` (dbias None without bias);
    dz (M, U) may be None (zeros)."""
    return _core.dense_backward(dz, saved)
# --- end of Dense block ---------------------------------------------------------------------


# ================================================================================================
# CUDA backend (issue 8): every op above accepts GPU arrays (__cuda_array_interface__ or a CUDA
# DLPack device) and then runs on pyseq._cuda (pyseq/_device.py routes, pyseq/_gpu_ops.py holds
# the GPU side); NumPy arguments run the CPU op unchanged.
# ================================================================================================
from . import _device, _gpu_ops  # noqa: E402

for _name in __all__:
    globals()[_name] = _device.gpu_aware(globals()[_name], getattr(_gpu_ops, _name, None))
del _name
# --- end of CUDA backend block --------------------------------------------------------------
