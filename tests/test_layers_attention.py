"""Attention and MultiHeadAttention layers: gradients, arguments, errors, Keras parity."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

from pyseq import layers, ops

from layer_checks import KERAS_WARNINGS, check_layer_gradients, keras_or_skip, to_numpy

pytestmark = [KERAS_WARNINGS, pytest.mark.skipif(
    not hasattr(ops, "attention_forward"), reason="the attention op has not landed on this "
                                                  "branch")]


def _qkv(B=2, Lq=5, Lk=6, D=4, Dv=3, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((B, Lq, D)).astype(dtype),
            rng.standard_normal((B, Lk, Dv)).astype(dtype),
            rng.standard_normal((B, Lk, D)).astype(dtype))


def _masks(B=2, Lq=5, Lk=6):
    q_mask = np.ones((B, Lq), bool)
    q_mask[1, 3:] = False
    v_mask = np.ones((B, Lk), bool)
    v_mask[0, 4:] = False
    v_mask[1, 1] = False
    return q_mask, v_mask


def _randomize(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights([np.asarray(0.3 + 0.5 * rng.random(w.shape)) if w.ndim == 0
                       else 0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])


# -- Attention ----------------------------------------------------------------------------------
@pytest.mark.parametrize("score_mode", ["dot", "concat"])
@pytest.mark.parametrize("use_scale", [False, True])
@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("masked,causal,scores", [(False, False, False), (True, False, False),
                                                  (True, True, True), (False, True, True)])
def test_attention_gradients(score_mode, use_scale, with_key, masked, causal, scores):
    layer = layers.Attention(use_scale=use_scale, score_mode=score_mode, dtype="float64")
    q, v, k = _qkv(Dv=4 if not with_key else 3)
    inputs = [q, v, k] if with_key else [q, v]
    layer(inputs)
    _randomize(layer)
    mask = list(_masks()) if masked else None
    check_layer_gradients(layer, inputs, mask=mask, use_causal_mask=causal,
                          return_attention_scores=scores)


def test_attention_semantics():
    q, v, k = _qkv(dtype="float32")
    layer = layers.Attention()
    o, w = layer([q, v, k], return_attention_scores=True)
    ref_w = np.exp(q @ k.transpose(0, 2, 1))
    ref_w /= ref_w.sum(-1, keepdims=True)
    np.testing.assert_allclose(w, ref_w, rtol=1e-5)
    np.testing.assert_allclose(o, ref_w @ v, rtol=1e-5, atol=1e-6)
    q_mask, v_mask = _masks()
    o, w = layer([q, v, k], mask=[q_mask, v_mask], use_causal_mask=True,
                 return_attention_scores=True)
    assert not w[0][:, 4:].any() and not w[1][:, 1].any()
    assert not np.triu(w[0], 1).any()
    assert not o[1, 3:].any()                       # masked query rows are zeros
    assert np.array_equal(layer.compute_mask([q, v], [q_mask, v_mask]), q_mask)
    assert layer.compute_output_shape([(None, 5, 4), (None, 6, 3), (None, 6, 4)]) == (None, 5, 3)
    scaled = layers.Attention(use_scale=True)
    scaled([q, v, k])
    assert [w.shape for w in scaled.get_weights()] == [()]
    scaled.set_weights([np.asarray(2.0, "float32")])
    np.testing.assert_allclose(scaled([2 * q, v, k]), layer([4 * q, v, k]), rtol=1e-5, atol=1e-6)
    concat = layers.Attention(score_mode="concat", use_scale=True)
    concat([q, v, k])
    assert len(concat.get_weights()) == 2
    # dropout: only in training, seeded, a different draw per call
    drop = layers.Attention(dropout=0.5, seed=3)
    base = drop([q, v, k])
    np.testing.assert_array_equal(base, layer([q, v, k]))
    a, b = drop([q, v, k], training=True), drop([q, v, k], training=True)
    assert not np.allclose(a, base) and not np.allclose(a, b)
    again = layers.Attention(dropout=0.5, seed=3)
    np.testing.assert_array_equal(again([q, v, k], training=True), a)
    cdrop = layers.Attention(score_mode="concat", dropout=0.5, seed=3)
    base = cdrop([q, v, k])
    a = cdrop([q, v, k], training=True)
    assert not np.allclose(a, base)
    o, cache = cdrop.forward([q.astype("float32"), v, k], training=True)
    d, _ = cdrop.backward(cache, np.ones_like(o))
    assert np.isfinite(d["inputs"][0]).all()


def test_attention_errors():
    q, v, k = _qkv(dtype="float32")
    with pytest.raises(ValueError, match=r"\[Attention\] score_mode must be"):
        layers.Attention(score_mode="additive")
    with pytest.raises(ValueError, match=r"\[Attention\] must be called on a list"):
        layers.Attention()(q)
    with pytest.raises(ValueError, match=r"\[Attention\] query and key must have the same last"):
        layers.Attention()([q, v])  # value (the key) has 3 features, query 4
    with pytest.raises(ValueError, match=r"\[Attention\] query must be of rank 3"):
        layers.Attention()([q[0], v, k])
    with pytest.raises(ValueError, match=r"\[Attention\] dropout must be in"):
        layers.Attention(dropout=1.0)


# -- MultiHeadAttention --------------------------------------------------------------------------
@pytest.mark.parametrize("opts", [
    dict(),
    dict(key=True, masked=True),
    dict(causal=True, scores=True),
    dict(key=True, masked=True, causal=True, attention_mask=True),
    dict(value_dim=2, use_bias=False, output_shape=5),
    dict(output_shape=(2, 3), scores=True, masked=True),
], ids=lambda o: "-".join(sorted(o)) or "plain")
def test_mha_gradients(opts):
    opts = dict(opts)
    call = {}
    q, v, k = _qkv(D=4, Dv=3, seed=2)
    q_mask, v_mask = _masks()
    if opts.pop("key", False):
        call["key"] = k
    if opts.pop("masked", False):
        call["value_mask"] = v_mask
        mask = q_mask
    else:
        mask = None
    if opts.pop("causal", False):
        call["use_causal_mask"] = True
    if opts.pop("scores", False):
        call["return_attention_scores"] = True
    if opts.pop("attention_mask", False):
        am = np.random.default_rng(4).random((2, 5, 6)) > 0.3
        call["attention_mask"] = am
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64", **opts)
    layer(q, v, **{k_: v_ for k_, v_ in call.items() if k_ == "key"})
    _randomize(layer)
    d_args, _ = check_layer_gradients(layer, q, mask=mask, value=v, **call)
    assert set(d_args) == {"inputs", "value"} | ({"key"} if "key" in call else set())


def test_mha_weights_and_shapes():
    x = np.zeros((2, 7, 32), "float32")
    mha = layers.MultiHeadAttention(num_heads=3, key_dim=32)
    y = mha(x, x)
    assert y.shape == (2, 7, 32) and mha.count_params() == 12608
    assert [w.shape for w in mha.get_weights()] == [
        (32, 3, 32), (3, 32), (32, 3, 32), (3, 32), (32, 3, 32), (3, 32), (3, 32, 32), (32,)]
    other = layers.MultiHeadAttention(2, 4, value_dim=5, output_shape=6, use_bias=False)
    value = np.ones((2, 3, 8), "float32")
    y, scores = other(x, value, return_attention_scores=True)
    assert y.shape == (2, 7, 6) and scores.shape == (2, 2, 7, 3)
    assert [w.shape for w in other.get_weights()] == [(32, 2, 4), (8, 2, 4), (8, 2, 5),
                                                      (2, 5, 6)]
    assert other.compute_output_shape((None, 7, 32), value=(None, 3, 8)) == (None, 7, 6)
    init = layers.MultiHeadAttention(2, 4, kernel_initializer="zeros", bias_initializer="ones")
    y = init(x, x)
    np.testing.assert_array_equal(y, np.ones_like(y))  # zero kernels: the output bias alone
    assert all((w == 1).all() for w in init.get_weights()[1::2])
    np.testing.assert_allclose(scores.sum(-1), 1, rtol=1e-5)


def test_mha_masks_dropout_causal():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 5, 8)).astype("float32")
    v = rng.standard_normal((2, 6, 8)).astype("float32")
    q_mask, v_mask = _masks()
    mha = layers.MultiHeadAttention(2, 4, seed=1, dropout=0.5)
    y, s = mha(q, v, value_mask=v_mask, return_attention_scores=True, use_causal_mask=True)
    assert not s[0][:, :, 4:].any() and not np.triu(s[0, 0], 1).any()
    y_keyed, s2 = mha(q, v, key_mask=v_mask, return_attention_scores=True, use_causal_mask=True)
    np.testing.assert_array_equal(s2, s)
    y_am, s3 = mha(q, v, attention_mask=np.broadcast_to(v_mask[:, None, :], (2, 5, 6)),
                   return_attention_scores=True, use_causal_mask=True)
    np.testing.assert_allclose(s3, s, rtol=1e-6)
    yq = mha(q, v, query_mask=q_mask)
    # a masked query row attends to nothing: the output is the output projection's bias alone
    np.testing.assert_allclose(yq[1, 3:], np.broadcast_to(mha.output_bias.value, (2, 8)))
    a = mha(q, v, training=True)
    assert not np.allclose(a, mha(q, v)) and not np.allclose(a, mha(q, v, training=True))
    np.testing.assert_array_equal(mha(q, v), mha(q, v, training=False))


def test_mha_errors():
    x = np.zeros((2, 5, 4), "float32")
    with pytest.raises(ValueError, match=r"\[MultiHeadAttention\] num_heads must be a positive"):
        layers.MultiHeadAttention(0, 4)
    # (1, 2) is Keras's default for rank-4 inputs; on a rank-3 query axis 2 is the heads axis
    with pytest.raises(ValueError, match=r"\[MultiHeadAttention\] attention_axes must be distinct "
                                         r"axes between the batch and the features"):
        layers.MultiHeadAttention(2, 4, attention_axes=(1, 2))(x, x)
    with pytest.raises(ValueError, match=r"\[MultiHeadAttention\] attention_axes must be None"):
        layers.MultiHeadAttention(2, 4, attention_axes="1")
    with pytest.raises(TypeError, match=r"\[MultiHeadAttention\] needs value"):
        layers.MultiHeadAttention(2, 4)(x)
    with pytest.raises(ValueError, match=r"\[MultiHeadAttention\] query must be of rank 3"):
        layers.MultiHeadAttention(2, 4)(x[0], x[0])
    with pytest.raises(ValueError, match=r"value and key must have the same number of steps"):
        layers.MultiHeadAttention(2, 4)(x, x, np.zeros((2, 6, 4), "float32"))
    mha = layers.MultiHeadAttention(2, 4)
    mha(x, x)
    with pytest.raises(ValueError, match=r"was built for value features 4"):
        mha(x, np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"attention_mask must be \(batch, 5, 5\) or broadcast"):
        mha(x, x, attention_mask=np.ones((2, 5, 4), bool))


# -- Keras parity -------------------------------------------------------------------------------
@pytest.mark.parametrize("score_mode", ["dot", "concat"])
@pytest.mark.parametrize("use_scale", [False, True])
def test_keras_parity_attention(score_mode, use_scale):
    keras = keras_or_skip()
    q, v, k = _qkv(dtype="float32", Dv=3)
    q_mask, v_mask = _masks()
    ka = keras.layers.Attention(use_scale=use_scale, score_mode=score_mode)
    pa = layers.Attention(use_scale=use_scale, score_mode=score_mode)
    ka([q, v, k])
    pa([q, v, k])
    w = [np.asarray(1.7, "float32") for _ in ka.get_weights()]
    ka.set_weights(w)
    pa.set_weights(w)
    assert len(pa.get_weights()) == len(w)
    for inputs in ([q, v, k], [q, k]):
        for mask in (None, [q_mask, v_mask]):
            for causal in (False, True):
                ko = to_numpy(ka(inputs, mask=mask, use_causal_mask=causal,
                                 return_attention_scores=True))
                po = pa(inputs, mask=mask, use_causal_mask=causal, return_attention_scores=True)
                for a, b in zip(ko, po):
                    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def _with_keras_mask(keras, x, mask):
    import torch
    from keras.src import backend
    t = torch.as_tensor(x)
    backend.set_keras_mask(t, torch.as_tensor(mask))
    return t


def test_keras_parity_mha():
    keras = keras_or_skip()
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 5, 8)).astype("float32")
    v = rng.standard_normal((2, 6, 7)).astype("float32")
    kk = rng.standard_normal((2, 6, 9)).astype("float32")
    q_mask, v_mask = _masks()
    for kw in (dict(num_heads=2, key_dim=4), dict(num_heads=3, key_dim=2, value_dim=5,
                                                  output_shape=6, use_bias=False)):
        km = keras.layers.MultiHeadAttention(**kw)
        pm = layers.MultiHeadAttention(**kw)
        km(q, v, kk)
        pm(q, v, kk)
        w = [0.4 * rng.standard_normal(a.shape).astype("float32") for a in km.get_weights()]
        assert [a.shape for a in w] == [a.shape for a in pm.get_weights()]
        assert km.count_params() == pm.count_params()
        km.set_weights(w)
        pm.set_weights(w)
        for causal in (False, True):
            ko = to_numpy(km(q, v, kk, use_causal_mask=causal, return_attention_scores=True))
            po = pm(q, v, kk, use_causal_mask=causal, return_attention_scores=True)
            for a, b in zip(ko, po):
                np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
            qt = _with_keras_mask(keras, q, q_mask)  # Keras reads the query's mask from it
            ko = to_numpy(km(qt, v, kk, value_mask=v_mask, use_causal_mask=causal,
                             return_attention_scores=True))
            po = pm(q, v, kk, query_mask=q_mask, value_mask=v_mask, use_causal_mask=causal,
                    return_attention_scores=True)
            for a, b in zip(ko, po):
                np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    km = keras.layers.MultiHeadAttention(num_heads=3, key_dim=32)
    x = np.zeros((1, 4, 32), "float32")
    km(x, x)
    assert km.count_params() == 12608
