"""Core, merging, reshaping, embedding, normalization and wrapper layers: float64 finite
differences of backward, every argument, and Keras 3 (torch backend) for parameter counts,
weight shapes/order and forward outputs with the same weights."""

import numpy as np
import pytest

from layers_helpers import check_layer_gradients, import_keras, keras_weights, to_numpy
from pyseq import activations as pyseq_activations
from pyseq import layers

RNG = np.random.default_rng(1234)


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------------------------------
# gradients (float64 finite differences)
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid", "softmax", "gelu",
                                        "elu", "swish"])
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 5)])
def test_dense_gradients(activation, shape):
    layer = layers.Dense(4, activation=activation, dtype="float64")
    check_layer_gradients(layer, randn(*shape))


def test_dense_without_bias_gradients():
    layer = layers.Dense(3, use_bias=False, dtype="float64")
    check_layer_gradients(layer, randn(2, 2, 2, 5))
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel"]


@pytest.mark.parametrize("name", ["relu", "tanh", "softmax", "sigmoid", "softplus", "selu"])
def test_activation_layer_gradients(name):
    check_layer_gradients(layers.Activation(name, dtype="float64"), randn(3, 4))


def test_merge_gradients_with_broadcasting():
    a, b, c = randn(2, 3, 4), randn(2, 3, 4), randn(3, 4)
    for cls in (layers.Add, layers.Multiply, layers.Average):
        check_layer_gradients(cls(dtype="float64"), [a, b, c])
    check_layer_gradients(layers.Subtract(dtype="float64"), [a, c])
    check_layer_gradients(layers.Concatenate(axis=1, dtype="float64"), [a, randn(2, 5, 4)])
    check_layer_gradients(layers.Concatenate(dtype="float64"), [a, b])


@pytest.mark.parametrize("layer,shape", [
    (lambda: layers.Flatten(dtype="float64"), (2, 3, 4)),
    (lambda: layers.Reshape((-1, 2), dtype="float64"), (2, 3, 4)),
    (lambda: layers.RepeatVector(3, dtype="float64"), (2, 5)),
])
def test_reshaping_gradients(layer, shape):
    check_layer_gradients(layer(), randn(*shape))


@pytest.mark.parametrize("kwargs", [{}, {"axis": [1, 2]}, {"center": False}, {"scale": False},
                                    {"rms_scaling": True}, {"epsilon": 0.5}])
def test_layer_normalization_gradients(kwargs):
    check_layer_gradients(layers.LayerNormalization(dtype="float64", **kwargs), randn(2, 3, 5))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_batch_normalization_gradients(training, masked):
    layer = layers.BatchNormalization(dtype="float64")
    x = randn(3, 4, 5)
    mask = (RNG.random((3, 4)) > 0.3) if masked else None
    layer._maybe_build(x.shape)
    layer.gamma.assign(randn(5))
    layer.beta.assign(randn(5))
    layer.moving_variance.assign(RNG.random(5) + 0.5)
    check_layer_gradients(layer, x, training=training, mask=mask)


def test_time_distributed_gradients():
    layer = layers.TimeDistributed(layers.Dense(3, activation="tanh", dtype="float64"),
                                   dtype="float64")
    check_layer_gradients(layer, randn(2, 4, 5))
    assert layer.count_params() == 5 * 3 + 3


def test_embedding_gradients_sum_repeated_indices():
    layer = layers.Embedding(7, 3, dtype="float64")
    idx = np.array([[1, 2, 2], [6, 1, 0]])
    check_layer_gradients(layer, idx)


def test_dropout_backward_is_the_forward_mask():
    layer = layers.Dropout(0.5, seed=3)
    x = np.ones((40, 50), np.float32)
    y, cache = layer.forward(x, training=True)
    d_args, _ = layer.backward(cache, np.ones_like(x))
    np.testing.assert_array_equal(d_args["inputs"], y)


# ------------------------------------------------------------------------------------------
# every argument does something
# ------------------------------------------------------------------------------------------

def test_dropout_arguments():
    x = np.ones((200, 100), np.float32)
    np.testing.assert_array_equal(layers.Dropout(0.5)(x), x)           # inference: identity
    y = layers.Dropout(0.3, seed=1)(x, training=True)
    assert y.dtype == np.float32
    kept = y != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(layers.Dropout(0.3, seed=1)(x, training=True), y)  # seed
    assert not np.array_equal(layers.Dropout(0.3, seed=2)(x, training=True), y)
    z = layers.Dropout(0.5, noise_shape=(None, 1), seed=0)(x, training=True)
    assert np.all((z == 0).all(axis=1) | (z != 0).all(axis=1))         # one draw per row
    s = layers.SpatialDropout1D(0.5, seed=0)(np.ones((8, 10, 6), np.float32), training=True)
    assert np.all((s == 0).all(axis=1) | (s != 0).all(axis=1))         # whole channels
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.5)
    with pytest.raises(ValueError, match="rank 3"):
        layers.SpatialDropout1D(0.5)(np.ones((2, 3), np.float32), training=True)


def test_dense_arguments():
    x = randn(2, 4, dtype=np.float32)
    d = layers.Dense(3, kernel_initializer="ones", bias_initializer="ones")
    np.testing.assert_allclose(d(x), np.repeat(x.sum(1, keepdims=True) + 1, 3, 1), rtol=1e-6)
    assert d(x).dtype == np.float32
    d = layers.Dense(3, kernel_initializer="ones", activation="relu", use_bias=False)
    np.testing.assert_allclose(d(x), np.maximum(x.sum(1, keepdims=True), 0) * np.ones(3),
                               rtol=1e-6)
    assert len(d.weights) == 1


def test_embedding_arguments():
    e = layers.Embedding(100, 6, input_length=20)
    e._maybe_build((None, 20))
    assert e.count_params() == 600
    w = e.get_weights()[0]
    assert np.abs(w).max() <= 0.05 and np.abs(w).max() > 0.01   # RandomUniform(-0.05, 0.05)
    e2 = layers.Embedding(10, 2, embeddings_initializer="ones", mask_zero=True)
    x = np.array([[0, 3, 0]])
    np.testing.assert_array_equal(e2(x), np.ones((1, 3, 2)))
    np.testing.assert_array_equal(e2.compute_mask(x), [[False, True, False]])
    assert layers.Embedding(10, 2).compute_mask(x) is None
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        e2(np.array([[10]]))


def test_normalization_arguments():
    x = randn(4, 6, dtype=np.float32) * 3 + 2
    y = layers.LayerNormalization()(x)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    var = x.var(-1)
    np.testing.assert_allclose(y.std(-1), np.sqrt(var / (var + 1e-3)), rtol=1e-4)
    ln = layers.LayerNormalization(center=False, scale=False)
    ln(x)
    assert ln.weights == []
    bn = layers.BatchNormalization(momentum=0.5)
    bn(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.value, 0.5 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.value, 0.5 + 0.5 * x.var(0), rtol=1e-5)
    assert [v.name.split("/")[-1] for v in bn.weights] == ["gamma", "beta", "moving_mean",
                                                         "moving_variance"]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    before = bn.moving_mean.numpy()
    bn(x, training=False)
    np.testing.assert_array_equal(bn.moving_mean.value, before)


def test_merge_functions_and_masks():
    a, b = np.ones((2, 3, 4), np.float32), np.full((2, 3, 4), 2, np.float32)
    np.testing.assert_array_equal(layers.add([a, b]), a + b)
    np.testing.assert_array_equal(layers.subtract([a, b]), a - b)
    np.testing.assert_array_equal(layers.multiply([a, b]), a * b)
    np.testing.assert_array_equal(layers.average([a, b]), (a + b) / 2)
    np.testing.assert_array_equal(layers.concatenate([a, b], axis=1), np.concatenate([a, b], 1))
    m1 = np.array([[True, False, False], [True, True, False]])
    m2 = np.array([[False, True, False], [True, True, True]])
    np.testing.assert_array_equal(layers.Add().compute_mask([a, b], [m1, m2]), m1 | m2)
    assert layers.Add().compute_mask([a, b], [m1, None]) is None
    np.testing.assert_array_equal(layers.Concatenate().compute_mask([a, b], [m1, None]),
                                  np.ones((2, 3), bool))


# ------------------------------------------------------------------------------------------
# Keras: counts, weight shapes and order, outputs with the same weights
# ------------------------------------------------------------------------------------------

def _compare(keras_layer, pyseq_layer, x, training=False, rtol=1e-5, atol=1e-5):
    if not keras_layer.built:
        keras_layer(x)
    k_weights = keras_weights(keras_layer)  # before a training call updates moving statistics
    k_out = to_numpy(keras_layer(x, training=training) if training else keras_layer(x))
    pyseq_layer._maybe_build(tuple(x.shape) if not isinstance(x, list) else
                             [tuple(a.shape) for a in x])
    assert [w.shape for w in pyseq_layer.get_weights()] == [w.shape for w in k_weights]
    assert pyseq_layer.count_params() == keras_layer.count_params()
    pyseq_layer.set_weights(k_weights)
    out = pyseq_layer(x, training=training)
    np.testing.assert_allclose(out, k_out, rtol=rtol, atol=atol)
    return out


CASES = [
    ("Dense", dict(units=7), (4, 5)),
    ("Dense", dict(units=3, activation="tanh", use_bias=False), (2, 3, 5)),
    ("Dense", dict(units=3, activation="softmax"), (2, 2, 3, 5)),
    ("LayerNormalization", dict(), (2, 3, 8)),
    ("LayerNormalization", dict(axis=[1, 2], center=False), (2, 3, 8)),
    ("BatchNormalization", dict(), (4, 3, 6)),
    ("BatchNormalization", dict(axis=1, scale=False), (4, 3, 6)),
    ("Flatten", dict(), (2, 3, 4)),
    ("Reshape", dict(target_shape=(-1, 2)), (2, 3, 4)),
    ("RepeatVector", dict(n=3), (2, 5)),
    ("Activation", dict(activation="gelu"), (2, 5)),
]


@pytest.mark.parametrize("name,kwargs,shape", CASES)
def test_against_keras(name, kwargs, shape):
    keras = import_keras()
    x = randn(*shape, dtype=np.float32)
    k = getattr(keras.layers, name)(**kwargs)
    p = getattr(layers, name)(**kwargs)
    _compare(k, p, x, rtol=1e-4 if kwargs.get("activation") == "gelu" else 1e-5)
    if name == "BatchNormalization":
        _compare(k, p, x, training=True)
        np.testing.assert_allclose(p.moving_mean.value, to_numpy(k.moving_mean.value), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(p.moving_variance.value, to_numpy(k.moving_variance.value),
                                   rtol=1e-5, atol=1e-6)


def test_embedding_and_time_distributed_against_keras():
    keras = import_keras()
    x = RNG.integers(0, 100, (3, 20))
    k = keras.layers.Embedding(100, 6)
    p = layers.Embedding(100, 6, input_length=20)
    _compare(k, p, x)
    assert p.count_params() == 600
    x = randn(2, 4, 5, dtype=np.float32)
    _compare(keras.layers.TimeDistributed(keras.layers.Dense(3)),
             layers.TimeDistributed(layers.Dense(3)), x)


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Concatenate"])
def test_merges_against_keras(name):
    keras = import_keras()
    xs = [randn(2, 3, 4, dtype=np.float32), randn(2, 3, 4, dtype=np.float32)]
    _compare(getattr(keras.layers, name)(), getattr(layers, name)(), xs)


# ------------------------------------------------------------------------------------------
# bad arguments: clear errors at construction / build time
# ------------------------------------------------------------------------------------------

def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown activation"):
        layers.Dense(3, activation="nope")
    with pytest.raises(ValueError, match="units"):
        layers.Dense(0)
    with pytest.raises(TypeError, match="unexpected argument"):
        layers.Dense(3, bogus=1)
    with pytest.raises(ValueError, match="unknown initializer"):
        layers.Dense(3, kernel_initializer="nope")
    with pytest.raises(ValueError, match="rank 2"):
        layers.RepeatVector(2)(layers.Input((3, 4)))
    with pytest.raises(ValueError, match="incompatible shapes"):
        layers.Add()([layers.Input((3,)), layers.Input((4,))])
    with pytest.raises(ValueError, match="known last axis"):
        layers.Dense(2)(layers.Input((None,)))
    with pytest.raises(ValueError, match="cannot reshape"):
        layers.Reshape((5,))(layers.Input((2, 3)))
    with pytest.raises(ValueError, match="matching shapes"):
        layers.Concatenate(axis=1)([layers.Input((3, 4)), layers.Input((3, 5))])
    d = layers.Dense(2)
    d(layers.Input((5,)))
    with pytest.raises(ValueError, match="last axis 5"):
        d(layers.Input((6,)))
    with pytest.raises(ValueError, match="rank >= 3"):
        layers.TimeDistributed(layers.Dense(2))(layers.Input((4,)))
    with pytest.raises(TypeError, match="float32 or float64"):
        layers.Dense(2, dtype="int32")


def test_gelu_erf_paths_agree():
    from pyseq import activations
    x = np.linspace(-6, 6, 2001)
    exact = activations._erf_exact(x)
    np.testing.assert_allclose(activations._erf_as(x.astype(np.float32)), exact, atol=2e-7)
    np.testing.assert_allclose(activations._erf(x), exact, atol=1e-15)


def _activation_points(dtype):
    # away from the kinks at 0, +-0.5, +-1, +-3 and 6, where a one-sided slope is as right as another
    x = np.linspace(-7.3, 7.3, 59).astype(dtype)
    return x[np.min(np.abs(x[:, None] - np.array([0, 0.5, -0.5, 1, -1, 3, -3, 6])), axis=1) > 1e-3]


@pytest.mark.parametrize("name", sorted(pyseq_activations._TABLE))
def test_every_activation_forward_backward(name):
    act = pyseq_activations.get(name)
    x = _activation_points(np.float64)[None, :]
    y = act(x)
    assert y.shape == x.shape and y.dtype == np.float64
    assert act(x.astype(np.float32)).dtype == np.float32
    dy = np.random.default_rng(0).standard_normal(x.shape)
    eps = 1e-6
    numeric = np.array([[np.sum((act(x + eps * e) - act(x - eps * e)) * dy) / (2 * eps)
                         for e in np.eye(x.size).reshape(x.size, *x.shape)]]).reshape(x.shape)
    np.testing.assert_allclose(act.backward(x, y, dy), numeric, rtol=1e-5, atol=1e-7, err_msg=name)
    np.testing.assert_array_equal(getattr(pyseq_activations, name)(x), y)  # keras.activations-style


def test_every_activation_matches_keras():
    keras = import_keras()
    x = _activation_points(np.float32)[None, :]
    for name in sorted(pyseq_activations._TABLE):
        ref = to_numpy(getattr(keras.activations, name)(keras.ops.convert_to_tensor(x)))
        np.testing.assert_allclose(pyseq_activations.get(name)(x), ref, rtol=2e-6, atol=2e-6,
                                   err_msg=name)


def test_numeric_grad_sees_non_contiguous_inputs():
    # the finite-difference helper perturbs its array through the array's own strides
    from layers_helpers import numeric_grad
    base = np.random.default_rng(0).standard_normal((3, 8))
    x = base[:, ::2]
    np.testing.assert_allclose(numeric_grad(lambda: float(np.sum(x ** 3)), x), 3 * x ** 2,
                               rtol=1e-6)
