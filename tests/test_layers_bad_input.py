"""Layers called eagerly on things that are not numeric arrays: a TypeError naming the layer,
never an AttributeError from inside; nested lists of numbers are taken as arrays (as Keras does)."""

import numpy as np
import pytest

from pyseq import layers


def _layers():
    return [layers.Dropout(0.5, name="drop"), layers.Activation("relu", name="act"),
            layers.Dense(2, name="dense"), layers.LayerNormalization(name="norm"),
            layers.BatchNormalization(name="bn")]


@pytest.mark.parametrize("bad", ["text", None, np.array(["a", "b"]), np.ones((2, 3), complex)])
@pytest.mark.parametrize("index", range(5))
def test_non_numeric_input_names_the_layer(bad, index):
    layer = _layers()[index]
    with pytest.raises(TypeError, match=rf"\[{layer.name}\]"):
        layer(bad, training=True)


@pytest.mark.parametrize("index", range(5))
def test_nested_list_is_an_array(index):
    layer = _layers()[index]
    rows = [[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]
    out = np.asarray(layer(rows))
    assert out.shape[0] == 2 and np.isfinite(out).all()
    np.testing.assert_array_equal(np.asarray(_layers()[0](rows)), np.asarray(rows, np.float32))


@pytest.mark.parametrize("make", [
    lambda bad: layers.LayerNormalization(epsilon=bad, name="ln"),
    lambda bad: layers.RMSNormalization(epsilon=bad, name="rms"),
    lambda bad: layers.BatchNormalization(epsilon=bad, name="bn"),
    lambda bad: layers.BatchNormalization(momentum=bad, name="bn"),
    lambda bad: layers.Attention(dropout=bad),
    lambda bad: layers.AdditiveAttention(dropout=bad),
    lambda bad: layers.MultiHeadAttention(2, 3, dropout=bad),
])
@pytest.mark.parametrize("bad", [None, "0.1", [0.1], True])
def test_non_number_arguments_name_the_layer(make, bad):
    with pytest.raises(TypeError, match=r"^\[\w+\] (epsilon|momentum|dropout) must be a number, got"):
        make(bad)


@pytest.mark.parametrize("make", [lambda s: layers.Dropout(0.5, noise_shape=s, name="drop"),
                                  lambda s: layers.AlphaDropout(0.5, noise_shape=s, name="alpha")])
@pytest.mark.parametrize("bad", [3, 1.5, "ab"])
def test_noise_shape_must_be_a_tuple(make, bad):
    with pytest.raises(TypeError, match=r"^\[(drop|alpha)\] noise_shape must be a tuple"):
        make(bad)
