"""Text preprocessing benchmarks: pyseq's compiled loops (Cython) against plain Python.

    pytest bench/test_text.py --benchmark-json=bench/text.json && python bench/report.py bench/text.json

Data: 25,000 documents cut from the bundled *The Mysterious Island* (word slices of 115 to 345
words, about 230 on average, at pseudo-random places), and the book as a series of character
indices for the windows. Each operation is timed for pyseq and for a straightforward
pure-Python version written below (the Keras algorithm: str.translate + split + dict counting,
a per-element padding loop, slicing windows); before timing, the results are checked equal.
pad_sequences has a third row, "numpy_rows": Keras's own algorithm (one np.asarray and slice
assignment per row), the faster pure-Python-level alternative.

- fit_on_texts: Tokenizer().fit_on_texts(docs) (word counts, document counts, word index);
- texts_to_sequences: the fitted tokenizer with num_words=10000 and an oov_token;
- pad_sequences: those sequences to maxlen=200, pre-padding and pre-truncation, int32;
- make_windows: the book's 1.1 M character indices, window 40, stride 3 (the char-LSTM set-up).
"""

from __future__ import annotations

import numpy as np
import pytest

FAMILY = "text"
N_DOCS = 25_000
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


# --------------------------------------------------------------------------------------------
# straightforward pure-Python implementations (what pyseq's compiled loops replace)
# --------------------------------------------------------------------------------------------

_TABLE = str.maketrans({c: " " for c in FILTERS})


def py_words(text):
    return [w for w in text.lower().translate(_TABLE).split(" ") if w]


def py_fit_on_texts(texts):
    word_counts, word_docs = {}, {}
    for text in texts:
        seq = py_words(text)
        for w in seq:
            word_counts[w] = word_counts.get(w, 0) + 1
        for w in set(seq):
            word_docs[w] = word_docs.get(w, 0) + 1
    ordered = sorted(word_counts.items(), key=lambda kv: kv[1], reverse=True)
    word_index = {w: i for i, (w, _) in enumerate(ordered, start=1)}
    return word_counts, word_docs, word_index


def py_texts_to_sequences(texts, word_index, num_words, oov_index):
    out = []
    for text in texts:
        vect = []
        for w in py_words(text):
            i = word_index.get(w)
            if i is None or i >= num_words:
                vect.append(oov_index)
            else:
                vect.append(i)
        out.append(vect)
    return out


def py_pad_sequences(sequences, maxlen):
    x = np.zeros((len(sequences), maxlen), dtype=np.int32)
    for i, s in enumerate(sequences):
        kept = s[-maxlen:]
        start = maxlen - len(kept)
        row = x[i]
        for j, v in enumerate(kept):
            row[start + j] = v
    return x


def numpy_rows_pad_sequences(sequences, maxlen):
    """Keras's own algorithm: one NumPy conversion and slice assignment per row."""
    x = np.zeros((len(sequences), maxlen), dtype=np.int32)
    for i, s in enumerate(sequences):
        if s:
            trunc = np.asarray(s[-maxlen:], dtype=np.int32)
            x[i, -len(trunc):] = trunc
    return x


def py_make_windows(series, window, stride):
    xs, ys = [], []
    for i in range(0, len(series) - window, stride):
        xs.append(series[i:i + window])
        ys.append(series[i + window])
    return np.array(xs), np.array(ys)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def book():
    from pyseq.datasets import mysterious_island
    return mysterious_island.load_text()


@pytest.fixture(scope="module")
def docs(book):
    words = book.split(" ")
    rng = np.random.default_rng(7)
    lengths = rng.integers(115, 346, size=N_DOCS)
    starts = rng.integers(0, len(words) - 346, size=N_DOCS)
    return [" ".join(words[s:s + n]) for s, n in zip(starts.tolist(), lengths.tolist())]


@pytest.fixture(scope="module")
def fitted(docs):
    from pyseq.preprocessing.text import Tokenizer
    tok = Tokenizer(num_words=10_000, oov_token="<oov>")
    tok.fit_on_texts(docs)
    return tok


@pytest.fixture(scope="module")
def sequences(fitted, docs):
    return fitted.texts_to_sequences(docs)


@pytest.fixture(scope="module")
def char_series(book):
    chars = sorted(set(book))
    lut = {c: i for i, c in enumerate(chars)}
    return np.array([lut[c] for c in book], dtype=np.int32)


def _info(op, case, words=None):
    info = {"family": FAMILY, "kind": "text", "op": op, "case": f"{op}: {case}"}
    if words is not None:
        info["tokens"] = words
    return info


IMPLS = ["pyseq", "python"]


def _rounds(impl, max_rounds):
    """Timing options: the plain-Python rows take seconds per call, so at most 3 rounds and no
    warm-up beyond the calibration call (never skipped for being slow)."""
    if impl == "pyseq":
        return dict(warmup_rounds=1, max_rounds=max_rounds)
    return dict(slow=True, max_call_s=120.0)


@pytest.mark.parametrize("impl", IMPLS)
def test_fit_on_texts(benchmark, measure, docs, impl):
    from pyseq.preprocessing.text import Tokenizer

    def run_pyseq():
        tok = Tokenizer()
        tok.fit_on_texts(docs)
        return tok

    tok = run_pyseq()
    counts, docs_count, index = py_fit_on_texts(docs)
    assert dict(tok.word_counts) == counts and dict(tok.word_docs) == docs_count
    assert tok.word_index == index
    benchmark.group = "text-fit_on_texts"
    fn = run_pyseq if impl == "pyseq" else (lambda: py_fit_on_texts(docs))
    measure(benchmark, fn, flop=0, impl=impl, **_rounds(impl, 10),
            info=_info("fit_on_texts", f"{N_DOCS} docs, ~230 words", sum(counts.values())))


@pytest.mark.parametrize("impl", IMPLS)
def test_texts_to_sequences(benchmark, measure, docs, fitted, sequences, impl):
    expect = py_texts_to_sequences(docs, fitted.word_index, fitted.num_words, fitted.word_index["<oov>"])
    assert sequences == expect
    benchmark.group = "text-texts_to_sequences"
    if impl == "pyseq":
        def fn():
            return fitted.texts_to_sequences(docs)
    else:
        def fn():
            return py_texts_to_sequences(docs, fitted.word_index, fitted.num_words, 1)
    measure(benchmark, fn, flop=0, impl=impl, **_rounds(impl, 10),
            info=_info("texts_to_sequences", f"{N_DOCS} docs, num_words=10000, oov"))


@pytest.mark.parametrize("impl", IMPLS + ["numpy_rows"])
def test_pad_sequences(benchmark, measure, sequences, impl):
    from pyseq.preprocessing.sequence import pad_sequences
    got = pad_sequences(sequences, maxlen=200)
    np.testing.assert_array_equal(got, py_pad_sequences(sequences, 200))
    np.testing.assert_array_equal(got, numpy_rows_pad_sequences(sequences, 200))
    benchmark.group = "text-pad_sequences"
    fn = {"pyseq": lambda: pad_sequences(sequences, maxlen=200),
          "python": lambda: py_pad_sequences(sequences, 200),
          "numpy_rows": lambda: numpy_rows_pad_sequences(sequences, 200)}[impl]
    measure(benchmark, fn, flop=0, impl=impl, **_rounds(impl, 20),
            info=_info("pad_sequences", f"{N_DOCS} sequences -> (25000, 200) int32, pre/pre"))


@pytest.mark.parametrize("impl", IMPLS)
def test_make_windows(benchmark, measure, char_series, impl):
    from pyseq.preprocessing.sequence import make_windows
    x, y = make_windows(char_series, 40, stride=3)
    xr, yr = py_make_windows(char_series, 40, 3)
    np.testing.assert_array_equal(x, xr)
    np.testing.assert_array_equal(y, yr)
    benchmark.group = "text-make_windows"
    fn = (lambda: make_windows(char_series, 40, stride=3)) if impl == "pyseq" else \
        (lambda: py_make_windows(char_series, 40, 3))
    measure(benchmark, fn, flop=0, impl=impl, **_rounds(impl, 20),
            info=_info("make_windows", f"{len(char_series)} char indices, window 40, stride 3 "
                                       f"-> {len(x)} windows"))
