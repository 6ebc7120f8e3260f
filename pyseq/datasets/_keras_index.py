"""Keras's processing of its word-index data sets (IMDb, Reuters): shuffle, start/oov markers,
index shift, length filter, vocabulary cut. Shared by ``imdb`` and ``reuters``."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np

from ._files import user_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


class _ArraysOnly(pickle.Unpickler):
    """Rebuilds NumPy arrays, dtypes and scalars and builtin containers, nothing else: an object
    array in an .npz is a pickle, and a crafted pickle could otherwise run any code."""

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refuses to unpickle {module}.{name}")


def _read_npy(raw):
    fp = io.BytesIO(raw)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        _, _, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        _, _, dtype = np.lib.format.read_array_header_2_0(fp)
    if not dtype.hasobject:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=False)
    array = _ArraysOnly(fp).load()
    if not isinstance(array, np.ndarray):
        raise pickle.UnpicklingError(f"expected an array, got {type(array).__name__}")
    return array


def load_npz(caller, path, default_name, keys):
    """The arrays ``keys`` of Keras's .npz. Keras stores the sequences as object arrays of
    Python lists, which are pickles: they are read with an unpickler that rebuilds only NumPy
    arrays and builtin containers (as Keras 3 does), never with np.load(allow_pickle=True)."""
    fname = user_file(caller, path, default_name, ORIGIN + default_name)
    try:
        with zipfile.ZipFile(fname) as archive:
            members = {m[:-4]: m for m in archive.namelist() if m.endswith(".npy")}
            missing = [k for k in keys if k not in members]
            if missing:
                raise ValueError(f"[{caller}] {fname!r} lacks the arrays {missing} (has "
                                 f"{sorted(members)}): expected Keras's {default_name}")
            return [_read_npy(archive.read(members[k])) for k in keys]
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # not an npz at all
        raise ValueError(f"[{caller}] {fname!r} is not a readable .npz file ({exc})") from exc
    except pickle.UnpicklingError as exc:
        raise ValueError(f"[{caller}] {fname!r}: {exc}") from exc


def load_word_index(caller, path, default_name):
    """Keras's word -> index JSON."""
    fname = user_file(caller, path, default_name, ORIGIN + default_name)
    with open(fname, encoding="utf-8") as fh:
        return json.load(fh)


def check_options(caller, num_words, skip_top, maxlen, start_char, oov_char, index_from):
    def is_int(v):
        return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer))
    for name, v, none_ok in (("num_words", num_words, True), ("skip_top", skip_top, False),
                             ("maxlen", maxlen, True), ("start_char", start_char, True),
                             ("oov_char", oov_char, True), ("index_from", index_from, False)):
        if (v is None and not none_ok) or (v is not None and (not is_int(v) or v < 0)):
            raise ValueError(f"[{caller}] {name} must be {'None or ' if none_ok else ''}an int >= 0, got {v!r}")


def shuffled(rng, x, y):
    idx = np.arange(len(x))
    rng.shuffle(idx)
    return x[idx], y[idx]


def shift(xs, start_char, index_from):
    """Prepend start_char (unless None) and add index_from to every index, as Keras does."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    if index_from:
        return [[w + index_from for w in x] for x in xs]
    return [list(x) for x in xs]


def drop_long(maxlen, xs, labels):
    """Keep the sequences strictly shorter than maxlen (Keras's remove_long_seq)."""
    keep = [i for i, x in enumerate(xs) if len(x) < maxlen]
    return [xs[i] for i in keep], [labels[i] for i in keep]


def cut_vocabulary(xs, num_words, skip_top, oov_char):
    """Indices outside [skip_top, num_words) become oov_char, or are dropped when it is None.
    num_words None/0: the largest index present (as Keras, which so keeps it out)."""
    if not num_words:
        num_words = max((max(x) for x in xs if len(x)), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def object_array(xs):
    """A 1-D object array of lists (np.array(xs, dtype=object) would make a 2-D array when all
    lists have one length)."""
    out = np.empty(len(xs), dtype=object)
    for i, x in enumerate(xs):
        out[i] = x
    return out
