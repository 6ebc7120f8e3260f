"""The IMDb movie-review sentiment data set from Keras's files (25,000 train and 25,000 test
reviews as word-index lists, labels 0/1), read from a local path: pyseq downloads nothing.

Put Keras's ``imdb.npz`` (and ``imdb_word_index.json``) in ~/.keras/datasets/ (where
``keras.datasets.imdb`` keeps them, $KERAS_HOME/datasets if set) or pass ``path=``.
"""

from __future__ import annotations

import numpy as np

from . import _keras_index as K


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """(x_train, y_train), (x_test, y_test) exactly as ``keras.datasets.imdb.load_data``.

    Each split is shuffled with ``numpy.random.RandomState(seed)`` (train first, then test, one
    generator); every index is shifted by ``index_from`` and each review starts with
    ``start_char`` (None: no start marker); with ``maxlen`` only reviews shorter than maxlen
    (after the start marker) are kept; indices outside [skip_top, num_words) become ``oov_char``
    (None: dropped); num_words None means the largest index present. x_* are 1-D object arrays
    of lists of ints, y_* the label arrays.

    The .npz holds object arrays (pickles): they are read by an unpickler that rebuilds only
    NumPy arrays and builtin containers, so a crafted file cannot run code.
    """
    caller = "imdb.load_data"
    K.check_options(caller, num_words, skip_top, maxlen, start_char, oov_char, index_from)
    x_train, y_train, x_test, y_test = K.load_npz(caller, path, "imdb.npz",
                                                  ("x_train", "y_train", "x_test", "y_test"))
    rng = np.random.RandomState(seed)
    x_train, y_train = K.shuffled(rng, x_train, y_train)
    x_test, y_test = K.shuffled(rng, x_test, y_test)
    x_train = K.shift(x_train, start_char, index_from)
    x_test = K.shift(x_test, start_char, index_from)
    if maxlen:
        x_train, y_train = K.drop_long(maxlen, x_train, y_train)
        x_test, y_test = K.drop_long(maxlen, x_test, y_test)
        if not x_train or not x_test:
            raise ValueError(f"[{caller}] after keeping the sequences shorter than maxlen={maxlen}, "
                             "a split is empty: increase maxlen")
    xs = K.cut_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(y_train), np.asarray(y_test)])
    n = len(x_train)
    return (K.object_array(xs[:n]), labels[:n]), (K.object_array(xs[n:]), labels[n:])


def get_word_index(path="imdb_word_index.json"):
    """The word -> index dict of Keras's ``imdb_word_index.json`` (indices before the
    ``index_from`` shift of ``load_data``: word w is ``load_data`` index word_index[w] + 3)."""
    return K.load_word_index("imdb.get_word_index", path, "imdb_word_index.json")


__all__ = ["load_data", "get_word_index"]
