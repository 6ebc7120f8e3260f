"""Seeds as Keras takes them: None or any int, negative ones included; the same seed gives the same
draws; anything else is a TypeError naming the layer (or initializer, or function)."""

import numpy as np
import pytest

from pyseq import initializers, layers, utils

X = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)

RANDOM_LAYERS = {
    "Dropout": (lambda s: layers.Dropout(0.5, seed=s), lambda l: l(X, training=True)),
    "SpatialDropout1D": (lambda s: layers.SpatialDropout1D(0.5, seed=s), lambda l: l(X, training=True)),
    "GaussianNoise": (lambda s: layers.GaussianNoise(0.3, seed=s), lambda l: l(X, training=True)),
    "GaussianDropout": (lambda s: layers.GaussianDropout(0.3, seed=s), lambda l: l(X, training=True)),
    "AlphaDropout": (lambda s: layers.AlphaDropout(0.3, seed=s), lambda l: l(X, training=True)),
    "Attention": (lambda s: layers.Attention(dropout=0.4, seed=s), lambda l: l([X, X], training=True)),
    "AdditiveAttention": (lambda s: layers.AdditiveAttention(use_scale=False, dropout=0.4, seed=s),
                          lambda l: l([X, X], training=True)),
    "MultiHeadAttention": (lambda s: layers.MultiHeadAttention(2, 3, dropout=0.4, seed=s, kernel_initializer=
                                                               initializers.GlorotUniform(seed=1)),
                           lambda l: l(X, X, training=True)),
    "LSTM": (lambda s: layers.LSTM(3, dropout=0.4, seed=s, kernel_initializer=initializers.GlorotUniform(seed=1),
                                   recurrent_initializer=initializers.Orthogonal(seed=2)),
             lambda l: l(X, training=True)),
    "GRU": (lambda s: layers.GRU(3, dropout=0.4, seed=s, kernel_initializer=initializers.GlorotUniform(seed=1),
                                 recurrent_initializer=initializers.Orthogonal(seed=2)),
            lambda l: l(X, training=True)),
    "SimpleRNN": (lambda s: layers.SimpleRNN(3, dropout=0.4, seed=s,
                                             kernel_initializer=initializers.GlorotUniform(seed=1),
                                             recurrent_initializer=initializers.Orthogonal(seed=2)),
                  lambda l: l(X, training=True)),
}


@pytest.mark.parametrize("name", sorted(RANDOM_LAYERS))
@pytest.mark.parametrize("seed", [-3, -(2**63), 0, 7, np.int64(-5)])
def test_any_int_seed_gives_reproducible_draws(name, seed):
    make, call = RANDOM_LAYERS[name]
    first, second = (np.asarray(call(make(seed))) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    assert np.isfinite(first).all()


@pytest.mark.parametrize("name", sorted(RANDOM_LAYERS))
def test_negative_seed_is_not_its_absolute_value(name):
    make, call = RANDOM_LAYERS[name]
    assert not np.array_equal(np.asarray(call(make(-3))), np.asarray(call(make(3))))


@pytest.mark.parametrize("name", sorted(RANDOM_LAYERS))
@pytest.mark.parametrize("bad", [1.5, True, "3", [1]])
def test_non_int_seed_names_the_layer(name, bad):
    make, _ = RANDOM_LAYERS[name]
    with pytest.raises(TypeError, match=r"^\[\w+\] seed must be an int or None"):
        make(bad)


def test_initializer_and_sampler_seeds():
    a, b = (initializers.GlorotUniform(seed=-1)((4, 3)) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match=r"\[GlorotUniform\] seed"):
        initializers.GlorotUniform(seed=2.0)
    logits = np.zeros((50, 6))
    np.testing.assert_array_equal(utils.sample_from_logits(logits, seed=-9), utils.sample_from_logits(logits, seed=-9))
    with pytest.raises(TypeError, match=r"\[sample_from_logits\] seed"):
        utils.sample_from_logits(logits, seed=0.5)
