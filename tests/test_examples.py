"""The examples in examples/ run end to end at a tiny size (a few seconds each), so they cannot
rot: each main() trains its models, prints its metric and returns it."""

import importlib.util
import math
import os

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_char_lm(capsys):
    char_lm = load_example("char_lm")
    r = char_lm.main(["--chars", "4000", "--epochs", "2", "--units", "16", "--embedding", "8",
                      "--generate", "25", "--start", "The island", "--verbose", "1"])
    out = capsys.readouterr().out
    assert "━" in out                                    # the progress bar was drawn
    assert len(r["loss"]) == 2 and r["loss"][1] < r["loss"][0]
    assert r["val_loss"] < math.log(80)                  # better than a uniform guess
    assert set(r["samples"]) == set(char_lm.TEMPERATURES)
    for s in r["samples"].values():
        assert s.startswith("The island") and len(s) == len("The island") + 25
    assert "temperature 1.2" in out and "final: val_loss" in out


def test_char_lm_windows_are_shifted_text():
    char_lm = load_example("char_lm")
    x, y, chars = char_lm.make_dataset(1000, 7)
    assert len(chars) == 80 and x.shape[1] == char_lm.SEQ_LEN and x.dtype == np.int32
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(x[1, :7], x[0, 7:14])  # stride 7
    text = "".join(chars[i] for i in x[0])
    assert text.startswith("THE MYSTERIOUS ISLAND")


def test_translate(capsys):
    translate = load_example("translate")
    r = translate.main(["--pairs", "160", "--epochs", "2", "--units", "16", "--embedding", "8",
                        "--max-ko", "10", "--show", "1", "--verbose", "2"])
    assert set(r) == {"encoder-decoder", "encoder-decoder + attention"}
    for v in r.values():
        assert 0.0 <= v["token_accuracy"] <= 1.0 and np.isfinite(v["loss"])
    assert "held-out token accuracy" in capsys.readouterr().out


def test_translate_token_accuracy_and_vocab():
    translate = load_example("translate")
    v = translate.CharVocab(["ab", "ba"])
    ids = v.encode(["ab"], 4, start=True, end=True)
    assert ids.tolist() == [[translate.START, v.index["a"], v.index["b"], translate.END]]
    assert v.decode(ids[0, 1:]) == "ab"
    ref = np.array([[3, 4, 2, 0], [5, 2, 0, 0]])
    pred = np.array([[3, 9, 2, 7], [5, 2, 0, 0]])
    assert translate.token_accuracy(pred, ref) == pytest.approx(4 / 5)


def test_forecast(capsys):
    forecast = load_example("forecast")
    r = forecast.main(["--epochs", "1", "--units", "4", "--length", "300", "--days", "730",
                       "--verbose", "2"])
    for series in ("sine", "temperatures"):
        assert set(r[series]) == {"naive", *forecast.MODELS}
        assert all(np.isfinite(v) and v > 0 for v in r[series].values())
    # the naive forecast of the temperatures, computed independently: tomorrow = today
    t = forecast.temperature_series(730)
    y = t[30:]                                  # window 30: y[i] = t[i+30] follows t[i+29]
    split = int((len(t) - 30) * 0.8)
    assert r["temperatures"]["naive"] == pytest.approx(
        np.mean(np.abs(t[29:-1][split:] - y[split:])), rel=1e-4)
    assert "held-out MAE" in capsys.readouterr().out


def test_classify(capsys):
    classify = load_example("classify")
    r = classify.main(["--epochs", "1", "--length", "24", "--dim", "8", "--num-words", "300",
                       "--verbose", "0"])
    assert set(r) == {"book"} and set(r["book"]) == set(classify.MODELS)
    assert all(0.0 <= a <= 1.0 for a in r["book"].values())
    assert "IMDb skipped" in capsys.readouterr().out


def test_classify_book_parts_and_missing_imdb(tmp_path):
    classify = load_example("classify")
    parts = classify.book_parts()
    assert len(parts) == 3 and all(p.startswith("Chapter 1\n") for p in parts)
    assert "ABANDONED" not in parts[1][:2000] and "PART" not in parts[2][:20]
    with pytest.raises(FileNotFoundError, match="imdb"):
        classify.imdb_task(str(tmp_path / "imdb.npz"), 20, 100, 10, 1)


def test_classify_with_an_imdb_file(tmp_path):
    # a tiny file in Keras's imdb.npz format (object arrays of lists of word indices)
    rng = np.random.default_rng(0)

    def reviews(n):
        out = np.empty(n, dtype=object)
        for i in range(n):
            out[i] = rng.integers(1, 200, size=int(rng.integers(5, 40))).tolist()
        return out
    np.savez(tmp_path / "imdb.npz", x_train=reviews(48), y_train=rng.integers(0, 2, 48),
             x_test=reviews(20), y_test=rng.integers(0, 2, 20))
    classify = load_example("classify")
    r = classify.main(["--epochs", "1", "--length", "24", "--dim", "8", "--num-words", "300",
                       "--imdb-length", "30", "--imdb-samples", "0", "--verbose", "0",
                       "--imdb", str(tmp_path / "imdb.npz")])
    assert set(r) == {"book", "imdb"} and set(r["imdb"]) == set(classify.MODELS)
    assert all(0.0 <= a <= 1.0 for a in r["imdb"].values())
