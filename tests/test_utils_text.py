"""pyseq.utils: to_categorical (against Keras 3) and sample_from_logits."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyseq.utils import sample_from_logits, to_categorical


@pytest.fixture(scope="session")
def keras_to_categorical():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    return keras.utils.to_categorical


@settings(max_examples=80)
@given(shape=st.sampled_from([(0,), (1,), (5,), (4, 1), (2, 3), (2, 3, 1), (1, 1)]),
       extra=st.integers(0, 3), data=st.data())
def test_to_categorical_matches_keras(keras_to_categorical, shape, extra, data):
    n = int(np.prod(shape))
    labels = np.array(data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=np.int64)
    y = labels.reshape(shape)
    num_classes = None if n and data.draw(st.booleans()) else (labels.max(initial=0) + 1 + extra)
    got = to_categorical(y, num_classes)
    want = keras_to_categorical(y, num_classes)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert got.sum() == n


def test_to_categorical_cases_and_errors(keras_to_categorical):
    for y in ([0, 2, 1], [[1], [0]], np.array([1.0, 0.0]), (3,)):
        np.testing.assert_array_equal(to_categorical(y), keras_to_categorical(y))
    np.testing.assert_array_equal(to_categorical([1, 0], num_classes=3), [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"\[to_categorical\] labels must lie in \[0, 2\)"):
        to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match=r"\[to_categorical\] labels must lie"):
        to_categorical([-1, 0])
    with pytest.raises(ValueError, match=r"\[to_categorical\] y must hold integer class labels"):
        to_categorical([0.5])
    with pytest.raises(TypeError, match=r"\[to_categorical\] y must hold integer class labels"):
        to_categorical(["a"])
    with pytest.raises(TypeError, match=r"\[to_categorical\]"):
        to_categorical([True, False])
    with pytest.raises(ValueError, match=r"\[to_categorical\] num_classes"):
        to_categorical([0], num_classes=-2)
    with pytest.raises(ValueError, match=r"\[to_categorical\] y is empty"):
        to_categorical([])


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.parametrize("temperature", [0.2, 0.5, 1.0, 1.2])
def test_sampling_follows_tempered_distribution(temperature):
    logits = np.array([2.0, 1.0, 0.1, -1.0, 0.5])
    n = 40_000
    draws = sample_from_logits(np.tile(logits, (n, 1)), temperature, seed=3)
    assert draws.shape == (n,) and draws.dtype == np.int64
    freq = np.bincount(draws, minlength=5) / n
    p = softmax(logits / temperature)
    # 5 standard deviations of a binomial proportion
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_probabilities_mode_is_the_classic_formula():
    probs = np.array([0.5, 0.3, 0.2, 0.0])
    for t in (0.5, 1.0, 2.0):
        a = sample_from_logits(np.tile(probs, (2000, 1)), t, from_logits=False, seed=11)
        with np.errstate(divide="ignore"):
            b = sample_from_logits(np.tile(np.log(probs), (2000, 1)), t, seed=11)
        np.testing.assert_array_equal(a, b)  # p^(1/T) normalised == softmax(log p / T)
        assert not np.any(a == 3)  # a zero-probability class is never drawn
    n = 40_000
    draws = sample_from_logits(np.tile(probs, (n, 1)), 0.5, from_logits=False, seed=5)
    p = probs ** 2 / np.sum(probs ** 2)
    freq = np.bincount(draws, minlength=4) / n
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_sampling_seed_rng_greedy_and_shapes():
    z = np.random.default_rng(0).standard_normal((3, 4, 7))
    a = sample_from_logits(z, 0.8, seed=42)
    np.testing.assert_array_equal(a, sample_from_logits(z, 0.8, seed=42))
    np.testing.assert_array_equal(a, sample_from_logits(z, 0.8, rng=np.random.default_rng(42)))
    assert a.shape == (3, 4)
    np.testing.assert_array_equal(sample_from_logits(z, 0), np.argmax(z, axis=-1))
    one = sample_from_logits([0.0, 5.0, -np.inf], 1.0, seed=1)
    assert isinstance(one, int) and one in (0, 1)
    assert sample_from_logits([3.0], 2.0, seed=0) == 0
    before = z.copy()
    sample_from_logits(z, 1.0, seed=0)
    np.testing.assert_array_equal(z, before)


def test_sampling_errors():
    with pytest.raises(ValueError, match=r"\[sample_from_logits\] give seed or rng"):
        sample_from_logits([1.0], seed=1, rng=np.random.default_rng())
    with pytest.raises(TypeError, match=r"\[sample_from_logits\] rng"):
        sample_from_logits([1.0], rng=np.random.RandomState(0))
    for t in (-1.0, np.nan, np.inf, "hot", True):
        with pytest.raises(ValueError, match=r"\[sample_from_logits\] temperature"):
            sample_from_logits([1.0, 2.0], t)
    with pytest.raises(ValueError, match=r"\[sample_from_logits\] logits_or_probs must be"):
        sample_from_logits(3.0)
    with pytest.raises(ValueError, match=r"\[sample_from_logits\] logits_or_probs must be"):
        sample_from_logits(np.zeros((2, 0)))
    with pytest.raises(ValueError, match=r"\[sample_from_logits\] logits must not be NaN"):
        sample_from_logits([np.nan, 1.0])
    with pytest.raises(ValueError, match=r"\[sample_from_logits\] probabilities must be finite"):
        sample_from_logits([-0.1, 1.1], from_logits=False)
    with pytest.raises(ValueError, match=r"\[sample_from_logits\] probabilities must not be all zero"):
        sample_from_logits([0.0, 0.0], from_logits=False)
    with pytest.raises(ValueError, match=r"\[sample_from_logits\] a row has no class"):
        sample_from_logits([-np.inf, -np.inf])
