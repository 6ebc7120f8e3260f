"""Conv1D and the 1-D pooling layers: gradients, arguments, errors, Keras parity."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

from pyseq import layers, ops

from layer_checks import KERAS_WARNINGS, check_layer_gradients, keras_or_skip, to_numpy

pytestmark = [KERAS_WARNINGS, pytest.mark.skipif(
    not hasattr(ops, "conv1d_forward"), reason="the conv1d/pooling ops have not landed on this "
                                               "branch")]


def _x(B=2, T=9, C=4, seed=0, dtype="float64"):
    return np.random.default_rng(seed).standard_normal((B, T, C)).astype(dtype)


def _randomize(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])


# -- gradients ----------------------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 2), (3, 2)])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv1d_gradients(padding, strides, dilation, groups):
    layer = layers.Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation,
                          groups=groups, activation="tanh", dtype="float64")
    x = _x()
    layer(x)
    _randomize(layer)
    check_layer_gradients(layer, x)


def test_conv1d_gradients_no_bias_channels_first():
    layer = layers.Conv1D(3, 2, padding="same", use_bias=False, data_format="channels_first",
                          dtype="float64")
    x = _x(T=5, C=6)  # read as (B, C=5, T=6)
    y = layer(x)
    assert y.shape == (2, 3, 6) and len(layer.get_weights()) == 1
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("cls", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, 2, "same"),
                                                   (3, 1, "valid"), (2, 3, "same")])
def test_pooling_gradients(cls, pool, strides, padding):
    layer = getattr(layers, cls)(pool, strides=strides, padding=padding, dtype="float64")
    x = _x()
    layer(x)
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("cls", ["GlobalMaxPooling1D", "GlobalAveragePooling1D"])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_global_pooling_gradients(cls, keepdims, masked):
    layer = getattr(layers, cls)(keepdims=keepdims, dtype="float64")
    x = _x()
    mask = np.ones((2, 9), bool)
    mask[1, 5:] = False
    y = layer(x, mask=mask if masked else None)
    assert y.shape == ((2, 1, 4) if keepdims else (2, 4))
    check_layer_gradients(layer, x, mask=mask if masked else None)


# -- arguments ----------------------------------------------------------------------------------
def test_conv1d_arguments():
    x = _x(dtype="float32")
    conv = layers.Conv1D(6, 3, padding="causal", activation="relu")
    y = conv(x)
    assert y.shape == (2, 9, 6) and y.dtype == np.float32 and (y >= 0).all()
    k, b = conv.get_weights()
    assert k.shape == (3, 4, 6) and b.shape == (6,) and not b.any()
    assert conv.compute_output_shape((None, 9, 4)) == (None, 9, 6)
    # causal: output t sees inputs <= t only
    x2 = x.copy()
    x2[:, 5:] += 1.0
    np.testing.assert_array_equal(conv(x2)[:, :5], y[:, :5])
    # groups: each group of filters reads its own channels only
    g = layers.Conv1D(4, 1, groups=2, use_bias=False)
    g(x)
    assert g.get_weights()[0].shape == (1, 2, 4)
    x3 = x.copy()
    x3[..., 2:] = 0
    assert not g(x3)[..., 2:].any()
    for pad, strides, dil, T2 in [("valid", 1, 1, 7), ("valid", 2, 1, 4), ("same", 2, 1, 5),
                                  ("valid", 1, 3, 3), ("same", 1, 3, 9), ("causal", 3, 2, 3)]:
        c = layers.Conv1D(2, 3, strides=strides, padding=pad, dilation_rate=dil)
        assert c(x).shape == (2, T2, 2) == c.compute_output_shape((2, 9, 4)), (pad, strides)
    zeros = layers.Conv1D(2, 3, kernel_initializer="zeros", bias_initializer="ones")
    np.testing.assert_array_equal(zeros(x), np.ones((2, 7, 2)))
    cf = layers.Conv1D(2, 3, data_format="channels_first")
    cf(np.swapaxes(x, 1, 2))
    cl = layers.Conv1D(2, 3)
    cl(x)
    cl.set_weights(cf.get_weights())
    np.testing.assert_allclose(np.swapaxes(cf(np.swapaxes(x, 1, 2)), 1, 2), cl(x), rtol=1e-6)


def test_pooling_arguments():
    x = _x(dtype="float32")
    assert layers.MaxPooling1D()(x).shape == (2, 4, 4)
    assert layers.MaxPooling1D(3, strides=1)(x).shape == (2, 7, 4)
    assert layers.AveragePooling1D(2, padding="same")(x).shape == (2, 5, 4)
    np.testing.assert_allclose(layers.MaxPooling1D(3, strides=3)(x), x.reshape(2, 3, 3, 4).max(2))
    np.testing.assert_allclose(layers.AveragePooling1D(3)(x), x.reshape(2, 3, 3, 4).mean(2),
                               rtol=1e-6)
    # "same" average counts only the real steps of the clipped last window
    np.testing.assert_allclose(layers.AveragePooling1D(2, padding="same")(x)[:, -1], x[:, -1])
    assert layers.MaxPooling1D(2).compute_output_shape((None, 9, 4)) == (None, 4, 4)
    cf = layers.MaxPooling1D(2, data_format="channels_first")
    np.testing.assert_array_equal(cf(np.swapaxes(x, 1, 2)),
                                  np.swapaxes(layers.MaxPooling1D(2)(x), 1, 2))
    mask = np.ones((2, 9), bool)
    mask[0, 3:] = False
    avg = layers.GlobalAveragePooling1D()(x, mask=mask)
    np.testing.assert_allclose(avg[0], x[0, :3].mean(0), rtol=1e-6)
    np.testing.assert_allclose(avg[1], x[1].mean(0), rtol=1e-6)
    mx = layers.GlobalMaxPooling1D()(x, mask=mask)  # Keras 3 ignores the mask here
    np.testing.assert_array_equal(mx, x.max(1))
    gcf = layers.GlobalAveragePooling1D(data_format="channels_first", keepdims=True)
    assert gcf(np.swapaxes(x, 1, 2)).shape == (2, 4, 1)
    assert layers.GlobalAveragePooling1D().compute_mask(x, mask) is None
    assert layers.GlobalMaxPooling1D(keepdims=True).compute_output_shape((None, 9, 4)) == \
        (None, 1, 4)
    # Keras's default names
    for cls, name in [(layers.Conv1D(1, 1), "conv1d"), (layers.MaxPooling1D(), "max_pooling1d"),
                      (layers.AvgPool1D(), "average_pooling1d"),
                      (layers.GlobalMaxPooling1D(), "global_max_pooling1d"),
                      (layers.GlobalAveragePooling1D(), "global_average_pooling1d")]:
        assert cls.name.split("_")[:-1] == name.split("_") or cls.name == name, cls.name


def test_bad_arguments():
    x = _x(dtype="float32")
    with pytest.raises(ValueError, match=r"\[Conv1D\] padding must be one of"):
        layers.Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match=r"\[Conv1D\] filters must be a positive integer"):
        layers.Conv1D(0, 3)
    with pytest.raises(ValueError, match=r"\[Conv1D\] filters \(3\) must be divisible by groups"):
        layers.Conv1D(3, 3, groups=2)
    with pytest.raises(ValueError, match=r"\[Conv1D\] input channels \(4\) must be divisible"):
        layers.Conv1D(3, 3, groups=3)(x)
    with pytest.raises(ValueError, match=r"\[Conv1D\].*unknown activation"):
        layers.Conv1D(2, 3, activation="bogus")
    with pytest.raises(ValueError, match=r"\[Conv1D\] expects inputs of rank 3"):
        layers.Conv1D(2, 3)(x[0])
    with pytest.raises(ValueError, match=r"\[Conv1D\] with padding 'valid' the input needs at "
                                         r"least 11 steps"):
        layers.Conv1D(2, 6, dilation_rate=2)(x)
    with pytest.raises(ValueError, match=r"\[Conv1D\] data_format must be"):
        layers.Conv1D(2, 3, data_format="NWC")
    with pytest.raises(ValueError, match=r"\[MaxPooling1D\] padding must be one of"):
        layers.MaxPooling1D(2, padding="causal")
    with pytest.raises(ValueError, match=r"\[AveragePooling1D\] pool_size must be a positive"):
        layers.AveragePooling1D(0)
    with pytest.raises(ValueError, match=r"\[MaxPooling1D\] with padding 'valid' the input "
                                         r"needs at least pool_size = 10"):
        layers.MaxPooling1D(10)(x)
    with pytest.raises(ValueError, match=r"\[GlobalMaxPooling1D\] expects inputs of rank 3"):
        layers.GlobalMaxPooling1D()(x[0])


# -- Keras parity -------------------------------------------------------------------------------
CONV_CASES = [dict(padding=p, strides=s, dilation_rate=d, groups=g)
              for p in ("valid", "same", "causal")
              for s, d in ((1, 1), (2, 1), (3, 1), (1, 2), (1, 3))
              for g in (1, 2, 4)]


def test_keras_parity_conv1d():
    keras = keras_or_skip()
    x = _x(B=3, T=13, C=4, dtype="float32")
    rng = np.random.default_rng(5)
    for case in CONV_CASES:
        for use_bias in (True, False):
            k = keras.layers.Conv1D(8, 3, use_bias=use_bias, activation="tanh", **case)
            p = layers.Conv1D(8, 3, use_bias=use_bias, activation="tanh", **case)
            k(x)
            p(x)
            w = [rng.standard_normal(a.shape).astype("float32") for a in k.get_weights()]
            assert [a.shape for a in w] == [a.shape for a in p.get_weights()]
            assert k.count_params() == p.count_params()
            k.set_weights(w)
            p.set_weights(w)
            np.testing.assert_allclose(p(x), to_numpy(k(x)), rtol=1e-5, atol=1e-5,
                                       err_msg=str(case))


def _same_pad(T, pool, stride):
    return max((-(-T // stride) - 1) * stride + pool - T, 0)


def _tf_same_avg(x, pool, stride):
    T = x.shape[1]
    left = _same_pad(T, pool, stride) // 2
    starts = [i * stride - left for i in range(-(-T // stride))]
    return np.stack([x[:, max(s, 0):min(s + pool, T)].mean(1) for s in starts], axis=1)


def test_keras_parity_pooling():
    keras = keras_or_skip()
    for T in (9, 10):
        x = _x(B=3, T=T, C=4, dtype="float32")
        for name in ("MaxPooling1D", "AveragePooling1D"):
            for pool, strides in ((2, None), (3, 1), (3, 2), (2, 3), (1, 1)):
                for padding in ("valid", "same"):
                    k = getattr(keras.layers, name)(pool, strides=strides, padding=padding)
                    p = getattr(layers, name)(pool, strides=strides, padding=padding)
                    expected = to_numpy(k(x))
                    if name == "AveragePooling1D" and padding == "same" and \
                            _same_pad(T, pool, strides or pool) % 2:
                        # Keras's torch backend pads an odd total differently from TensorFlow's
                        # rule (extra step on the right, averaging real steps only), which
                        # pyseq follows: compare with that rule directly.
                        expected = _tf_same_avg(x, pool, strides or pool)
                    np.testing.assert_allclose(p(x), expected, rtol=1e-6, atol=1e-6,
                                               err_msg=f"{name} {pool} {strides} {padding}")
        mask = np.ones((3, T), bool)
        mask[0, 4:] = False
        mask[2, :2] = False
        for keepdims in (False, True):
            for name in ("GlobalMaxPooling1D", "GlobalAveragePooling1D"):
                k = getattr(keras.layers, name)(keepdims=keepdims)
                p = getattr(layers, name)(keepdims=keepdims)
                np.testing.assert_allclose(p(x), to_numpy(k(x)), rtol=1e-6, atol=1e-6)
            k = keras.layers.GlobalAveragePooling1D(keepdims=keepdims)
            p = layers.GlobalAveragePooling1D(keepdims=keepdims)
            np.testing.assert_allclose(p(x, mask=mask), to_numpy(k(x, mask=mask)), rtol=1e-6,
                                       atol=1e-6)
            # Keras 3's GlobalMaxPooling1D takes no mask (its call has no mask argument): masked
            # steps count
            k = keras.layers.GlobalMaxPooling1D(keepdims=keepdims)
            p = layers.GlobalMaxPooling1D(keepdims=keepdims)
            np.testing.assert_allclose(p(x, mask=mask), to_numpy(k(x)), rtol=1e-6, atol=1e-6)
