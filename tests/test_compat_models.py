"""Model-level Keras parity: the order of evaluate / train_on_batch results for several
outputs, metrics_names before compile, and fit with every optimizer name from the same
initial weights as Keras."""

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, keras_weights
from pyseq import layers

RNG = np.random.default_rng(29)
X = RNG.standard_normal((13, 6, 3)).astype(np.float32)
Y = RNG.integers(0, 2, (13, 1)).astype(np.float32)
YR = RNG.standard_normal((13, 2)).astype(np.float32)


def _two_outputs(L, Model, Input):
    i = Input((6, 3))
    h = L.GRU(4)(i)
    return Model(i, [L.Dense(1, activation="sigmoid", name="cls")(h), L.Dense(2, name="reg")(h)])


_COMPILE = dict(optimizer="adam", loss={"cls": "binary_crossentropy", "reg": "mse"},
                loss_weights={"cls": 1.0, "reg": 0.5},
                metrics={"cls": ["accuracy"], "reg": ["mae"]})


def test_result_lists_follow_keras_order():
    # loss, the per-output losses, then the compiled metrics (Keras 3's order)
    m = _two_outputs(layers, pyseq.Model, pyseq.Input)
    assert m.metrics_names == []
    m.compile(**_COMPILE)
    logs = m.evaluate(X, [Y, YR], verbose=0, return_dict=True)
    order = ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"]
    assert m.evaluate(X, [Y, YR], verbose=0) == pytest.approx([logs[k] for k in order])
    logs = m.test_on_batch(X[:4], [Y[:4], YR[:4]], return_dict=True)
    assert m.test_on_batch(X[:4], [Y[:4], YR[:4]]) == pytest.approx([logs[k] for k in order])


def test_result_lists_match_keras():
    keras = import_keras()
    k = _two_outputs(keras.layers, keras.Model, keras.Input)
    p = _two_outputs(layers, pyseq.Model, pyseq.Input)
    p.set_weights(keras_weights(k))
    k.compile(**_COMPILE)
    p.compile(**_COMPILE)
    np.testing.assert_allclose(p.evaluate(X, [Y, YR], batch_size=5, verbose=0),
                               k.evaluate(X, [Y, YR], batch_size=5, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(p.train_on_batch(X[:4], [Y[:4], YR[:4]]),
                               k.train_on_batch(X[:4], [Y[:4], YR[:4]]), rtol=1e-5)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("name", ["adagrad", "adadelta", "adamax", "nadam", "lion"])
def test_fit_with_each_optimizer_name_follows_keras(name):
    keras = import_keras()

    def build(L, Sequential):
        return Sequential([L.Input((6, 3)), L.Conv1D(4, 3, padding="causal", activation="relu"),
                           L.LSTM(3), L.Dense(1, activation="sigmoid")])
    k, p = build(keras.layers, keras.Sequential), build(layers, pyseq.Sequential)
    p.set_weights(keras_weights(k))
    for m in (k, p):
        m.compile(name, "binary_crossentropy", metrics=["accuracy"])
    opts = dict(batch_size=4, epochs=2, shuffle=False, verbose=0, validation_split=0.25,
                class_weight={0: 0.5, 1: 2.0})
    hk, hp = k.fit(X, Y, **opts).history, p.fit(X, Y, **opts).history
    assert sorted(hk) == sorted(hp)
    for key in hk:
        np.testing.assert_allclose(hp[key], hk[key], rtol=2e-4, atol=1e-6, err_msg=key)


def test_class_weight_does_not_weigh_the_validation_split():
    m = pyseq.Sequential([layers.Input((6, 3)), layers.LSTM(3), layers.Dense(1, "sigmoid")])
    m.compile(pyseq.optimizers.SGD(0.0), "binary_crossentropy")  # weights stay put
    hist = m.fit(X, Y, epochs=1, batch_size=4, verbose=0, validation_split=0.3,
                 class_weight={0: 0.1, 1: 5.0}).history
    split = int(np.floor(len(X) * 0.7))
    assert hist["val_loss"][0] == pytest.approx(m.evaluate(X[split:], Y[split:], verbose=0))
    # an explicit sample_weight still travels with the validation samples, as in Keras
    sw = RNG.uniform(0.5, 2.0, len(X))
    hist = m.fit(X, Y, epochs=1, batch_size=4, verbose=0, validation_split=0.3,
                 sample_weight=sw).history
    assert hist["val_loss"][0] == pytest.approx(
        m.evaluate(X[split:], Y[split:], sample_weight=sw[split:], verbose=0))


def test_input_and_output_shapes():
    m = pyseq.Sequential([layers.Input((5, 3)), layers.LSTM(3), layers.Dense(1)])
    assert (m.input_shape, m.output_shape) == ((None, 5, 3), (None, 1))
    i, j = pyseq.Input((4,)), pyseq.Input((3,))
    o = layers.Dense(2)(layers.Concatenate()([i, j]))
    m = pyseq.Model([i, j], [o, o])
    assert m.input_shape == [(None, 4), (None, 3)]
    assert m.output_shape == [(None, 2), (None, 2)]
    lazy = pyseq.Sequential([layers.LSTM(3)])
    with pytest.raises(ValueError, match="has no input yet"):
        lazy.input_shape


def test_bad_batch_sizes_and_uncompiled_models_raise_value_errors():
    m = pyseq.Sequential([layers.Input((6, 3)), layers.LSTM(2), layers.Dense(1)])
    with pytest.raises(ValueError, match=r"\[sequential\w*\.fit\] call compile\(\) first"):
        m.fit(X, Y, verbose=0)  # Keras raises ValueError (still a RuntimeError for old code)
    m.compile("sgd", "mse")
    for call in (lambda: m.predict(X, batch_size=0), lambda: m.evaluate(X, Y, batch_size=-1)):
        with pytest.raises(ValueError, match=r"batch_size must be positive"):
            call()
    with pytest.raises(TypeError, match=r"\[fit\] batch_size must be an int"):
        m.fit(X, Y, batch_size=2.5, verbose=0)
    with pytest.raises(TypeError, match=r"\[(LSTM|lstm\w*)\] expects"):
        layers.LSTM(3)("abc")
    with pytest.raises(TypeError, match=r"\[LSTM\] expects numeric inputs"):
        m.layers[0].forward(np.array([[["a"] * 3] * 6]))


def test_utils_and_preprocessing_come_with_the_package():
    # as keras.utils / keras.preprocessing after `import keras`
    assert pyseq.utils.pad_sequences([[1, 2]], maxlen=3).tolist() == [[0, 1, 2]]
    assert pyseq.preprocessing.sequence.pad_sequences is pyseq.utils.pad_sequences
    assert pyseq.utils.to_categorical([1], 3).tolist() == [[0.0, 1.0, 0.0]]


@pytest.mark.parametrize("spec,keys", [
    (["accuracy", "mae"], ["cls_accuracy", "reg_mae"]),          # one entry per output
    ([["accuracy", "mse"], []], ["cls_accuracy", "cls_mse"]),
    ([["accuracy"], None], ["cls_accuracy"]),
    ({"reg": ["mae"]}, ["reg_mae"]),
    (["mae"], ["cls_mae", "reg_mae"]),                           # Keras refuses; pyseq: all
])
def test_metrics_given_per_output(spec, keys):
    m = _two_outputs(layers, pyseq.Model, pyseq.Input)
    m.compile("sgd", ["binary_crossentropy", "mse"], metrics=spec)
    logs = m.fit(X, [Y, YR], epochs=1, verbose=0).history
    assert sorted(logs) == sorted(["loss", "cls_loss", "reg_loss"] + keys)
