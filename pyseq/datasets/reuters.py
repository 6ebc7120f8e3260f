"""The Reuters newswire topic data set from Keras's files (11,228 newswires as word-index
lists, 46 topics), read from a local path: pyseq downloads nothing.

Put Keras's ``reuters.npz`` (and ``reuters_word_index.json``) in ~/.keras/datasets/ (where
``keras.datasets.reuters`` keeps them, $KERAS_HOME/datasets if set) or pass ``path=``.
"""

from __future__ import annotations

import numpy as np

from . import _keras_index as K

LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi",
    "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei",
    "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3):
    """(x_train, y_train), (x_test, y_test) exactly as ``keras.datasets.reuters.load_data``.

    All newswires are shuffled with ``numpy.random.RandomState(seed)``, shifted by
    ``index_from`` with ``start_char`` first (None: no start marker), filtered to length <
    ``maxlen`` when given, indices outside [skip_top, num_words) become ``oov_char`` (None:
    dropped), then the first int(N * (1 - test_split)) are the training split.

    The .npz holds object arrays (pickles): they are read by an unpickler that rebuilds only
    NumPy arrays and builtin containers, so a crafted file cannot run code.
    """
    caller = "reuters.load_data"
    K.check_options(caller, num_words, skip_top, maxlen, start_char, oov_char, index_from)
    if isinstance(test_split, bool) or not isinstance(test_split, (int, float, np.integer, np.floating)) \
            or not 0 <= test_split <= 1:
        raise ValueError(f"[{caller}] test_split must be a number in [0, 1], got {test_split!r}")
    xs, labels = K.load_npz(caller, path, "reuters.npz", ("x", "y"))
    rng = np.random.RandomState(seed)
    xs, labels = K.shuffled(rng, xs, labels)
    xs = K.shift(xs, start_char, index_from)
    labels = list(labels)
    if maxlen:
        xs, labels = K.drop_long(maxlen, xs, labels)
    xs = K.cut_vocabulary(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    return ((K.object_array(xs[:idx]), np.array(labels[:idx])),
            (K.object_array(xs[idx:]), np.array(labels[idx:])))


def get_word_index(path="reuters_word_index.json"):
    """The word -> index dict of Keras's ``reuters_word_index.json`` (before the ``index_from``
    shift of ``load_data``)."""
    return K.load_word_index("reuters.get_word_index", path, "reuters_word_index.json")


def get_label_names():
    """The 46 topic names, in label order."""
    return LABEL_NAMES


__all__ = ["load_data", "get_word_index", "get_label_names"]
