"""Sequences to arrays: ``pad_sequences`` (Keras semantics) and ``make_windows`` (series to
supervised windows). The copies run in the compiled ``pyseq.preprocessing._text``."""

from __future__ import annotations

import numpy as np

from . import _text

_FAST_DTYPES = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.float32), np.dtype(np.float64))


def _is_int(v):
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer))


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (or truncate) sequences to one length: a (len(sequences), maxlen) array (Keras's
    ``pad_sequences``).

    Args:
        sequences: a list of sequences (lists, tuples or arrays; items may themselves be
            arrays of one shape, giving (N, maxlen, ...)).
        maxlen: the length; None: the longest sequence.
        dtype: the output dtype (``object`` or a str dtype for strings).
        padding: "pre" or "post": pad before or after each sequence.
        truncating: "pre" or "post": drop values from the start or the end of longer ones.
        value: the padding value.

    Sequences of plain Python ints/floats (or tuples) are copied by compiled code; anything else
    row by row through NumPy, as Keras does. Unlike Keras, ``maxlen=0`` gives (N, 0) and the
    padding/truncating strings are checked even when every sequence is empty.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"[pad_sequences] sequences must be a list of sequences, "
                         f"got {type(sequences).__name__}")
    if padding not in ("pre", "post"):
        raise ValueError(f'[pad_sequences] padding must be "pre" or "post", got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'[pad_sequences] truncating must be "pre" or "post", got {truncating!r}')
    if maxlen is not None and (not _is_int(maxlen) or maxlen < 0):
        raise ValueError(f"[pad_sequences] maxlen must be None or an int >= 0, got {maxlen!r}")
    seqs = sequences if type(sequences) is list else list(sequences)
    lengths = _text.lengths(seqs)
    if isinstance(lengths, int):
        bad = seqs[-1 - lengths]
        raise ValueError(f"[pad_sequences] sequences must be a list of sequences, found "
                         f"{type(bad).__name__} {str(bad)[:50]} at position {-1 - lengths}")
    try:
        out_dtype = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"[pad_sequences] dtype must be a NumPy dtype, got {dtype!r}") from exc
    if isinstance(value, str) and out_dtype.kind not in "OUS":
        raise ValueError(f"[pad_sequences] dtype {out_dtype} is not compatible with a str value "
                         f"{value!r}: use dtype=object for variable-length strings")
    if maxlen is None:
        if not lengths:
            raise ValueError("[pad_sequences] sequences is empty and maxlen is None: give maxlen")
        maxlen = max(lengths)
    maxlen = int(maxlen)

    sample_shape = ()
    for s, n in zip(seqs, lengths):
        if n:  # the first non-empty sequence fixes the shape of one step
            sample_shape = np.asarray(s).shape[1:]
            break
    x = np.full((len(seqs), maxlen) + sample_shape, value, dtype=out_dtype)
    if maxlen == 0:
        return x
    if sample_shape == () and out_dtype in _FAST_DTYPES and out_dtype.isnative:
        rows = _text.pad_rows(x, seqs, maxlen, truncating == "pre", padding == "pre")
        fill = np.full((maxlen,), value, dtype=out_dtype) if rows else None
    else:
        rows, fill = range(len(seqs)), None
    for idx in rows:
        s = seqs[idx]
        if fill is not None:
            x[idx] = fill  # the compiled pass may have written part of this row
        if not lengths[idx]:
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=out_dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"[pad_sequences] shape of sample {trunc.shape[1:]} of sequence at "
                             f"position {idx} is different from expected shape {sample_shape}")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x


def make_windows(series, window, *, horizon=1, stride=1):
    """Cut a series into supervised pairs (x, y) for forecasting.

    For i = 0, stride, 2*stride, ... while i + window + horizon - 1 < T:
    ``x[k] = series[i : i + window]`` and ``y[k] = series[i + window + horizon - 1]``
    (horizon=1: the step right after the window).

    Args:
        series: (T,) or (T, F) array-like of numbers.
        window: steps per input window (>= 1).
        horizon: how far ahead of the window's last step the target is (>= 1).
        stride: steps between the starts of consecutive windows (>= 1).

    Returns:
        x: (N, window) for a 1-D series, (N, window, F) for (T, F); y: (N,) or (N, F); the
        series' dtype, fresh copies. N = (T - window - horizon) // stride + 1, or 0 when
        T < window + horizon.
    """
    for name, v in (("window", window), ("horizon", horizon), ("stride", stride)):
        if not _is_int(v) or v < 1:
            raise ValueError(f"[make_windows] {name} must be an int >= 1, got {v!r}")
    s = np.asarray(series)
    if s.ndim not in (1, 2):
        raise ValueError(f"[make_windows] series must be (T,) or (T, F), got shape {s.shape}")
    if s.dtype.kind not in "biufc":
        raise TypeError(f"[make_windows] series must hold numbers, got dtype {s.dtype}")
    window, horizon, stride = int(window), int(horizon), int(stride)
    T = s.shape[0]
    n = (T - window - horizon) // stride + 1 if T >= window + horizon else 0
    feat = s.shape[1:]
    x = np.empty((n, window) + feat, dtype=s.dtype)
    y = np.empty((n,) + feat, dtype=s.dtype)
    if x.size:
        src = np.ascontiguousarray(s).reshape(T, -1).view(np.uint8)
        _text.windows_into(src, x.reshape(n, -1).view(np.uint8), y.reshape(n, -1).view(np.uint8),
                           window, horizon, stride)
    return x, y


__all__ = ["pad_sequences", "make_windows"]
