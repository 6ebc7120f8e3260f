"""pyseq.preprocessing.sequence: pad_sequences against Keras 3's, make_windows against a loop."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyseq.preprocessing.sequence import make_windows, pad_sequences
from pyseq import utils


@pytest.fixture(scope="session")
def keras_pad():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    return keras.utils.pad_sequences


def plain_pad(seqs, maxlen, dtype, padding, truncating, value):
    """The definition, one element at a time."""
    if maxlen is None:
        maxlen = max(len(s) for s in seqs)
    out = np.full((len(seqs), maxlen), value, dtype=dtype)
    for i, s in enumerate(seqs):
        kept = list(s)[-maxlen:] if truncating == "pre" else list(s)[:maxlen]
        if maxlen == 0:
            kept = []
        start = maxlen - len(kept) if padding == "pre" else 0
        for j, v in enumerate(kept):
            out[i, start + j] = v
    return out


int_seqs = st.lists(st.lists(st.integers(-2**31, 2**31 - 1), max_size=12), min_size=1, max_size=9)
options = dict(maxlen=st.sampled_from([None, 1, 2, 3, 7, 13]),
               padding=st.sampled_from(["pre", "post"]), truncating=st.sampled_from(["pre", "post"]),
               dtype=st.sampled_from(["int32", "int64", "float32", "float64"]),
               value=st.sampled_from([0.0, -1, 7.5, 3]))


@settings(max_examples=150)
@given(seqs=int_seqs, tuples=st.booleans(), **options)
def test_pad_matches_keras(keras_pad, seqs, tuples, maxlen, padding, truncating, dtype, value):
    if dtype in ("float32",):
        seqs = [[v % 2**24 for v in s] for s in seqs]  # exactly representable in both
    if tuples:
        seqs = [tuple(s) for s in seqs]
    copy = [list(s) for s in seqs]
    if maxlen is None and not any(seqs):
        maxlen = 2
    got = pad_sequences(seqs, maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating,
                        value=value)
    want = keras_pad(seqs, maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating,
                     value=value)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, plain_pad(seqs, maxlen, dtype, padding, truncating, value))
    assert [list(s) for s in seqs] == copy


@settings(max_examples=60)
@given(seqs=st.lists(st.lists(st.floats(-1e6, 1e6, width=32), max_size=6), min_size=1, max_size=5),
       arrays=st.booleans(), **options)
def test_pad_floats_and_arrays_match_keras(keras_pad, seqs, arrays, maxlen, padding, truncating,
                                          dtype, value):
    if arrays:
        seqs = [np.asarray(s, dtype=np.float64) for s in seqs]
    if maxlen is None and not any(len(s) for s in seqs):
        maxlen = 3
    got = pad_sequences(seqs, maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating,
                        value=value)
    want = keras_pad(seqs, maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating,
                     value=value)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_pad_special_cases_match_keras(keras_pad):
    cases = [
        dict(sequences=[[1, 2], [3.7, -2.2], [True, 5]], dtype="int32"),  # floats/bools cast
        dict(sequences=[[2**40, 1]], dtype="int64"),
        dict(sequences=[[2**40, 1], [3]], dtype="float32"),
        dict(sequences=[[2**53 + 1]], dtype="float64"),
        dict(sequences=[[1e300]], dtype="float64"),
        dict(sequences=[["a", "bc"], ["d"]], dtype=object, value="_", maxlen=3),
        dict(sequences=[["a", "bc"], ["d"]], dtype="<U2", value="_"),
        dict(sequences=[np.ones((3, 2)), np.zeros((1, 2))], dtype="float32", maxlen=2),  # (N, T, 2)
        dict(sequences=[[], [np.int64(3), np.int32(4)]], dtype="int32"),
        dict(sequences=[[1, 2, 3]], dtype="int16", padding="post", value=-1, maxlen=5),
        dict(sequences=[[1, 2, 3]], dtype="uint8", maxlen=2, truncating="post"),
        dict(sequences=[[1, 2], [3]], maxlen=np.int64(3)),
        dict(sequences=([1, 2], [3]), maxlen=2),  # a tuple of sequences
    ]
    for kw in cases:
        got, want = pad_sequences(**kw), keras_pad(**kw)
        assert got.dtype == want.dtype and got.shape == want.shape, kw
        np.testing.assert_array_equal(got, want, err_msg=str(kw))


def test_pad_errors_like_keras(keras_pad):
    # out of range for the dtype: NumPy's own error on both sides
    for bad in ([[2**31]], [[-2**63 - 1]]):
        with pytest.raises(OverflowError):
            keras_pad(bad, dtype="int32" if bad[0][0] > 0 else "int64")
        with pytest.raises(OverflowError):
            pad_sequences(bad, dtype="int32" if bad[0][0] > 0 else "int64")
    with pytest.raises(ValueError, match=r"\[pad_sequences\] shape of sample"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])
    with pytest.raises(ValueError, match=r"\[pad_sequences\] shape of sample"):
        pad_sequences([[1, 2], [[1, 2]]])
    with pytest.raises(ValueError, match=r"\[pad_sequences\] sequences must be a list of sequences.*position 1"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match=r"\[pad_sequences\] sequences must be a list"):
        pad_sequences(x for x in [[1]])
    with pytest.raises(ValueError, match=r'\[pad_sequences\] padding must be "pre" or "post"'):
        pad_sequences([[1]], padding="mid")
    with pytest.raises(ValueError, match=r'\[pad_sequences\] truncating must be "pre" or "post"'):
        pad_sequences([[1]], truncating="both")
    with pytest.raises(ValueError, match=r"\[pad_sequences\] maxlen"):
        pad_sequences([[1]], maxlen=-1)
    with pytest.raises(ValueError, match=r"\[pad_sequences\] maxlen"):
        pad_sequences([[1]], maxlen=2.0)
    with pytest.raises(ValueError, match=r"\[pad_sequences\] dtype int32 is not compatible"):
        pad_sequences([[1]], value="x")
    with pytest.raises(ValueError, match=r"\[pad_sequences\] sequences is empty"):
        pad_sequences([])
    with pytest.raises(TypeError, match=r"\[pad_sequences\] dtype"):
        pad_sequences([[1]], dtype="no-such-dtype")


def test_pad_small_edges():
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    np.testing.assert_array_equal(pad_sequences([[1, 2]], maxlen=0), np.zeros((1, 0), np.int32))
    np.testing.assert_array_equal(pad_sequences([[], []]), np.zeros((2, 0), np.int32))
    assert utils.pad_sequences is pad_sequences
    # a row that needs NumPy after the compiled pass wrote part of it is padded afresh
    np.testing.assert_array_equal(pad_sequences([[1, 2, 3.5]], maxlen=4, value=9), [[9, 1, 2, 3]])


# --------------------------------------------------------------------------------------------
# windows
# --------------------------------------------------------------------------------------------


def plain_windows(s, window, horizon, stride):
    xs, ys = [], []
    i = 0
    while i + window + horizon - 1 < len(s):
        xs.append(s[i:i + window])
        ys.append(s[i + window + horizon - 1])
        i += stride
    return xs, ys


@settings(max_examples=150)
@given(T=st.integers(0, 40), F=st.sampled_from([None, 1, 3]), window=st.integers(1, 9),
       horizon=st.integers(1, 5), stride=st.integers(1, 7),
       dtype=st.sampled_from(["int8", "int32", "float32", "float64", "complex64", "bool"]),
       strided=st.booleans())
def test_windows_match_definition(T, F, window, horizon, stride, dtype, strided):
    shape = (T,) if F is None else (T, F)
    base = (np.arange(2 * T * (F or 1)) % 7).astype(dtype).reshape((2 * T,) + shape[1:])
    s = base[::2] if strided else base[:T]  # non-contiguous input when strided
    before = s.copy()
    x, y = make_windows(s, window, horizon=horizon, stride=stride)
    xs, ys = plain_windows(s, window, horizon, stride)
    n = len(xs)
    assert n == max(0, (T - window - horizon) // stride + 1)
    assert x.shape == (n, window) + shape[1:] and y.shape == (n,) + shape[1:]
    assert x.dtype == s.dtype and y.dtype == s.dtype
    if n:
        np.testing.assert_array_equal(x, np.stack(xs))
        np.testing.assert_array_equal(y, np.stack(ys))
    np.testing.assert_array_equal(s, before)
    assert not np.shares_memory(x, s)


def test_windows_lists_and_errors():
    x, y = make_windows([1.0, 2.0, 3.0, 4.0], 2)
    np.testing.assert_array_equal(x, [[1, 2], [2, 3]])
    np.testing.assert_array_equal(y, [3, 4])
    x, y = make_windows(np.arange(10), 3, horizon=2, stride=3)
    np.testing.assert_array_equal(x, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(y, [4, 7])
    for kw in (dict(window=0), dict(window=2, horizon=0), dict(window=2, stride=-1),
               dict(window=2.0), dict(window=True)):
        with pytest.raises(ValueError, match=r"\[make_windows\]"):
            make_windows(np.arange(5), **kw)
    with pytest.raises(ValueError, match=r"\[make_windows\] series must be \(T,\) or \(T, F\)"):
        make_windows(np.zeros((3, 2, 2)), 1)
    with pytest.raises(TypeError, match=r"\[make_windows\] series must hold numbers"):
        make_windows(np.array(["a", "b"]), 1)
