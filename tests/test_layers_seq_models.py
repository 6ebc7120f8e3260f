"""The sequence layers inside models: the issue's examples, masks through graphs, training."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

import pyseq
from pyseq import layers, ops
from pyseq.models import Model, Sequential

from layer_checks import KERAS_WARNINGS, check_layer_gradients, keras_or_skip, to_numpy

pytestmark = KERAS_WARNINGS
needs = {name: pytest.mark.skipif(not hasattr(ops, f"{name}_forward"),
                                  reason=f"ops.{name}_forward has not landed on this branch")
         for name in ("rnn", "gru", "conv1d", "attention")}


@needs["rnn"]
def test_stacked_simple_rnn_params():
    model = Sequential([layers.Input(shape=(None,), dtype="int32"), layers.Embedding(1000, 32),
                        layers.SimpleRNN(32, return_sequences=True), layers.SimpleRNN(32),
                        layers.Dense(1)])
    assert model.count_params() == 36193
    x = np.random.default_rng(0).integers(0, 1000, (4, 7))
    assert model.predict(x, verbose=0).shape == (4, 1)


def _encoder_decoder():
    enc_input = layers.Input(shape=(4, 171))
    _, state_h, state_c = layers.LSTM(128, return_state=True)(enc_input)
    dec_input = layers.Input(shape=(3, 171))
    lstm_out = layers.LSTM(128, return_sequences=True)(dec_input, initial_state=[state_h, state_c])
    dec_output = layers.Dense(171, activation="softmax")(lstm_out)
    return Model(inputs=[enc_input, dec_input], outputs=dec_output)


def test_encoder_decoder_trains_the_encoder():
    model = _encoder_decoder()
    assert model.count_params() == 329259
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    rng = np.random.default_rng(0)
    xe, xd = rng.random((8, 4, 171)).astype("float32"), rng.random((8, 3, 171)).astype("float32")
    y = rng.integers(0, 171, (8, 3))
    before = [w.copy() for w in model.get_weights()]
    losses = [float(model.train_on_batch([xe, xd], y)) for _ in range(5)]
    after = model.get_weights()
    assert losses[-1] < losses[0]
    assert not np.allclose(before[0], after[0])  # the encoder's kernel moved: states carry grads


def test_bidirectional_lstm_classifier_learns():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, (256, 12))
    y = (x[:, :3].sum(1) > 75).astype("float32")  # depends on the first steps
    model = Sequential([layers.Embedding(50, 8), layers.Bidirectional(layers.LSTM(8)),
                        layers.Dense(8, activation="relu"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=4, validation_split=0.2, verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < loss[0]
    assert "val_accuracy" in history.history


def test_input_shape_through_bidirectional():
    model = Sequential([layers.Bidirectional(layers.LSTM(3, input_shape=(5, 2))), layers.Dense(1)])
    assert model.count_params() == 2 * 4 * 3 * (2 + 3 + 1) + 7


def test_masks_reach_the_rnn():
    # Embedding(mask_zero=True): trailing zeros are padding, so a padded sequence gives the same
    # output as the unpadded one.
    emb = layers.Embedding(20, 4, mask_zero=True)
    rnn = layers.LSTM(5)
    inp = layers.Input(shape=(None,), dtype="int32")
    model = Model(inp, rnn(emb(inp)))
    short = np.array([[3, 4, 5]])
    padded = np.array([[3, 4, 5, 0, 0]])
    np.testing.assert_allclose(model.predict(short, verbose=0), model.predict(padded, verbose=0),
                               rtol=1e-6)


@needs["gru"]
@needs["conv1d"]
def test_masked_gru_sequence_into_pooling():
    inp = layers.Input(shape=(None,), dtype="int32")
    h = layers.Embedding(20, 4, mask_zero=True)(inp)
    h = layers.GRU(6, return_sequences=True)(h)
    out = layers.GlobalAveragePooling1D()(h)
    model = Model(inp, out)
    a = model.predict(np.array([[3, 4, 5]]), verbose=0)
    b = model.predict(np.array([[3, 4, 5, 0, 0]]), verbose=0)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@needs["conv1d"]
def test_conv_pool_model_trains():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 20, 3)).astype("float32")
    y = (x[:, :, 0].max(1) > 1.5).astype("float32")
    model = Sequential([layers.Input(shape=(20, 3)),
                        layers.Conv1D(8, 3, padding="causal", activation="relu"),
                        layers.MaxPooling1D(2), layers.Conv1D(8, 3, dilation_rate=2),
                        layers.AveragePooling1D(2, padding="same"), layers.GlobalMaxPooling1D(),
                        layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@needs["attention"]
@needs["conv1d"]
def test_self_attention_model_with_masks():
    inp = layers.Input(shape=(None,), dtype="int32")
    h = layers.Embedding(30, 8, mask_zero=True)(inp)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=4)(h, h)
    b = layers.Attention()([h, h])
    out = layers.GlobalAveragePooling1D()(a + b)
    model = Model(inp, layers.Dense(1)(out))
    assert model.count_params() == 30 * 8 + (3 * (8 * 8 + 8) + 8 * 8 + 8) + 9
    x1 = np.array([[3, 4, 5, 6]])
    x2 = np.array([[3, 4, 5, 6, 0, 0]])
    np.testing.assert_allclose(model.predict(x1, verbose=0), model.predict(x2, verbose=0),
                               rtol=1e-5, atol=1e-6)
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, (32, 6))
    y = (x[:, 0] > 15).astype("float32")[:, None]
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_keras_parity_model():
    keras = keras_or_skip()
    x = np.random.default_rng(0).integers(0, 50, (4, 9))
    x[1, 6:] = 0
    k = keras.Sequential([keras.layers.Input(shape=(9,), dtype="int32"),
                          keras.layers.Embedding(50, 6, mask_zero=True),
                          keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True)),
                          keras.layers.LSTM(4), keras.layers.Dense(2)])
    p = Sequential([layers.Input(shape=(9,), dtype="int32"),
                    layers.Embedding(50, 6, mask_zero=True),
                    layers.Bidirectional(layers.LSTM(5, return_sequences=True)), layers.LSTM(4),
                    layers.Dense(2)])
    assert k.count_params() == p.count_params()
    p.set_weights(k.get_weights())
    np.testing.assert_allclose(p.predict(x, verbose=0), to_numpy(k(x)), rtol=1e-5, atol=1e-6)



def _masking_input():
    x = np.random.default_rng(3).standard_normal((5, 7, 3)).astype("float32")
    x[0, 4:] = 0.0
    x[2, :2] = -1.0
    x[3, 3, 0] = 0.0  # one zero feature is not a masked step
    return x


def test_masking_layer():
    x = _masking_input()
    for mask_value in (0.0, -1.0):
        m = layers.Masking(mask_value=mask_value)
        keep = ~np.all(x == mask_value, axis=-1)
        np.testing.assert_array_equal(m.compute_mask(x), keep)
        np.testing.assert_array_equal(m(x), x * keep[..., None])
        # the mask is a constant of the step (as in Keras): masked steps get no gradient, and
        # finite differences apply where no step sits on mask_value
        _, cache = m.forward(x)
        d = m.backward(cache, np.ones_like(x))[0]["inputs"]
        np.testing.assert_array_equal(d, np.broadcast_to(keep[..., None], x.shape))
    check_layer_gradients(layers.Masking(dtype="float64"), x.astype("float64")[1:2] + 3.0)


@KERAS_WARNINGS
def test_masking_then_lstm_matches_keras():
    keras = keras_or_skip()
    x = _masking_input()
    inp = keras.Input((7, 3))
    kmodel = keras.Model(inp, keras.layers.Dense(2)(keras.layers.LSTM(4)(keras.layers.Masking()(inp))))
    pinp = pyseq.Input((7, 3))
    model = Model(pinp, layers.Dense(2)(layers.LSTM(4)(layers.Masking()(pinp))))
    model.set_weights(kmodel.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), to_numpy(kmodel.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
