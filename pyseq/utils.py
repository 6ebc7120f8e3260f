"""Small helpers around training data: ``to_categorical``, ``pad_sequences`` (re-exported from
``pyseq.preprocessing.sequence``) and ``sample_from_logits`` for text generation."""

from __future__ import annotations

import numpy as np

from ._random import seeded_rng
from .preprocessing.sequence import make_windows, pad_sequences


def to_categorical(y, num_classes=None):
    """One-hot encode integer class labels (Keras's ``to_categorical``).

    y: array-like of ints in [0, num_classes); a trailing axis of size 1 is dropped, so (N, 1)
    gives (N, num_classes). num_classes None (or 0): max(y) + 1. Returns float64 of shape
    y.shape + (num_classes,). Unlike Keras, a label outside [0, num_classes) raises ValueError
    (Keras wraps negative labels around).
    """
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf" or arr.dtype.kind == "b":
        raise TypeError(f"[to_categorical] y must hold integer class labels, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError("[to_categorical] y must hold integer class labels, got non-integer floats")
    if num_classes is not None and (isinstance(num_classes, bool)
                                    or not isinstance(num_classes, (int, np.integer))
                                    or num_classes < 0):
        raise ValueError(f"[to_categorical] num_classes must be None or an int >= 1, got {num_classes!r}")
    x = arr.astype(np.int64)
    shape = x.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if not num_classes:
        if x.size == 0:
            raise ValueError("[to_categorical] y is empty and num_classes is None: give num_classes")
        num_classes = int(x.max()) + 1
    num_classes = int(num_classes)
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"[to_categorical] labels must lie in [0, {num_classes}), got values in "
                         f"[{int(x.min())}, {int(x.max())}]")
    out = np.zeros((x.size, num_classes))
    out[np.arange(x.size), x] = 1
    return out.reshape(shape + (num_classes,))


def sample_from_logits(logits_or_probs, temperature=1.0, *, from_logits=True, seed=None, rng=None):
    """Draw class indices with a temperature ("scale factor"), as in the classic char-LSTM text
    generator: p_T ∝ exp(log p / T).

    Args:
        logits_or_probs: (C,) or (..., C) scores. ``from_logits=True`` (the default): logits, and
            p_T = softmax(logits / T). ``from_logits=False``: probabilities (say a softmax
            output), and p_T ∝ p ** (1 / T), the classic ``sample(preds, temperature)``; zeros
            are never drawn.
        temperature: > 0; below 1 sharpens, above 1 flattens. 0 means greedy (argmax).
        seed: an int seed (negative ones too) for a fresh generator: reproducible draws.
        rng: a ``numpy.random.Generator`` to draw from (give seed or rng, not both); neither:
            fresh OS entropy.

    Returns:
        an int for a (C,) input, else an int64 array of shape (...).
    """
    if seed is not None and rng is not None:
        raise ValueError("[sample_from_logits] give seed or rng, not both")
    if rng is None:
        rng = seeded_rng("sample_from_logits", seed)
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"[sample_from_logits] rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.integer, np.floating)) \
            or not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"[sample_from_logits] temperature must be a finite number >= 0, got {temperature!r}")
    z = np.array(logits_or_probs, dtype=np.float64)
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"[sample_from_logits] logits_or_probs must be (C,) or (..., C) with C >= 1, "
                         f"got shape {z.shape}")
    if from_logits:
        if np.any(np.isnan(z)) or np.any(z == np.inf):
            raise ValueError("[sample_from_logits] logits must not be NaN or +inf")
        scores = z
    else:
        if np.any(~np.isfinite(z)) or np.any(z < 0):
            raise ValueError("[sample_from_logits] probabilities must be finite and >= 0")
        if np.any(z.sum(axis=-1) <= 0):
            raise ValueError("[sample_from_logits] probabilities must not be all zero in a row")
        with np.errstate(divide="ignore"):
            scores = np.log(z)
    if np.any(np.all(scores == -np.inf, axis=-1)):
        raise ValueError("[sample_from_logits] a row has no class with a finite score")
    if temperature == 0:
        out = np.argmax(scores, axis=-1)
    else:
        s = scores / temperature
        s = s - s.max(axis=-1, keepdims=True)
        p = np.exp(s)
        cdf = np.cumsum(p, axis=-1)
        u = rng.random(cdf.shape[:-1] + (1,)) * cdf[..., -1:]
        out = np.minimum((cdf <= u).sum(axis=-1), z.shape[-1] - 1)
        # never land on a zero-probability class through rounding at its left edge
        zero = np.take_along_axis(p, out[..., None], axis=-1)[..., 0] == 0
        if np.any(zero):
            out = np.where(zero, np.argmax(scores, axis=-1), out)
    out = out.astype(np.int64)
    return int(out) if out.ndim == 0 else out


__all__ = ["to_categorical", "pad_sequences", "make_windows", "sample_from_logits"]
