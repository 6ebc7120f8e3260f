"""Layer options cross-checked against Keras 3 beyond the common cases (each with a NumPy-only
check too, for machines without Keras)."""

import numpy as np
import pytest

import pyseq
from layers_helpers import check_layer_gradients, import_keras, keras_weights, to_numpy
from pyseq import layers

RNG = np.random.default_rng(23)


@pytest.mark.parametrize("kwargs", [{"rms_scaling": True},
                                    {"rms_scaling": True, "scale": False, "axis": [1, 2]}])
def test_layer_normalization_rms_scaling_is_keras_arithmetic(kwargs):
    # Keras's (deprecated) rms_scaling: x / sqrt(var(x) + eps) * gamma, x not centred, and a
    # gamma even with scale=False.
    x = RNG.standard_normal((2, 3, 5)) + 0.7
    layer = layers.LayerNormalization(dtype="float64", epsilon=0.01, **kwargs)
    y = np.asarray(layer(x))
    ax = tuple(layer._ax)
    assert [w.name.split("/")[-1] for w in layer.weights] == ["gamma"]
    gamma = RNG.uniform(0.5, 1.5, layer.gamma.shape)
    layer.set_weights([gamma])
    y = np.asarray(layer(x))
    shape = [x.shape[i] if i in ax else 1 for i in range(3)]
    expected = x / np.sqrt(x.var(axis=ax, keepdims=True) + 0.01) * gamma.reshape(shape)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    check_layer_gradients(layer, x)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")
def test_layer_normalization_rms_scaling_matches_keras():
    keras = import_keras()
    x = (RNG.standard_normal((2, 3, 6)) + 0.5).astype(np.float32)
    for kwargs in ({"rms_scaling": True}, {"rms_scaling": True, "scale": False}):
        k = keras.layers.LayerNormalization(**kwargs)
        k_out = to_numpy(k(x))
        p = layers.LayerNormalization(**kwargs)
        p(x)
        p.set_weights(keras_weights(k))
        np.testing.assert_allclose(np.asarray(p(x)), k_out, rtol=1e-5, atol=1e-5)
        assert p.count_params() == k.count_params()


def _mha_inputs(dtype=np.float64):
    q = RNG.standard_normal((2, 5, 4)).astype(dtype)
    v = RNG.standard_normal((2, 6, 3)).astype(dtype)
    k = RNG.standard_normal((2, 6, 5)).astype(dtype)
    return q, v, k


def _mha_small():
    # few weights: the finite differences run the layer twice per weight entry
    q = RNG.standard_normal((2, 3, 3))
    return q, RNG.standard_normal((2, 4, 2)), RNG.standard_normal((2, 4, 3))


def _randomize(layer):
    for w in layer.weights:
        w.assign(RNG.uniform(-0.7, 0.7, w.shape))


@pytest.mark.parametrize("kwargs,call", [
    ({"use_gate": True}, {}),
    ({"use_gate": True, "value_dim": 2, "use_bias": False}, {"return_attention_scores": True}),
    ({"sliding_window": 2}, {"use_causal_mask": True}),
    ({"use_gate": True, "sliding_window": 3}, {"key": True, "masked": True}),
])
def test_mha_gate_and_sliding_window_gradients(kwargs, call):
    call = dict(call)
    q, v, k = _mha_small()
    mask = None
    if call.pop("key", False):
        call["key"] = k
    if call.pop("masked", False):
        mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
        call["value_mask"] = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64", **kwargs)
    layer(q, v, key=call.get("key"))
    _randomize(layer)
    names = [w.name.split("/", 1)[1] for w in layer.weights]
    if kwargs.get("use_gate"):  # Keras's order: query, key, gate, value, attention_output
        assert names.index("gate/kernel") == names.index("key/kernel") + (
            2 if layer.use_bias else 1)
    check_layer_gradients(layer, q, mask=mask, value=v, **call)


def test_mha_sliding_window_is_a_band_mask():
    q, v, _ = _mha_inputs()
    v = v[:, :5]
    band = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64", sliding_window=2)
    plain = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    band(q, v)
    plain(q, v)
    plain.set_weights(band.get_weights())
    i = np.arange(5)
    am = np.abs(i[:, None] - i[None, :]) < 2
    np.testing.assert_allclose(np.asarray(band(q, v)), np.asarray(plain(q, v, attention_mask=am)))
    with pytest.raises(ValueError, match=r"\[MultiHeadAttention\] sliding_window"):
        layers.MultiHeadAttention(num_heads=2, key_dim=3, sliding_window=0)


@pytest.mark.parametrize("kwargs", [{"use_gate": True}, {"sliding_window": 2},
                                    {"use_gate": True, "sliding_window": 3, "value_dim": 2}])
@pytest.mark.parametrize("causal", [False, True])
def test_mha_gate_and_sliding_window_match_keras(kwargs, causal):
    keras = import_keras()
    q, v, _ = _mha_inputs(np.float32)
    k = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, **kwargs)
    p = layers.MultiHeadAttention(num_heads=2, key_dim=3, **kwargs)
    k(q, v)
    p(q, v)
    p.set_weights(keras_weights(k))
    for scores in (False, True):
        ko = k(q, v, use_causal_mask=causal, return_attention_scores=scores)
        po = p(q, v, use_causal_mask=causal, return_attention_scores=scores)
        for a, b in zip(ko if scores else [ko], po if scores else [po]):
            np.testing.assert_allclose(np.asarray(b), to_numpy(a), rtol=1e-5, atol=1e-5)


X3 = RNG.standard_normal((2, 5, 4)).astype(np.float32)
CONFIG_CASES = [
    ("LSTM", dict(units=3, return_sequences=True, go_backwards=True), X3),
    ("GRU", dict(units=2, reset_after=False, return_state=True), X3),
    ("SimpleRNN", dict(units=2, activation="relu"), X3),
    ("Conv1D", dict(filters=3, kernel_size=2, padding="causal", dilation_rate=2), X3),
    ("AveragePooling1D", dict(pool_size=2, strides=1, padding="same"), X3),
    ("GlobalMaxPooling1D", dict(keepdims=True), X3),
    ("Dense", dict(units=3, activation="relu", use_bias=False), X3),
    ("Embedding", dict(input_dim=10, output_dim=3, mask_zero=True),
     RNG.integers(0, 10, (2, 5))),
    ("LayerNormalization", dict(axis=[1, 2], epsilon=0.1, center=False), X3),
    ("BatchNormalization", dict(momentum=0.9, epsilon=0.01), X3),
    ("Dropout", dict(rate=0.3, noise_shape=(None, 1, 4), seed=1), X3),
    ("SpatialDropout1D", dict(rate=0.2, seed=2), X3),
    ("Activation", dict(activation="softmax"), X3),
    ("Flatten", {}, X3),
    ("Reshape", dict(target_shape=(4, 5)), X3),
    ("RepeatVector", dict(n=2), X3[:, 0]),
    ("Masking", dict(mask_value=0.5), X3),
    ("MultiHeadAttention", dict(num_heads=2, key_dim=3, use_gate=True, sliding_window=2), X3),
    ("Attention", dict(use_scale=True, score_mode="concat"), [X3, X3]),
    ("Concatenate", dict(axis=1), [X3, X3]),
]


def _call(layer, x):
    return layer(x, x) if isinstance(layer, layers.MultiHeadAttention) else layer(x)


def _flat(out):
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]


@pytest.mark.parametrize("name,kwargs,x", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_get_config_from_config_round_trip(name, kwargs, x):
    layer = getattr(layers, name)(**kwargs)
    config = layer.get_config()
    for key, value in kwargs.items():
        expected = tuple(value) if key in ("noise_shape", "target_shape") else value
        assert config[key] in (expected, (expected,)), key  # Keras keeps Conv1D sizes as tuples
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    out = _flat(_call(layer, x))
    _call(clone, x)
    clone.set_weights(layer.get_weights())
    for a, b in zip(out, _flat(_call(clone, x))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("wrapper", ["Bidirectional", "TimeDistributed"])
def test_wrapper_configs_rebuild_the_inner_layer(wrapper):
    if wrapper == "Bidirectional":
        layer = layers.Bidirectional(layers.GRU(3, return_sequences=True, name="enc"),
                                     merge_mode="sum")
    else:
        layer = layers.TimeDistributed(layers.Dense(2, activation="tanh"))
    config = layer.get_config()
    inner = config["layer"]
    assert inner["class_name"] == ("GRU" if wrapper == "Bidirectional" else "Dense")
    if wrapper == "Bidirectional":
        assert inner["config"]["name"] == "enc"
        assert config["backward_layer"]["config"]["go_backwards"] is True
    clone = type(layer).from_config(config)
    out = np.asarray(layer(X3))
    clone(X3)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(X3)), out)
    assert [w.name for w in clone.weights] == [w.name for w in layer.weights]
    with pytest.raises(ValueError, match=r"\[layers.deserialize\]"):
        type(layer).from_config(dict(config, layer={"class_name": "NoSuchLayer"}))


def test_dtype_policies_and_bad_dtypes():
    assert layers.Dense(2, dtype={"class_name": "DTypePolicy",
                                  "config": {"name": "float64"}}).dtype == "float64"
    with pytest.raises(TypeError, match=r"\[Dense\] dtype must be float32 or float64"):
        layers.Dense(2, dtype={"nonsense": 1})
    with pytest.raises(TypeError, match=r"\[reshape\w*\] target_shape must be a tuple of ints"):
        layers.Reshape(5)
    with pytest.raises(ValueError, match=r"\[Dense\] kernel_regularizer"):
        layers.Dense(2, kernel_regularizer="l3")  # an unknown name (regularizers are supported)
    with pytest.raises(ValueError, match=r"\[BatchNormalization\] only renorm=False"):
        layers.BatchNormalization(renorm=True)


KERAS_CONFIG_CASES = [c for c in CONFIG_CASES if c[0] not in ("Concatenate",)]


@pytest.mark.parametrize("name,kwargs,x", KERAS_CONFIG_CASES,
                         ids=[c[0] for c in KERAS_CONFIG_CASES])
def test_keras_configs_build_the_same_layer(name, kwargs, x):
    # A Keras layer's full get_config() (initializer dicts, dtype policy, regularizers None)
    # constructs the pyseq layer, which computes what the Keras layer does with its weights.
    keras = import_keras()
    k = getattr(keras.layers, name)(**kwargs)
    p = getattr(layers, name).from_config(k.get_config())
    if name == "Dropout":
        return  # constructing is the check; outputs are random in training, x in inference
    k_out = k(x, x) if name == "MultiHeadAttention" else k(x)
    _call(p, x)
    p.set_weights(keras_weights(k))
    k_flat = [to_numpy(o) for o in (k_out if isinstance(k_out, (list, tuple)) else [k_out])]
    for a, b in zip(k_flat, _flat(_call(p, x))):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_mha_rows_without_keys_follow_keras_paths():
    q, v, _ = _mha_inputs()
    q_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    v_mask = np.array([[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], bool)   # batch 1: no key
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    layer(q, v)
    _randomize(layer)
    y = np.asarray(layer(q, v, mask=q_mask, value_mask=v_mask))
    # no visible key (a masked query, or batch 1 entirely): the mean of the projected values
    Vm = (np.einsum("blf,fnd->blnd", v, layer.value_kernel.value) +
          layer.value_bias.value).mean(axis=1)
    expected = np.einsum("bnd,ndo->bo", Vm, layer.output_kernel.value) + \
        layer.output_bias.value
    np.testing.assert_allclose(y[0, 3:], np.broadcast_to(expected[0], (2, 4)), rtol=1e-10)
    np.testing.assert_allclose(y[1], np.broadcast_to(expected[1], (5, 4)), rtol=1e-10)
    qs, vs, _ = _mha_small()
    small = layers.MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64")
    small(qs, vs)
    _randomize(small)
    check_layer_gradients(small, qs, mask=q_mask[:, :3], value=vs, value_mask=v_mask[:, :4])
    # with returned scores (Keras's explicit softmax) those rows attend to nothing
    y, scores = layer(q, v, mask=q_mask, value_mask=v_mask, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(y)[1], np.broadcast_to(layer.output_bias.value,
                                                                 (5, 4)), atol=1e-12)
    assert not np.asarray(scores)[1].any()


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_padded_self_attention_matches_keras(dropout):
    keras = import_keras()
    ids = RNG.integers(1, 20, (3, 6))
    ids[0, 4:] = 0
    ids[2, 1:] = 0

    def build(L, Model, Input):
        i = Input((6,), dtype="int32")
        e = L.Embedding(20, 8, mask_zero=True)(i)
        h = L.MultiHeadAttention(2, 4, dropout=dropout)(e, e)
        return Model(i, L.TimeDistributed(L.Dense(2))(L.LayerNormalization()(h + e)))
    k = build(keras.layers, keras.Model, keras.Input)
    p = build(layers, pyseq.Model, pyseq.Input)
    p.set_weights(keras_weights(k))
    np.testing.assert_allclose(p.predict(ids, verbose=0), to_numpy(k(ids)), rtol=1e-4,
                               atol=1e-5)
