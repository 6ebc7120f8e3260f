"""Keras layers added for parity: ZeroPadding1D, Cropping1D, UpSampling1D, Permute, Softmax,
ReLU, LeakyReLU, ELU, PReLU, Identity, RMSNormalization, UnitNormalization, DepthwiseConv1D, SeparableConv1D,
Conv1DTranspose, Dot, Maximum, Minimum,
GaussianNoise, GaussianDropout, AdditiveAttention.
float64 finite-difference gradients, shapes and masks by hand (NumPy only), and forward and
backward against Keras (torch autograd)."""

import numpy as np
import pytest

from layers_helpers import check_layer_gradients, import_keras, keras_weights, to_numpy
from pyseq import layers

RNG = np.random.default_rng(43)
X = RNG.standard_normal((2, 5, 4))
X2 = RNG.standard_normal((2, 5, 4))
X6 = RNG.standard_normal((2, 6, 4))
X53 = RNG.standard_normal((2, 5, 3))
V, W = RNG.standard_normal((2, 4)), RNG.standard_normal((2, 4))

CASES = [
    ("ZeroPadding1D", {"padding": 2}, X, (2, 9, 4)),
    ("ZeroPadding1D", {"padding": (1, 3)}, X, (2, 9, 4)),
    ("Cropping1D", {"cropping": (1, 2)}, X, (2, 2, 4)),
    ("Cropping1D", {"cropping": 0}, X, (2, 5, 4)),
    ("UpSampling1D", {"size": 3}, X, (2, 15, 4)),
    ("Permute", {"dims": (2, 1)}, X, (2, 4, 5)),
    ("Softmax", {}, X, (2, 5, 4)),
    ("Softmax", {"axis": 1}, X, (2, 5, 4)),
    ("Softmax", {"axis": [1, 2]}, X, (2, 5, 4)),
    ("ReLU", {}, X, (2, 5, 4)),
    ("ReLU", {"max_value": 0.5, "negative_slope": 0.1, "threshold": 0.2}, X, (2, 5, 4)),
    ("LeakyReLU", {"negative_slope": 0.05}, X, (2, 5, 4)),
    ("ELU", {"alpha": 0.7}, X, (2, 5, 4)),
    ("PReLU", {"alpha_initializer": "random_uniform"}, X, (2, 5, 4)),
    ("PReLU", {"shared_axes": [1], "alpha_initializer": "ones"}, X, (2, 5, 4)),
    ("Identity", {}, X, (2, 5, 4)),
    ("RMSNormalization", {}, X, (2, 5, 4)),
    ("RMSNormalization", {"axis": [1, 2], "epsilon": 0.1}, X, (2, 5, 4)),
    ("UnitNormalization", {}, X, (2, 5, 4)),
    ("UnitNormalization", {"axis": 1}, X, (2, 5, 4)),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, X,
     (2, 5, 8)),
    ("SeparableConv1D", {"filters": 3, "kernel_size": 2, "strides": 2, "activation": "tanh"},
     X, (2, 2, 3)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, X,
     (2, 10, 3)),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 2, "strides": 3, "output_padding": 1}, X,
     (2, 15, 2)),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same",
                         "data_format": "channels_first"}, X, (2, 2, 4)),
    ("Dot", {"axes": 2}, [X, X6], (2, 5, 6)),
    ("Dot", {"axes": (1, 1), "normalize": True}, [X, X53], (2, 4, 3)),
    ("Dot", {"axes": -1}, [V, W], (2, 1)),
    ("Dot", {"axes": (2, 1), "normalize": True}, [X, V], (2, 5)),
    ("Maximum", {}, [X, X2, 0.5 * X], (2, 5, 4)),
    ("Minimum", {}, [X, X2], (2, 5, 4)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("name,kwargs,x,out_shape", CASES, ids=IDS)
def test_gradients_shapes_and_configs(name, kwargs, x, out_shape):
    layer = getattr(layers, name)(dtype="float64", **kwargs)
    y = layer(x)
    assert np.shape(y) == out_shape
    assert layer.compute_output_shape([np.shape(a) for a in x] if isinstance(x, list)
                                      else np.shape(x)) == out_shape
    for w in layer.weights:
        w.assign(RNG.uniform(-1, 1, w.shape))
    check_layer_gradients(layer, x)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_values_and_masks_by_hand():
    x = np.array([[[-2.0], [0.1], [0.3], [0.9]]])
    relu = layers.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2)
    np.testing.assert_allclose(relu(x)[0, :, 0], [-0.22, -0.01, 0.3, 0.5])
    np.testing.assert_allclose(layers.UpSampling1D(2)(x)[0, :3, 0], [-2.0, -2.0, 0.1])
    mask = np.array([[True, True, False, False]])
    s = layers.Softmax(axis=1)(x[..., 0], mask=mask)
    e = np.exp(x[0, :2, 0])
    np.testing.assert_allclose(s[0], np.r_[e / e.sum(), 0, 0], rtol=1e-6)
    np.testing.assert_array_equal(layers.Softmax()(x[..., 0], mask=np.zeros_like(mask))[0], 0)
    with pytest.raises(ValueError, match=r"\(Softmax\) the mask must broadcast"):
        layers.Softmax()(np.zeros((2, 3, 4)), mask=np.ones((2, 3), bool))
    # masks: the activations and noise pass it on; padding, cropping, upsampling, Permute drop it
    for layer in (layers.LeakyReLU(), layers.PReLU(), layers.GaussianNoise(0.1),
                  layers.GaussianDropout(0.1), layers.Identity()):
        assert layer.compute_mask(X, mask) is mask
    rms = layers.RMSNormalization(axis=1, epsilon=0.5, dtype="float64")
    np.testing.assert_allclose(rms(X), X / np.sqrt(np.mean(X ** 2, axis=1, keepdims=True) + 0.5))
    check_layer_gradients(rms, X)
    unit = layers.UnitNormalization(axis=[1, 2], dtype="float64")
    np.testing.assert_allclose(np.sum(np.asarray(unit(X)) ** 2, axis=(1, 2)), 1.0)
    np.testing.assert_array_equal(unit(np.zeros((1, 2, 2))), 0)
    assert unit.compute_mask(X, mask) is mask
    for layer in (layers.ZeroPadding1D(), layers.Cropping1D(), layers.UpSampling1D(),
                  layers.Permute((2, 1)), layers.RMSNormalization()):
        assert layer.compute_mask(X, mask) is None


def test_dot_luong_attention_by_hand():
    enc, dec = RNG.standard_normal((2, 6, 4)), RNG.standard_normal((2, 3, 4))
    scores = layers.Dot(axes=[2, 2], dtype="float64")([dec, enc])
    np.testing.assert_allclose(scores, np.einsum("btf,bsf->bts", dec, enc))
    ctx = layers.dot([scores, enc], axes=[2, 1])
    np.testing.assert_allclose(ctx, np.einsum("bts,bsf->btf", scores, enc), rtol=1e-6)
    assert layers.Dot(axes=1).compute_mask([V, W], [np.ones(2, bool)] * 2) is None
    with pytest.raises(ValueError, match=r"\(Dot\) incompatible shapes"):
        layers.Dot(axes=2)([X, X53])
    with pytest.raises(ValueError, match=r"\(Dot\) takes exactly 2 inputs"):
        layers.Dot(axes=2)([X, X, X])
    with pytest.raises(TypeError, match=r"\(Dot\) axes must be"):
        layers.Dot(axes="last")


@pytest.mark.parametrize("K,stride", [(3, 1), (3, 2), (2, 3), (1, 2)])
def test_conv1d_transpose_is_the_adjoint_of_conv1d(K, stride):
    # <conv_transpose(y), x> == <y, conv(x)> for 'valid' with the same kernel (K, C, F)
    T = 4
    L = (T - 1) * stride + max(K, stride)
    x = RNG.standard_normal((2, L, 3))
    y = RNG.standard_normal((2, T, 5))
    conv = layers.Conv1D(5, K, strides=stride, use_bias=False, dtype="float64")
    tconv = layers.Conv1DTranspose(3, K, strides=stride, use_bias=False, dtype="float64")
    conv(x)
    tconv(y)
    tconv.set_weights(conv.get_weights())
    assert np.shape(tconv(y)) == x.shape
    assert np.sum(np.asarray(tconv(y)) * x) == pytest.approx(np.sum(y * np.asarray(conv(x))))
    # depthwise: each channel alone, its multiplier filters consecutive (c * M + m)
    dw = layers.DepthwiseConv1D(2, depth_multiplier=2, use_bias=False, dtype="float64")
    out = np.asarray(dw(x))
    k = dw.kernel.value
    np.testing.assert_allclose(out[:, 0, 3], x[:, 0, 1] * k[0, 1, 1] + x[:, 1, 1] * k[1, 1, 1])


def test_noise_layers():
    x = np.ones((400, 50))
    gn = layers.GaussianNoise(0.5, seed=1, dtype="float64")
    np.testing.assert_array_equal(gn(x), x)
    y = np.asarray(gn(x, training=True))
    assert abs(np.std(y - x) - 0.5) < 0.02
    gd = layers.GaussianDropout(0.2, seed=2, dtype="float64")
    np.testing.assert_array_equal(gd(x), x)
    y, noise = gd.forward(x, training=True)
    assert abs(np.mean(y) - 1) < 0.02 and abs(np.std(y) - 0.5) < 0.02  # sqrt(.2 / .8)
    d_args, _ = gd.backward(noise, np.ones_like(x))
    np.testing.assert_array_equal(d_args["inputs"], noise)


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"\[zero_padding1d\w*\] padding must be an int"):
        layers.ZeroPadding1D("same")
    with pytest.raises(ValueError, match=r"cropping \(3, 3\) removes more than the 5 steps"):
        layers.Cropping1D(3)(X)
    with pytest.raises(ValueError, match=r"dims must be a permutation"):
        layers.Permute((1, 3))
    with pytest.raises(ValueError, match=r"\[re_lu\w*\] max_value, negative_slope and threshold"):
        layers.ReLU(threshold=-1.0)
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\)"):
        layers.GaussianDropout(1.0)
    with pytest.raises(ValueError, match=r"\(UpSampling1D\) expects inputs of rank 3"):
        layers.UpSampling1D()(np.zeros((2, 3)))


@pytest.mark.parametrize("name,kwargs,x,out_shape", CASES, ids=IDS)
def test_forward_and_backward_match_keras(name, kwargs, x, out_shape):
    keras = import_keras()
    import torch
    xs = [a.astype(np.float32) for a in (x if isinstance(x, list) else [x])]
    k = getattr(keras.layers, name)(**kwargs)
    t = [torch.tensor(a, requires_grad=True) for a in xs]
    k_out = k(t if isinstance(x, list) else t[0])
    d = RNG.standard_normal(tuple(k_out.shape)).astype(np.float32)
    k_grads = torch.autograd.grad((k_out * torch.as_tensor(d)).sum(), t)
    p = getattr(layers, name).from_config(k.get_config())
    p(xs if isinstance(x, list) else xs[0])
    p.set_weights(keras_weights(k))
    out, cache = p.forward(xs if isinstance(x, list) else xs[0])
    np.testing.assert_allclose(out, to_numpy(k_out), rtol=1e-5, atol=1e-6)
    dx = p.backward(cache, d)[0]["inputs"]
    for got, want in zip(dx if isinstance(x, list) else [dx], k_grads):
        np.testing.assert_allclose(got, to_numpy(want), rtol=1e-5, atol=1e-6)
    assert p.count_params() == k.count_params()


def _qvk(dtype=np.float64):
    return [RNG.standard_normal(s).astype(dtype) for s in ((2, 4, 5), (2, 6, 5), (2, 6, 5))]


@pytest.mark.parametrize("use_scale", [True, False])
def test_additive_attention_scores_and_gradients(use_scale):
    q, v, k = _qvk()
    layer = layers.AdditiveAttention(use_scale=use_scale, dtype="float64")
    out, scores = layer([q, v, k], return_attention_scores=True)
    w = layer.scale.value if use_scale else 1.0
    s = np.sum(w * np.tanh(q[:, :, None] + k[:, None]), axis=-1)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(scores, p, rtol=1e-12)
    np.testing.assert_allclose(out, p @ v, rtol=1e-12)
    assert [x.name.split("/")[-1] for x in layer.weights] == (["scale"] if use_scale else [])
    q_mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    v_mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], bool)
    if use_scale:
        layer.scale.assign(RNG.uniform(-1, 1, 5))
    check_layer_gradients(layer, [q, v, k], mask=[q_mask, v_mask, None],
                          return_attention_scores=True, use_causal_mask=True)
    assert "score_mode" not in layer.get_config()


@pytest.mark.parametrize("use_scale,causal", [(True, False), (True, True), (False, False)])
def test_additive_attention_matches_keras(use_scale, causal):
    keras = import_keras()
    import torch
    q, v, k = _qvk(np.float32)
    q_mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    v_mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], bool)
    kl = keras.layers.AdditiveAttention(use_scale=use_scale)
    k_out = kl([q, v, k], mask=[torch.as_tensor(q_mask), torch.as_tensor(v_mask), None],
               use_causal_mask=causal, return_attention_scores=True)
    p = layers.AdditiveAttention.from_config(kl.get_config())
    p([q, v, k])
    p.set_weights(keras_weights(kl))
    p_out = p([q, v, k], mask=[q_mask, v_mask, None], use_causal_mask=causal,
              return_attention_scores=True)
    for a, b in zip(k_out, p_out):
        np.testing.assert_allclose(np.asarray(b), to_numpy(a), rtol=1e-5, atol=1e-6)
