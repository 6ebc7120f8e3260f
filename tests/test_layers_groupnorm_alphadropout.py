"""GroupNormalization and AlphaDropout (ported from wip-layers2's test_layers_more.py, with
GroupNormalization's regularizers and constraints). Keras comparisons skip without Keras; the
reference, finite-difference and behaviour tests need NumPy only."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pyseq
from pyseq import constraints as C
from pyseq import layers, models
from pyseq import regularizers as R

from keras_parity import keras_parity
from layer_checks import KERAS_WARNINGS, check_layer_gradients, keras_or_skip

pytestmark = KERAS_WARNINGS


def _x(shape, seed=0, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _mask(B, T, seed=3):
    m = np.random.default_rng(seed).random((B, T)) > 0.3
    m[0, 0] = False
    return m


GROUPNORM = [
    ("GroupNormalization", {"groups": 2}, (2, 5, 4)),
    ("GroupNormalization", {"groups": 3, "epsilon": 1e-5}, (1, 1, 9)),
    ("GroupNormalization", {"groups": -1, "center": False}, (2, 3, 4)),
    ("GroupNormalization", {"groups": 1, "scale": False}, (3, 4, 2)),
    ("GroupNormalization", {"groups": 2, "axis": 1}, (2, 6, 3)),
    ("GroupNormalization", {"groups": 2, "center": False, "scale": False}, (2, 4, 4)),
    ("GroupNormalization", {"groups": 3}, (3, 6)),
    ("GroupNormalization", {"groups": 2, "axis": 2}, (2, 3, 4, 2)),
]
SINGLE = GROUPNORM + [("AlphaDropout", {"rate": 0.3}, (2, 5, 3))]


# -- Keras parity (skips without Keras) -------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_keras_parity(dtype):
    # Keras's float64 GroupNormalization is only float32-accurate (against a float64 torch
    # formula its outputs differ by ~1e-6 and its input gradients by ~1e-5), so its gradients
    # get a looser bound here; pyseq's float64 accuracy is checked by the reference and the
    # finite-difference tests below.
    grad_scale = 10.0 if dtype == "float64" else 1.0
    for i, (name, kwargs, shape) in enumerate(SINGLE):
        x = _x(shape, seed=i, dtype=dtype)
        keras_parity(name, kwargs, x, grad_scale=grad_scale)
        if len(shape) == 3 and dtype == "float32":  # a (B, T) mask is passed on unchanged
            keras_parity(name, kwargs, x, masks=_mask(shape[0], shape[1]))


def test_keras_configs_match():
    keras = keras_or_skip()
    for kw in ({}, {"groups": 4, "epsilon": 1e-5, "center": False},
               {"gamma_regularizer": "l2", "beta_constraint": "non_neg"}):
        ours = layers.GroupNormalization(**kw).get_config()
        theirs = keras.layers.GroupNormalization(**kw).get_config()
        assert set(theirs) - {"beta_initializer", "gamma_initializer"} <= set(ours), kw
        for key in ("groups", "axis", "epsilon", "center", "scale"):
            assert ours[key] == theirs[key], (kw, key)
        for key in ("gamma_regularizer", "beta_regularizer", "gamma_constraint",
                    "beta_constraint"):
            a, b = ours[key], theirs[key]
            assert (a is None) == (b is None), (kw, key)
            if a is not None:
                assert a["class_name"] == b["class_name"], (kw, key)
    ours = layers.AlphaDropout(0.2, (None, 1, 3), seed=4).get_config()
    theirs = keras.layers.AlphaDropout(0.2, (None, 1, 3), seed=4).get_config()
    for key in ("rate", "seed"):
        assert ours[key] == theirs[key], key
    assert tuple(ours["noise_shape"]) == tuple(theirs["noise_shape"])


# -- a float64 reference, by loops (NumPy only) -------------------------------------------------
def _group_norm_reference(x, groups, axis, epsilon, gamma, beta):
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    C = x.shape[-1]
    out = np.empty_like(x)
    per = C // groups
    for b in range(x.shape[0]):
        for g in range(groups):
            part = x[b, ..., g * per:(g + 1) * per]
            mean = part.sum() / part.size
            var = ((part - mean) ** 2).sum() / part.size
            out[b, ..., g * per:(g + 1) * per] = (part - mean) / np.sqrt(var + epsilon)
    if gamma is not None:
        out = out * gamma
    if beta is not None:
        out = out + beta
    return np.moveaxis(out, -1, axis)


@settings(max_examples=60)
@given(st.integers(1, 4), st.lists(st.integers(1, 5), min_size=0, max_size=2),
       st.integers(1, 4), st.integers(1, 3), st.booleans(), st.booleans(),
       st.sampled_from(["float32", "float64"]), st.booleans(), st.integers(0, 2 ** 16))
def test_matches_reference(B, others, groups, per, center, scale, dtype, strided, seed):
    C = groups * per
    pos = len(others) // 2 + 1  # the channel axis somewhere among the non-batch axes
    shape = (B, *others[:pos - 1], C, *others[pos - 1:])
    axis = pos - len(shape) if seed % 2 else pos
    rng = np.random.default_rng(seed)
    big = (3 + 5 * rng.standard_normal((2 * B,) + shape[1:])).astype(dtype)
    x = big[::2] if strided else np.ascontiguousarray(big[:B])
    before = x.copy()
    layer = layers.GroupNormalization(groups, axis=axis, center=center, scale=scale,
                                      epsilon=1e-3, dtype=dtype)
    layer.build(x.shape)
    ws = [rng.standard_normal(w.shape).astype(dtype) for w in layer.get_weights()]
    layer.set_weights(ws)
    gamma = ws[0] if scale else None
    beta = ws[-1] if center else None
    y = layer(x)
    assert y.dtype == np.dtype(dtype) and y.shape == x.shape
    np.testing.assert_array_equal(x, before)  # inputs are not modified
    ref = _group_norm_reference(x, groups, axis, 1e-3, gamma, beta)
    atol, rtol = (1e-5, 1e-5) if dtype == "float32" else (1e-12, 1e-12)
    assert np.all(np.abs(y - ref) <= atol + rtol * np.abs(ref))


# -- float64 finite differences (NumPy only) ----------------------------------------------------
@pytest.mark.parametrize("name,kwargs,shape", GROUPNORM)
def test_gradients(name, kwargs, shape):
    layer = getattr(layers, name)(**kwargs, dtype="float64")
    x = _x(shape, seed=7)
    layer(x)
    rng = np.random.default_rng(2)
    layer.set_weights([1 + 0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("kwargs", [{"rate": 0.3}, {"rate": 0.5, "noise_shape": (None, 1, 3)}])
def test_alpha_dropout(kwargs):
    x = _x((4, 50, 3))
    layer = layers.AlphaDropout(**kwargs, seed=5, dtype="float64")
    np.testing.assert_array_equal(layer(x), x)  # identity at inference
    y1 = layer(x, training=True)
    assert not np.allclose(y1, x)
    again = layers.AlphaDropout(**kwargs, seed=5, dtype="float64")
    np.testing.assert_array_equal(again(x, training=True), y1)  # seeded: the same draws
    assert not np.array_equal(layer(x, training=True), y1)  # and fresh draws each call
    # the backward of the draw made in forward (the layer's own generator is advanced by each
    # forward, so the finite differences below run on a fixed copy of it)
    state = layer._rng.bit_generator.state
    out, cache = layer.forward(x, training=True)
    d = _x(x.shape, seed=9)
    dx = layer.backward(cache, d)[0]["inputs"]
    eps = 1e-6
    for idx in [(0, 0, 0), (3, 49, 2), (1, 17, 1)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        layer._rng.bit_generator.state = state
        up = np.sum(layer.forward(xp, training=True)[0] * d)
        layer._rng.bit_generator.state = state
        down = np.sum(layer.forward(xm, training=True)[0] * d)
        assert abs((up - down) / (2 * eps) - dx[idx]) < 1e-6
    # dropped entries take the one constant a*alpha_p + b, kept ones a*x + b
    dropped = cache == 0
    assert dropped.any() and (~dropped).any()
    assert np.ptp(out[dropped]) < 1e-12
    if "noise_shape" in kwargs:  # (None, 1, 3): one keep/drop draw per example and channel
        assert np.all(cache == cache[:, :1]) and not np.all(cache == cache[:1])


def test_alpha_dropout_statistics():
    z = _x((400, 100), dtype="float32")
    y = layers.AlphaDropout(0.2, seed=1)(z, training=True)  # keeps zero mean, unit variance
    assert y.dtype == np.float32
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    counts = np.unique(y, return_counts=True)[1]  # the dropped take one value
    assert abs(counts.max() / y.size - 0.2) < 0.01 and np.sort(counts)[-2] < 10
    np.testing.assert_array_equal(layers.AlphaDropout(0.0)(z, training=True), z)


# -- configs, the functional API, regularizers and constraints ---------------------------------
def test_configs_and_defaults():
    g = layers.GroupNormalization().get_config()
    assert (g["groups"], g["epsilon"], g["axis"], g["center"], g["scale"]) == \
        (32, 1e-3, -1, True, True)
    assert all(g[k] is None for k in ("beta_regularizer", "gamma_regularizer",
                                      "beta_constraint", "gamma_constraint"))
    assert layers.AlphaDropout(0.1, seed=3).get_config()["seed"] == 3
    assert layers.GroupNormalization().name.startswith("group_normalization")
    assert layers.AlphaDropout(0.1).name.startswith("alpha_dropout")
    assert layers.GroupNormalization().supports_masking
    assert layers.AlphaDropout(0.1).supports_masking


def test_configs_round_trip():
    # type(layer)(**layer.get_config()) is how pyseq clones a layer (Bidirectional does)
    for layer in (layers.AlphaDropout(0.1, (None, 1, 3), 3), layers.AlphaDropout(0.2),
                  layers.GroupNormalization(4, epsilon=1e-5, center=False, dtype="float64"),
                  layers.GroupNormalization(2, axis=1, gamma_regularizer=R.L2(0.1),
                                            beta_constraint="non_neg")):
        config = layer.get_config()
        clone = type(layer)(**config)
        assert clone.get_config() == config, type(layer).__name__


def test_regularizers_and_constraints():
    g = layers.GroupNormalization(2, gamma_regularizer=R.L2(0.3), beta_regularizer=R.L1(0.2),
                                  gamma_constraint="non_neg", beta_constraint=C.MaxNorm(1.0),
                                  activity_regularizer="l1", dtype="float64")
    x = _x((3, 5, 4))
    g(x)
    config = g.get_config()
    assert config["gamma_regularizer"] == R.serialize(R.L2(0.3))
    assert config["beta_constraint"]["class_name"] == "MaxNorm"
    assert config["activity_regularizer"]["class_name"] == "L1"
    assert g.gamma.regularizer is g.gamma_regularizer and g.beta.constraint is g.beta_constraint
    g.gamma.assign(_x(4, seed=1))
    g.beta.assign(_x(4, seed=2))
    losses = g.losses  # the activity penalty of the call, then gamma's and beta's
    assert len(losses) == 3
    np.testing.assert_allclose(losses[1:], [0.3 * np.sum(g.gamma.value ** 2),
                                            0.2 * np.sum(np.abs(g.beta.value))], rtol=1e-12)
    with pytest.raises(ValueError, match=r"\[GroupNormalization\] gamma_constraint"):
        layers.GroupNormalization(gamma_constraint="foo")
    with pytest.raises(ValueError, match=r"\[GroupNormalization\] beta_regularizer"):
        layers.GroupNormalization(beta_regularizer="nope")


def test_model_fits_with_both_and_keeps_the_constraint():
    inp = layers.Input((7, 4))
    h = layers.GroupNormalization(2, gamma_constraint=C.NonNeg(),
                                  beta_regularizer=R.L2(0.01))(inp)
    h = layers.AlphaDropout(0.2, seed=1)(layers.Dense(6, activation="selu")(h))
    norm = layers.GroupNormalization(3, axis=1)  # channels on the time axis
    out = layers.Dense(3)(layers.Flatten()(norm(layers.Permute((2, 1))(h))))
    model = models.Model(inp, out)
    assert model.count_params() == 8 + 30 + 12 + 42 * 3 + 3
    lines = []
    model.summary(print_fn=lines.append)
    assert any("GroupNormalization" in line and "(None, 7, 4)" in line for line in lines)
    assert any("AlphaDropout" in line and "(None, 7, 6)" in line for line in lines)
    gn = model.layers[1]
    gn.gamma.assign(_x(4, seed=3).astype("float32"))
    model.compile(optimizer=pyseq.optimizers.SGD(0.05), loss="mse")
    x, y = _x((8, 7, 4), seed=1, dtype="float32"), _x((8, 3), seed=2, dtype="float32")
    loss0 = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=4, verbose=0)
    assert model.evaluate(x, y, verbose=0) < loss0
    assert np.all(gn.gamma.value >= 0)


def test_mask_passes_through():
    x = layers.Embedding(10, 4, mask_zero=True)(np.array([[1, 0, 2]]))
    for layer in (layers.GroupNormalization(2), layers.AlphaDropout(0.3)):
        np.testing.assert_array_equal(layer(x)._keras_mask, [[True, False, True]])


def test_non_contiguous_inputs():
    x = _x((3, 8, 10), dtype="float32")[:, ::2, 1::2]  # (3, 4, 5), strided on two axes
    for layer in (layers.GroupNormalization(5), layers.GroupNormalization(2, axis=1)):
        np.testing.assert_array_equal(layer(x), layer(np.ascontiguousarray(x)))
    a, b = layers.AlphaDropout(0.4, seed=2), layers.AlphaDropout(0.4, seed=2)
    np.testing.assert_array_equal(a(x, training=True), b(np.ascontiguousarray(x), training=True))


# -- bad arguments and inputs --------------------------------------------------------------------
@pytest.mark.parametrize("make,exc,match", [
    (lambda: layers.AlphaDropout(-0.1), ValueError, r"\[alpha_dropout.*\] rate"),
    (lambda: layers.AlphaDropout(1.0), ValueError, r"\[alpha_dropout.*\] rate"),
    (lambda: layers.AlphaDropout("a"), ValueError, r"\[alpha_dropout.*\] rate"),
    (lambda: layers.AlphaDropout(0.1, seed="s"), TypeError, r"\[alpha_dropout.*\] seed"),
    (lambda: layers.GroupNormalization(0), ValueError, r"\[GroupNormalization\] groups"),
    (lambda: layers.GroupNormalization(2.0), ValueError, r"\[GroupNormalization\] groups"),
    (lambda: layers.GroupNormalization(axis=1.0), TypeError, r"\[GroupNormalization\] axis"),
    (lambda: layers.GroupNormalization(epsilon=-1), ValueError,
     r"\[GroupNormalization\] epsilon"),
    (lambda: layers.GroupNormalization(momentum=0.9), TypeError, r"unexpected argument"),
])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("layer,x,match", [
    (layers.GroupNormalization(4), np.zeros((2, 3, 6)), r"\[GroupNormalization\] the 6 channels"),
    (layers.GroupNormalization(8), np.zeros((2, 3, 6)), r"\[GroupNormalization\] the 6 channels"),
    (layers.GroupNormalization(2, axis=0), np.zeros((2, 3, 6)),
     r"\[GroupNormalization\] axis 0 is not a non-batch axis"),
    (layers.GroupNormalization(2, axis=3), np.zeros((2, 3, 6)),
     r"\[GroupNormalization\] axis 3 is not a non-batch axis"),
    (layers.GroupNormalization(1), np.zeros(3), r"rank"),
])
def test_bad_inputs(layer, x, match):
    with pytest.raises(ValueError, match=match):
        layer(x)


def test_bad_inputs_after_build():
    g = layers.GroupNormalization(2)
    g(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[GroupNormalization\] was built for 4 channels"):
        g(np.zeros((2, 3, 6)))
    g = layers.GroupNormalization(2, center=False, scale=False)
    g(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[GroupNormalization\] the 5 channels must split"):
        g(np.zeros((2, 3, 5)))
    with pytest.raises(TypeError, match=r"\[group_normalization.*numeric"):
        layers.GroupNormalization(1)(np.array([["a"]]))
    a = layers.AlphaDropout(0.5, noise_shape=(None, 2, 1))
    with pytest.raises(ValueError, match=r"\[alpha_dropout.*\] noise_shape .* must broadcast"):
        a(np.zeros((2, 3, 4)), training=True)
    with pytest.raises(ValueError, match=r"\[alpha_dropout.*\] noise_shape .* must have the rank"):
        a(np.zeros((2, 3)), training=True)
