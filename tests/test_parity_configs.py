"""Configs serialise as Keras 3's: every layer's get_config() is JSON (initializers in Keras's
{"module", "class_name", "config", "registered_name"} form) and round-trips through from_config;
Sequential's config lists its layers and rebuilds an equivalent model. The Keras comparisons
skip without Keras; the rest runs without it."""

import json

import numpy as np
import pytest

from layer_checks import keras_or_skip, to_numpy
from pyseq import initializers, layers, models

# constructor arguments for the exported layer classes that have required ones
_ARGS = {
    "Activation": lambda: dict(activation="relu"), "Dense": lambda: dict(units=3),
    "Dropout": lambda: dict(rate=0.5), "SpatialDropout1D": lambda: dict(rate=0.5),
    "Embedding": lambda: dict(input_dim=10, output_dim=4), "RepeatVector": lambda: dict(n=2),
    "Reshape": lambda: dict(target_shape=(2, 3)),
    "TimeDistributed": lambda: dict(layer=layers.Dense(3, kernel_initializer="he_normal")),
    "SimpleRNN": lambda: dict(units=3), "LSTM": lambda: dict(units=3),
    "GRU": lambda: dict(units=3), "Bidirectional": lambda: dict(layer=layers.LSTM(3)),
    "Conv1D": lambda: dict(filters=3, kernel_size=2),
    "MultiHeadAttention": lambda: dict(num_heads=2, key_dim=4), "Dot": lambda: dict(axes=1),
    "GaussianDropout": lambda: dict(rate=0.5), "GaussianNoise": lambda: dict(stddev=0.1),
    "Permute": lambda: dict(dims=(2, 1)), "DepthwiseConv1D": lambda: dict(kernel_size=2),
    "SeparableConv1D": lambda: dict(filters=3, kernel_size=2),
    "Conv1DTranspose": lambda: dict(filters=3, kernel_size=2),
    "RNN": lambda: dict(cell=layers.LSTMCell(3)), "GRUCell": lambda: dict(units=3),
    "LSTMCell": lambda: dict(units=3), "SimpleRNNCell": lambda: dict(units=3),
    "StackedRNNCells": lambda: dict(cells=[layers.LSTMCell(3), layers.GRUCell(2)]),
    "AlphaDropout": lambda: dict(rate=0.5), "InputLayer": lambda: dict(shape=(5, 2)),
}

_LAYER_CLASSES = sorted({n for n in layers.__all__
                         if isinstance(getattr(layers, n), type)
                         and issubclass(getattr(layers, n), layers.Layer)
                         and getattr(layers, n) is not layers.Layer})


def _json(config):
    return json.loads(json.dumps(config))


@pytest.mark.parametrize("name", _LAYER_CLASSES)
def test_every_layer_config_is_json_and_round_trips(name):
    cls = getattr(layers, name)
    layer = cls(**_ARGS.get(name, dict)())
    text = json.dumps(layer.get_config())  # TypeError on any object JSON cannot write
    clone = cls.from_config(json.loads(text))
    assert type(clone) is cls
    assert json.dumps(clone.get_config()) == text
    for key, value in json.loads(text).items():
        if key.endswith("_initializer") and value is not None:
            assert value["module"] == "keras.initializers", (name, key)
            assert set(value) == {"module", "class_name", "config", "registered_name"}


def test_initializer_objects_and_names_serialise_alike():
    assert layers.Dense(2, kernel_initializer="glorot_uniform").get_config()[
        "kernel_initializer"] == layers.Dense(2).get_config()["kernel_initializer"]
    config = layers.LSTM(2, recurrent_initializer="orthogonal").get_config()
    assert config["recurrent_initializer"] == {
        "module": "keras.initializers", "class_name": "Orthogonal",
        "config": {"seed": None, "gain": 1.0}, "registered_name": None}
    config = layers.Conv1D(2, 3, kernel_initializer=initializers.VarianceScaling(
        2.0, "fan_out", "uniform", seed=3)).get_config()
    assert config["kernel_initializer"]["config"] == {
        "seed": 3, "scale": 2.0, "mode": "fan_out", "distribution": "uniform",
        "input_axes": None, "output_axes": None}


@pytest.mark.parametrize("init", [
    initializers.Zeros(), initializers.Ones(), initializers.Constant(0.25),
    initializers.RandomNormal(0.1, 0.2, seed=1), initializers.RandomUniform(-1, 2, seed=2),
    initializers.TruncatedNormal(0.0, 0.3, seed=3),
    initializers.VarianceScaling(0.5, "fan_avg", "untruncated_normal", seed=4),
    initializers.GlorotUniform(5), initializers.GlorotNormal(6), initializers.HeUniform(7),
    initializers.HeNormal(8), initializers.LecunUniform(9), initializers.LecunNormal(10),
    initializers.Orthogonal(1.5, seed=11), initializers.Identity(2.0)],
    ids=lambda i: type(i).__name__)
def test_initializer_round_trip_keeps_its_values(init):
    config = _json(initializers.serialize(init))
    assert config["class_name"] == type(init).__name__
    for again in (initializers.deserialize(config), initializers.get(config)):
        assert type(again) is type(init)
        assert again.get_config() == init.get_config()
        np.testing.assert_array_equal(again((4, 3)), init((4, 3)))
    assert initializers.get(init) is init


def test_a_seeded_initializer_survives_a_layer_config():
    layer = layers.Dense(3, kernel_initializer=initializers.RandomNormal(stddev=0.3, seed=1),
                         bias_initializer=initializers.Constant(0.5))
    clone = layers.Dense.from_config(_json(layer.get_config()))
    layer.build((None, 4))
    clone.build((None, 4))
    for a, b in zip(layer.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clone.get_weights()[1], np.full(3, 0.5, np.float32))


def test_custom_initializer_callable_is_kept_as_is():
    def init(shape, dtype="float32"):
        return np.full(shape, 0.1, dtype)
    assert initializers.serialize(init) is init
    assert layers.Dense(2, kernel_initializer=init).get_config()["kernel_initializer"] is init
    assert initializers.serialize(None) is None


@pytest.mark.parametrize("config,match", [
    ({"class_name": "NoSuchInit", "config": {}}, "unknown initializer"),
    ({"config": {}}, "expects a dict"),
    ({"class_name": "RandomNormal", "config": {"bogus": 1}}, "bad config"),
    ({"class_name": "GlorotUniform", "config": {"input_axes": [0]}}, "bad config"),
])
def test_bad_initializer_configs_raise(config, match):
    with pytest.raises(ValueError, match=match):
        initializers.deserialize(config)


def _stack():
    return [layers.Input((6, 4)), layers.LSTM(5, return_sequences=True),
            layers.Bidirectional(layers.GRU(3, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(4, kernel_initializer="he_uniform")),
            layers.Conv1D(3, 2, activation="relu"), layers.LayerNormalization(),
            layers.GlobalAveragePooling1D(), layers.Dropout(0.1),
            layers.Dense(2, activation="softmax")]


def _same_model(a, b, x):
    assert _summary_text(b) == _summary_text(a)  # names, shapes, param counts
    assert b.count_params() == a.count_params()
    assert [type(la) for la in b.layers] == [type(la) for la in a.layers]
    assert [la.get_config() for la in b.layers] == [la.get_config() for la in a.layers]
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(b.predict(x, verbose=0), a.predict(x, verbose=0))


def _summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    assert lines and "Param #" in lines[0]
    return "".join(lines).replace(model.name, "<model>")


def test_sequential_round_trip_through_json():
    model = models.Sequential(_stack(), name="seq_cfg")
    config = model.get_config()
    assert [e["class_name"] for e in config["layers"]] == [
        "InputLayer", "LSTM", "Bidirectional", "TimeDistributed", "Conv1D",
        "LayerNormalization", "GlobalAveragePooling1D", "Dropout", "Dense"]
    assert config["layers"][0]["config"]["batch_shape"] == [None, 6, 4]
    assert tuple(config["build_input_shape"]) == (None, 6, 4)
    clone = models.Sequential.from_config(_json(config))
    assert clone.name == "seq_cfg"
    x = np.random.default_rng(0).standard_normal((3, 6, 4)).astype(np.float32)
    _same_model(model, clone, x)
    assert json.dumps(clone.get_config()) == json.dumps(config)


def test_sequential_configs_unbuilt_shortcut_and_integer_inputs():
    unbuilt = models.Sequential([layers.Dense(3), layers.Dense(1)])
    config = unbuilt.get_config()
    assert "build_input_shape" not in config
    assert [e["class_name"] for e in config["layers"]] == ["Dense", "Dense"]
    clone = models.Sequential.from_config(config)
    assert [la.units for la in clone.layers] == [3, 1] and not clone.built
    x = np.ones((2, 5), np.float32)
    unbuilt.predict(x, verbose=0)  # built by its first data: the config gains the input
    config = unbuilt.get_config()
    assert config["layers"][0]["class_name"] == "InputLayer"
    _same_model(unbuilt, models.Sequential.from_config(_json(config)), x)

    shortcut = models.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(2)])
    assert tuple(shortcut.get_config()["build_input_shape"]) == (None, 4)
    _same_model(shortcut, models.Sequential.from_config(shortcut.get_config()),
                np.ones((2, 4), np.float32))

    tokens = models.Sequential([layers.Input((7,), dtype="int32"),
                                layers.Embedding(20, 4, mask_zero=True), layers.GRU(3)])
    entry = tokens.get_config()["layers"][0]["config"]
    assert entry["dtype"] == "int32"
    x = np.random.default_rng(1).integers(0, 20, (3, 7)).astype(np.int32)
    _same_model(tokens, models.Sequential.from_config(_json(tokens.get_config())), x)


def test_nested_sequential_serialises_as_keras_names_it():
    inner = models.Sequential([layers.Input((3,)), layers.Dense(2)], name="inner")
    outer = models.Sequential([layers.Input((3,)), inner, layers.Dense(1)])
    config = _json(outer.get_config())
    assert config["layers"][1]["class_name"] == "Sequential"
    assert config["layers"][1]["module"] == "keras"
    _same_model(outer, models.Sequential.from_config(config), np.ones((2, 3), np.float32))


@pytest.mark.parametrize("config,match", [
    ("not a dict", "Sequential.from_config"),
    ({"name": "s", "layers": "Dense"}, "Sequential.from_config"),
    ({"name": "s", "layers": [{"class_name": "NoSuchLayer", "config": {}}]},
     r"\[layers.deserialize\]"),
])
def test_bad_sequential_configs_raise(config, match):
    with pytest.raises(ValueError, match=match):
        models.Sequential.from_config(config)


# -- Keras comparisons -----------------------------------------------------------------------
_KERAS_CASES = [("Dense", dict(units=3, activation="relu")), ("LSTM", dict(units=3)),
                ("GRU", dict(units=3, return_sequences=True)),
                ("Conv1D", dict(filters=3, kernel_size=2, padding="causal")),
                ("Embedding", dict(input_dim=10, output_dim=4, mask_zero=True)),
                ("LayerNormalization", dict(epsilon=1e-5)),
                ("MultiHeadAttention", dict(num_heads=2, key_dim=4, dropout=0.1))]


@pytest.mark.parametrize("name,kwargs", _KERAS_CASES, ids=[c[0] for c in _KERAS_CASES])
def test_layer_configs_match_keras(name, kwargs):
    keras = keras_or_skip()
    ours = _json(getattr(layers, name)(**kwargs).get_config())
    theirs = _json(getattr(keras.layers, name)(**kwargs).get_config())
    # dtype: pyseq writes the name Keras's DTypePolicy holds
    assert theirs["dtype"]["config"]["name"] == ours["dtype"]
    assert set(ours) == set(theirs), name
    for key in set(theirs) - {"name", "dtype"}:
        assert ours[key] == theirs[key], (name, key)
    # each side loads the other's config, pyseq's to the same config as its own
    loaded = _json(getattr(layers, name).from_config(theirs).get_config())
    assert dict(loaded, name=None) == dict(ours, name=None), name
    getattr(keras.layers, name).from_config(ours)


@pytest.mark.parametrize("cls", ["Zeros", "Constant", "RandomNormal", "TruncatedNormal",
                                 "VarianceScaling", "GlorotUniform", "HeNormal", "Orthogonal"])
def test_initializer_configs_match_keras(cls):
    keras = keras_or_skip()
    assert _json(initializers.serialize(getattr(initializers, cls)())) == \
        _json(keras.initializers.serialize(getattr(keras.initializers, cls)()))


def test_sequential_config_matches_and_loads_in_keras():
    keras = keras_or_skip()
    model = models.Sequential(_stack())
    config = _json(model.get_config())
    theirs = keras.Sequential.from_config(config)  # Keras reads pyseq's config
    assert theirs.count_params() == model.count_params()
    back = _json(theirs.get_config())
    assert set(back) <= set(config) | {"build_input_shape"}
    assert [e["class_name"] for e in back["layers"]] == [e["class_name"] for e in
                                                         config["layers"]]
    assert back["layers"][0]["config"]["batch_shape"] == config["layers"][0]["config"][
        "batch_shape"]
    # and pyseq reads Keras's, to the same predictions once given the same weights
    again = models.Sequential.from_config(back)
    x = np.random.default_rng(2).standard_normal((2, 6, 4)).astype(np.float32)
    _same_model(model, again, x)


# -- functional models -----------------------------------------------------------------------
def _two_towers(scalar=True):
    a, b = layers.Input((4,), name="a"), layers.Input((3,), name="b")
    x = layers.Dense(3, activation="tanh")(a)
    shared = layers.Dense(3, name="shared")
    y = shared(x)
    z = shared(layers.Add()([y, b]))  # a second call of the same layer: node index 1
    joined = layers.Concatenate()([z, x])
    # ``tensor * 2.0`` is a Multiply with a constant, which only pyseq reads back
    return models.Model([a, b], [y, joined * 2.0 if scalar else joined], name="towers")


def _sequence_graph():
    tokens = layers.Input((7,), dtype="int32", name="tokens")
    e = layers.Embedding(20, 6, mask_zero=True)(tokens)
    seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(e)
    att = layers.MultiHeadAttention(2, 3)(seq, value=seq)
    inner = models.Sequential([layers.Input((4,)), layers.Dense(2)], name="head")
    pooled = layers.GlobalAveragePooling1D()(att)
    return models.Model({"tokens": tokens}, {"out": inner(pooled), "state": h + c})


def _nested_twice():
    i = layers.Input((4,))
    inner = models.Model(i, layers.Dense(4, activation="relu")(i), name="inner")
    a = layers.Input((4,))
    y = inner(a)
    return models.Model(a, [y, inner(layers.Dense(4)(y))])  # the nested model's node 1


def _functional_inputs(model, rng):
    flat = []
    for t in model.inputs:
        if t.dtype == "int32":
            flat.append(rng.integers(0, 20, (3,) + t.shape[1:]).astype(np.int32))
        else:
            flat.append(rng.standard_normal((3,) + t.shape[1:]).astype(np.float32))
    if isinstance(model.input, dict):
        return dict(zip(model.input, flat))
    return flat if len(flat) > 1 else flat[0]


def _same_outputs(a, b, x):
    b.set_weights(a.get_weights())
    pa, pb = a.predict(x, verbose=0), b.predict(x, verbose=0)
    if isinstance(pa, dict):
        assert set(pa) == set(pb)
        pa, pb = [pa[k] for k in sorted(pa)], [pb[k] for k in sorted(pa)]
    for u, v in zip(pa if isinstance(pa, list) else [pa], pb if isinstance(pb, list) else [pb]):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("build", [_two_towers, _sequence_graph, _nested_twice])
def test_functional_round_trip_through_json(build):
    model = build()
    config = _json(model.get_config())
    assert set(config) == {"name", "trainable", "layers", "input_layers", "output_layers"}
    for entry in config["layers"]:
        assert {"module", "class_name", "config", "registered_name", "name",
                "inbound_nodes"} <= set(entry)
    clone = models.Model.from_config(config)
    assert clone.name == model.name
    assert _summary_text(clone) == _summary_text(model)
    assert [type(la) for la in clone.layers] == [type(la) for la in model.layers]
    assert json.dumps(clone.get_config()) == json.dumps(config)
    _same_outputs(model, clone, _functional_inputs(model, np.random.default_rng(3)))


def test_functional_config_names_nodes_as_keras():
    config = _json(_two_towers().get_config())
    entries = {e["name"]: e for e in config["layers"]}
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"][0] == ["shared", 0, 0]
    assert entries["a"]["inbound_nodes"] == []
    nodes = entries["shared"]["inbound_nodes"]
    assert len(nodes) == 2
    history = nodes[1]["args"][0]["config"]["keras_history"]
    assert entries[history[0]]["class_name"] == "Add" and history[1:] == [0, 0]
    add_args = entries[history[0]]["inbound_nodes"][0]["args"]
    assert [t["config"]["keras_history"] for t in add_args[0]] == [["shared", 0, 0],
                                                                    ["b", 0, 0]]
    assert add_args[0][1]["config"]["shape"] == [None, 3]
    sequence = _json(_sequence_graph().get_config())
    assert sequence["input_layers"] == {"tokens": ["tokens", 0, 0]}
    lstm = next(e for e in sequence["layers"] if e["class_name"] == "LSTM")
    mha = next(e for e in sequence["layers"] if e["class_name"] == "MultiHeadAttention")
    assert mha["inbound_nodes"][0]["kwargs"]["value"]["config"]["keras_history"] == \
        [lstm["name"], 0, 0]
    head = next(e for e in sequence["layers"] if e["name"] == "head")
    assert head["class_name"] == "Sequential" and head["module"] == "keras"


@pytest.mark.parametrize("mutate,match", [
    (lambda c: c.pop("output_layers"), "expects a dict"),
    (lambda c: c.update(output_layers=["nowhere", 0, 0]), "no layer named 'nowhere'"),
    (lambda c: c.update(output_layers=["shared", 5, 0]), "has no output"),
    (lambda c: c.update(input_layers=[["a", 0]]), "expected \\[layer name"),
    (lambda c: c["layers"].pop(0), "need tensors no layer"),  # input "a" is gone
])
def test_bad_functional_configs_raise(mutate, match):
    config = _json(_two_towers().get_config())
    mutate(config)
    with pytest.raises(ValueError, match=match):
        models.Model.from_config(config)


def test_functional_configs_cross_load_with_keras():
    keras = keras_or_skip()
    model = _two_towers(scalar=False)
    config = _json(model.get_config())
    theirs = keras.Model.from_config(config)  # Keras reads pyseq's config
    assert theirs.count_params() == model.count_params()
    assert [la.name for la in theirs.layers] == [la.name for la in model.layers]
    for v, w in zip(theirs.weights, model.get_weights()):
        v.assign(w)
    x = _functional_inputs(model, np.random.default_rng(4))
    import torch
    k_out = theirs([torch.tensor(a) for a in x])
    for u, v in zip(model.predict(x, verbose=0), k_out):
        np.testing.assert_allclose(u, to_numpy(v), rtol=1e-5, atol=1e-6)
    again = models.Model.from_config(_json(theirs.get_config()))  # and pyseq reads Keras's
    assert again.count_params() == model.count_params()
    _same_outputs(model, again, x)
