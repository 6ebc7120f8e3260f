"""pyseq.datasets: Keras-format IMDb/Reuters loaders on small files written here (compared with
Keras's own loaders on the same files when Keras is installed), and the bundled real data."""

import gzip
import json
import os

import numpy as np
import pytest

from pyseq.datasets import air_passengers, imdb, kor_eng, mysterious_island, reuters, temperatures


def ragged(rng, n, vocab, max_len=12):
    """An object array of n Python lists of ints in [1, vocab), as Keras stores them."""
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = rng.integers(1, vocab, size=int(rng.integers(1, max_len))).tolist()
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("keras_datasets")
    rng = np.random.default_rng(0)
    np.savez(d / "imdb.npz", x_train=ragged(rng, 40, 30), y_train=rng.integers(0, 2, 40),
             x_test=ragged(rng, 30, 30), y_test=rng.integers(0, 2, 30))
    np.savez(d / "reuters.npz", x=ragged(rng, 50, 25), y=rng.integers(0, 46, 50))
    index = {"the": 1, "and": 2, "film": 3}
    (d / "imdb_word_index.json").write_text(json.dumps(index))
    (d / "reuters_word_index.json").write_text(json.dumps(index))
    return d


OPTIONS = [
    {},
    dict(num_words=10),
    dict(num_words=10, skip_top=4, oov_char=None),
    dict(maxlen=8),
    dict(maxlen=8, num_words=12, skip_top=2),
    dict(start_char=None, index_from=0),
    dict(start_char=None, index_from=2, oov_char=None, num_words=9),
    dict(seed=7, index_from=5, oov_char=3),
]


def same(a, b):
    (xa, ya), (xta, yta) = a
    (xb, yb), (xtb, ytb) = b
    assert [list(map(int, x)) for x in xa] == [list(map(int, x)) for x in xb]
    assert [list(map(int, x)) for x in xta] == [list(map(int, x)) for x in xtb]
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(yta, ytb)


@pytest.fixture(scope="module")
def keras_datasets():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from keras.src.datasets import imdb as k_imdb
    from keras.src.datasets import reuters as k_reuters
    return k_imdb, k_reuters


@pytest.mark.parametrize("kw", OPTIONS)
def test_imdb_matches_keras(files, keras_datasets, monkeypatch, kw):
    k_imdb, _ = keras_datasets
    # Keras's loader fetches through get_file (hash check, download): hand it the local file
    monkeypatch.setattr(k_imdb, "get_file", lambda fname, **_: fname)
    path = str(files / "imdb.npz")
    got = imdb.load_data(path=path, **kw)
    same(got, k_imdb.load_data(path=path, **kw))
    (x, y), (xt, yt) = got
    assert x.dtype == object and x.ndim == 1 and len(x) == len(y)


@pytest.mark.parametrize("kw", OPTIONS + [dict(test_split=0.5), dict(test_split=0.0, maxlen=10)])
def test_reuters_matches_keras(files, keras_datasets, monkeypatch, kw):
    _, k_reuters = keras_datasets
    monkeypatch.setattr(k_reuters, "get_file", lambda fname, **_: fname)
    path = str(files / "reuters.npz")
    same(reuters.load_data(path=path, **kw), k_reuters.load_data(path=path, **kw))


def test_imdb_processing_by_hand(files):
    with np.load(files / "imdb.npz", allow_pickle=True) as f:
        x_train = f["x_train"]
    order = np.arange(len(x_train))
    np.random.RandomState(113).shuffle(order)
    (x, _), _ = imdb.load_data(path=str(files / "imdb.npz"), num_words=10, skip_top=5)
    for got, raw in zip(x, x_train[order]):
        marked = [1] + [w + 3 for w in raw]  # the start mark is cut by skip_top too, as Keras
        assert got == [w if 5 <= w < 10 else 2 for w in marked]
    (x, _), (xt, _) = imdb.load_data(path=str(files / "imdb.npz"), maxlen=6)
    assert all(len(s) < 6 for s in list(x) + list(xt))
    # equal-length reviews still give a 1-D object array of lists
    d = files / "same_len"
    d.mkdir(exist_ok=True)
    xs = np.empty(2, dtype=object)
    xs[0], xs[1] = [1, 2], [3, 4]
    np.savez(d / "imdb.npz", x_train=xs, y_train=np.array([0, 1]), x_test=xs, y_test=np.array([1, 0]))
    (x, _), _ = imdb.load_data(path=str(d / "imdb.npz"))
    assert x.shape == (2,) and isinstance(x[0], list)


def test_word_index_and_default_location(files, monkeypatch, tmp_path):
    assert imdb.get_word_index(path=str(files / "imdb_word_index.json")) == {"the": 1, "and": 2, "film": 3}
    assert reuters.get_word_index(path=str(files / "reuters_word_index.json"))["film"] == 3
    assert len(reuters.get_label_names()) == 46
    # a bare file name is looked up in Keras's cache folder ($KERAS_HOME/datasets)
    home = tmp_path / "kh"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "imdb_word_index.json").write_text('{"x": 1}')
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert imdb.get_word_index() == {"x": 1}
    with pytest.raises(FileNotFoundError, match=r"\[imdb.load_data\] no file at .*imdb.npz.*put it at .*kh/datasets/imdb.npz"):
        imdb.load_data()
    with pytest.raises(FileNotFoundError, match=r"\[reuters.get_word_index\].*reuters_word_index.json"):
        reuters.get_word_index()
    with pytest.raises(FileNotFoundError, match=r"\[reuters.load_data\] no file at '/nowhere/r.npz'"):
        reuters.load_data(path="/nowhere/r.npz")


def test_loader_errors(files, tmp_path):
    path = str(files / "imdb.npz")
    for kw in (dict(num_words=-1), dict(skip_top=None), dict(maxlen=2.5), dict(index_from=True)):
        with pytest.raises(ValueError, match=r"\[imdb.load_data\]"):
            imdb.load_data(path=path, **kw)
    with pytest.raises(ValueError, match=r"\[imdb.load_data\] after keeping the sequences shorter"):
        imdb.load_data(path=path, maxlen=1)
    with pytest.raises(ValueError, match=r"\[reuters.load_data\] test_split"):
        reuters.load_data(path=str(files / "reuters.npz"), test_split=1.5)
    with pytest.raises(ValueError, match=r"\[reuters.load_data\] .* lacks the arrays \['x', 'y'\]"):
        reuters.load_data(path=path)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"\[imdb.load_data\] .* not a readable .npz"):
        imdb.load_data(path=str(junk))
    with pytest.raises(TypeError, match=r"\[imdb.load_data\] path"):
        imdb.load_data(path=3)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_npz_loading_refuses_arbitrary_pickles(tmp_path):
    # Keras's .npz hold object arrays (pickles): only arrays and builtin containers are rebuilt
    evil = np.empty(1, dtype=object)
    evil[0] = Evil()
    np.savez(tmp_path / "imdb.npz", x_train=evil, y_train=np.zeros(1), x_test=evil, y_test=np.zeros(1))
    with pytest.raises(ValueError, match=r"\[imdb.load_data\] .* refuses to unpickle .*system"):
        imdb.load_data(path=str(tmp_path / "imdb.npz"))


# --------------------------------------------------------------------------------------------
# bundled data (counts from the shared data folder's README)
# --------------------------------------------------------------------------------------------


def test_mysterious_island():
    text = mysterious_island.load_text()
    assert len(text) == 1_112_350
    assert len(set(text)) == 80
    assert text.startswith("THE MYSTERIOUS ISLAND")
    assert "End of the Project Gutenberg" not in text and "\ufeff" not in text
    assert text.rstrip().endswith("Captain Nemo.")
    raw = mysterious_island.load_raw()
    assert len(raw) == 1_131_713 - 1  # the whole file, less its byte-order mark
    assert "Project Gutenberg" in raw[-20000:]  # the licence ships with the book


def test_kor_eng():
    eng, kor = kor_eng.load_pairs()
    assert len(eng) == len(kor) == 3798
    assert (eng[0], kor[0]) == ("Go.", "가.")
    assert all(e and k for e, k in zip(eng, kor))
    attributions = kor_eng.load_attributions()
    assert len(attributions) == 3798 and all(a.startswith("CC-BY 2.0 (France) Attribution: tatoeba.org") for a in attributions)


def test_temperatures():
    dates, values = temperatures.load_data()
    assert len(dates) == len(values) == 3650
    assert values.dtype == np.float32 and dates.dtype == np.dtype("datetime64[D]")
    assert str(dates[0]) == "1981-01-01" and str(dates[-1]) == "1990-12-31"
    assert values[0] == np.float32(20.7) and values[-1] == np.float32(13.0)
    assert 0 <= values.min() and values.max() < 30


def test_air_passengers():
    dates, values = air_passengers.load_data()
    assert len(values) == 144 and values.dtype == np.float32
    assert str(dates[0]) == "1949-01-01" and str(dates[-1]) == "1960-12-01"
    assert (values[0], values[-1]) == (112, 432)


def test_bundled_files_carry_provenance():
    from pyseq.datasets import _files
    names = sorted(os.listdir(_files.DATA_DIR))
    assert "PROVENANCE.md" in names
    for name in names:
        if name.endswith(".gz"):
            with gzip.open(os.path.join(_files.DATA_DIR, name)) as fh:
                assert fh.read(1)
    with open(os.path.join(_files.DATA_DIR, "PROVENANCE.md"), encoding="utf-8") as fh:
        note = fh.read()
    for needle in ("Project Gutenberg", "CC-BY 2.0", "Bureau of Meteorology", "Box", "Tatoeba"):
        assert needle in note
