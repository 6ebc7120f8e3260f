"""Functional and Sequential models: graph gradients against float64 finite differences (shared
layers, nested models, constants, several inputs and outputs, symbolic arithmetic), Keras 3 for
weight order, outputs, losses and gradients, masks, summary, save/load, errors."""

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, keras_weights, numeric_grad, to_numpy
from pyseq import Input, Model, Sequential, layers

RNG = np.random.default_rng(7)


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def check_model_gradients(model, xs, rtol=1e-5):
    """Model gradients of sum(outputs * d) against central differences on every weight."""
    outs, cache = model.forward_for_gradients(xs, training=False)
    flat = outs if isinstance(outs, list) else [outs]
    d = [RNG.standard_normal(o.shape) for o in flat]
    grads = model.gradients_from(cache, d if isinstance(outs, list) else d[0])

    def f():
        o, _ = model.forward_for_gradients(xs, training=False)
        o = o if isinstance(o, list) else [o]
        return float(sum(np.sum(a * b) for a, b in zip(o, d)))

    assert len(grads) == len(model.trainable_weights)
    for var, g in zip(model.trainable_weights, grads):
        expected = numeric_grad(f, var.value)
        scale = max(1.0, np.abs(expected).max())
        np.testing.assert_allclose(g, expected, rtol=rtol, atol=1e-7 * scale, err_msg=var.name)


# ------------------------------------------------------------------------------------------
# graph structure and gradients
# ------------------------------------------------------------------------------------------

def test_functional_graph_gradients_shared_nested_constant_multi_io():
    f64 = dict(dtype="float64")
    a = Input((4, 3), dtype="float64")
    b = Input((4, 3), dtype="float64")
    shared = layers.Dense(5, activation="tanh", **f64)
    ha, hb = shared(a), shared(b)                        # a layer called twice: gradients sum
    pos_table = layers.Embedding(4, 5, **f64)
    pos = pos_table(np.arange(4))                        # learned positions over a constant
    mixed = ha * hb - ha + pos                           # symbolic arithmetic, broadcasting
    inner_in = Input((4, 5), dtype="float64")
    inner = Model(inner_in, layers.LayerNormalization(**f64)(
        layers.Dense(5, **f64)(inner_in)), name="inner")
    nested = inner(mixed)                                # a model used as a layer
    out1 = layers.Dense(2, activation="softmax", **f64)(layers.Flatten(**f64)(nested))
    out2 = layers.concatenate([nested, hb], axis=-1, **f64)
    model = Model([a, b], [out1, out2])
    names = [type(la).__name__ for la in model.layers]
    assert names.count("Embedding") == 1 and names.count("Dense") == 2  # the shared one once
    assert model.get_layer("inner") is inner
    # the position table is a model weight and trains
    assert any(v is pos_table.embeddings for v in model.trainable_weights)
    check_model_gradients(model, [randn(2, 4, 3), randn(2, 4, 3)])


def test_model_call_eager_and_symbolic():
    inp = Input((3,))
    m = Model(inp, layers.Dense(2)(inp))
    x = randn(4, 3, dtype=np.float32)
    np.testing.assert_allclose(m(x), m.predict(x, verbose=0), rtol=1e-6)
    outer_in = Input((3,))
    outer = Model(outer_in, layers.Dense(1)(m(outer_in)))
    assert outer.count_params() == 3 * 2 + 2 + 2 + 1
    assert outer.predict(x, verbose=0).shape == (4, 1)


def test_return_state_outputs_are_separate_tensors():
    inp = Input((5, 3))
    out, h, c = layers.LSTM(4, return_state=True)(inp)
    assert out.shape == h.shape == c.shape == (None, 4)
    model = Model(inp, [out, h, c])
    y, hh, cc = model.predict(randn(2, 5, 3, dtype=np.float32), verbose=0)
    np.testing.assert_array_equal(y, hh)


def test_graph_errors():
    a, b = Input((3,)), Input((3,))
    with pytest.raises(ValueError, match="disconnected"):
        Model(a, layers.Dense(2)(b))
    with pytest.raises(ValueError, match="symbolic tensors"):
        Model(a, np.zeros(3))
    m = Model(a, layers.Dense(2)(a))
    with pytest.raises(ValueError, match="rank 2"):
        m.predict(np.zeros((2, 3, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"shape \(None, 3\)"):
        m.predict(np.zeros((2, 4)), verbose=0)
    with pytest.raises(ValueError, match="compile"):
        m.fit(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0)
    with pytest.raises(ValueError, match="unknown loss"):
        m.compile("adam", loss="nope")
    with pytest.raises(ValueError, match="unknown optimizer"):
        m.compile("nope", loss="mse")
    with pytest.raises(ValueError, match="unknown metric"):
        m.compile("adam", loss="mse", metrics=["nope"])
        m.fit(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0)
    with pytest.raises(ValueError, match="input_layer|matching|last axis"):
        layers.Dense(2)(layers.Concatenate()([Input((3, 2)), Input((4, 2))]))


# ------------------------------------------------------------------------------------------
# Sequential
# ------------------------------------------------------------------------------------------

def test_sequential_forms_and_counts():
    m = Sequential([layers.Embedding(1000, 32), layers.SimpleRNN(32, return_sequences=True),
                    layers.SimpleRNN(32), layers.Dense(1)])
    with pytest.raises(ValueError, match="not built"):
        m.count_params()
    m.predict(RNG.integers(0, 1000, (2, 10)), verbose=0)   # built lazily on the first data
    assert m.count_params() == 36193
    m2 = Sequential(name="stack")
    m2.add(Input((8,)))
    m2.add(layers.Dense(4))
    m2.add(layers.Dense(2))
    assert m2.count_params() == 8 * 4 + 4 + 4 * 2 + 2 and m2.name == "stack"
    m3 = Sequential([layers.Dense(4, input_shape=(8,)), layers.Dense(2)])
    assert m3.count_params() == m2.count_params()
    assert [la.name for la in m3.layers] == [m3.layers[0].name, m3.layers[1].name]
    with pytest.raises(ValueError, match="rank 2"):
        m3.add(layers.RepeatVector(2))
        m3.add(layers.RepeatVector(2))
    assert m3.pop().__class__.__name__ == "RepeatVector"
    with pytest.raises(ValueError, match="list of inputs"):
        Sequential([Input((3,)), layers.Dense(2), layers.Reshape((1, 2)),
                    layers.Dense(2), layers.Concatenate()])


# ------------------------------------------------------------------------------------------
# Keras: weights, outputs, losses, gradients, summary
# ------------------------------------------------------------------------------------------

def _keras_functional(keras, pyseq_mode):
    L = layers if pyseq_mode else keras.layers
    I = Input if pyseq_mode else keras.Input
    M = Model if pyseq_mode else keras.Model
    a = I((6, 4))
    b = I((3,))
    h = L.Dense(8, activation="relu")(a)
    h = L.LayerNormalization()(h)
    h = L.TimeDistributed(L.Dense(5))(h)
    h = L.Flatten()(h)
    g = L.BatchNormalization()(L.Dense(5)(b))
    h = L.Concatenate()([h, g])
    out1 = L.Dense(3, activation="softmax", name="probs")(h)
    out2 = L.Dense(1, name="value")(L.Add()([g, L.Dense(5)(b)]))
    return M([a, b], [out1, out2])


def _keras_grads(model, loss_fns, weights, xs, ys):
    import torch
    outs = model(xs, training=True)
    total = sum(w * fn(torch.as_tensor(y), o) for fn, w, y, o in zip(loss_fns, weights, ys, outs))
    grads = torch.autograd.grad(total, [v.value for v in model.trainable_weights])
    return float(total.detach()), [to_numpy(g) for g in grads]


def test_functional_model_matches_keras():
    keras = import_keras()
    k = _keras_functional(keras, False)
    p = _keras_functional(keras, True)
    assert p.count_params() == k.count_params()
    assert len(p.trainable_weights) == len(k.trainable_weights)
    assert [w.shape for w in p.get_weights()] == [tuple(w.shape) for w in k.weights]
    p.set_weights(keras_weights(k))
    xs = [randn(5, 6, 4, dtype=np.float32), randn(5, 3, dtype=np.float32)]
    k_out = [to_numpy(o) for o in k(xs)]
    for a, b in zip(p.predict(xs, verbose=0), k_out):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    ys = [RNG.integers(0, 3, 5), randn(5, 1, dtype=np.float32)]
    p.compile("sgd", loss={"probs": "sparse_categorical_crossentropy", "value": "mse"},
              loss_weights=[0.5, 2.0])
    loss, grads = p.compute_gradients(xs, ys)
    k_loss, k_grads = _keras_grads(k, [keras.losses.SparseCategoricalCrossentropy(),
                                       keras.losses.MeanSquaredError()], [0.5, 2.0], xs, ys)
    assert loss == pytest.approx(k_loss, rel=1e-5)
    for g, kg, v in zip(grads, k_grads, p.trainable_weights):
        np.testing.assert_allclose(g, kg, rtol=1e-3, atol=1e-5, err_msg=v.name)


def test_get_set_weights_move_between_keras_and_pyseq():
    keras = import_keras()
    x = RNG.integers(1, 50, (4, 7))
    k = keras.Sequential([keras.Input((7,)), keras.layers.Embedding(50, 8),
                          keras.layers.Bidirectional(keras.layers.LSTM(6)),
                          keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
    p = Sequential([Input((7,)), layers.Embedding(50, 8), layers.Bidirectional(layers.LSTM(6)),
                    layers.Dense(4, activation="relu"), layers.Dense(1, activation="sigmoid")])
    assert p.count_params() == k.count_params()
    p.set_weights(keras_weights(k))
    np.testing.assert_allclose(p.predict(x, verbose=0), to_numpy(k(x)), rtol=1e-4, atol=1e-6)
    for kv, w in zip(k.weights, p.get_weights()):   # and back
        kv.assign(w * 0.5)
    p.set_weights([w * 0.5 for w in p.get_weights()])
    np.testing.assert_allclose(p.predict(x, verbose=0), to_numpy(k(x)), rtol=1e-4, atol=1e-6)


def test_mask_propagation_matches_keras():
    """Embedding(mask_zero) -> LSTM(return_sequences) -> Dense, with a masked per-step loss."""
    keras = import_keras()

    def build(L, I, M):
        inp = I((6,))
        h = L.Embedding(20, 5, mask_zero=True)(inp)
        h = L.LSTM(4, return_sequences=True)(h)
        return M(inp, L.Dense(3)(h))

    k = build(keras.layers, keras.Input, keras.Model)
    p = build(layers, Input, Model)
    p.set_weights(keras_weights(k))
    x = np.array([[3, 4, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6], [7, 0, 2, 0, 0, 0]])
    np.testing.assert_allclose(p.predict(x, verbose=0), to_numpy(k(x)), rtol=1e-4, atol=1e-5)
    y = RNG.integers(0, 3, (3, 6))
    k.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    p.compile("sgd", loss=pyseq.losses.SparseCategoricalCrossentropy(from_logits=True))
    k_loss = k.evaluate(x, y, verbose=0)
    assert p.evaluate(x, y, verbose=0) == pytest.approx(k_loss, rel=1e-5)


def test_summary_matches_keras_counts(capsys):
    keras = import_keras()
    k = _keras_functional(keras, False)
    p = _keras_functional(keras, True)
    k_lines = []
    k.summary(print_fn=lambda line, *a, **kw: k_lines.extend(line.split("\n")))
    p.summary()
    text = capsys.readouterr().out
    for key in ("Total params", "Trainable params", "Non-trainable params"):
        k_line = next(s for s in k_lines if key in s).strip()
        p_line = next(s for s in text.splitlines() if key in s).strip()
        assert p_line == k_line
    assert "Layer (type)" in text and "Output Shape" in text and "Connected to" in text
    assert "(None, 6, 8)" in text and "BatchNormalization" in text
    s = Sequential([Input((4,)), layers.Dense(3)], name="seq")
    s.summary()
    text = capsys.readouterr().out
    assert 'Model: "seq"' in text and "Connected to" not in text and "(None, 3)" in text
    assert "Total params: 15 (60.00 B)" in text
    unbuilt = Sequential([layers.Embedding(100, 6), layers.Dense(2)])
    unbuilt.summary()
    text = capsys.readouterr().out
    assert text.count("0 (unbuilt)") == 2 and "Total params: 0 (0.00 B)" in text
    a = Input((3,))
    Model(a, layers.Add()([layers.Dense(4, name="d1")(a), layers.Dense(4, name="d2")(a)])).summary()
    text = capsys.readouterr().out
    assert "d1[0][0]," in text and "d2[0][0] " in text


# ------------------------------------------------------------------------------------------
# the issue's programs, training, save / load
# ------------------------------------------------------------------------------------------

def test_issue_program_bidirectional_imdb(capsys):
    x = RNG.integers(1, 10000, (80, 12))
    y = (x[:, 0] > 5000).astype("float32")
    model = Sequential([layers.Embedding(10000, 32), layers.Bidirectional(layers.LSTM(64)),
                        layers.Dense(64, activation="relu"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=2, validation_split=0.2)
    assert set(history.history) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    assert len(history.history["loss"]) == 2
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "2/2" in out and "val_loss" in out
    assert model.count_params() == 10000 * 32 + 2 * 4 * (64 * (32 + 64) + 64) + 128 * 64 + 64 + 65


def test_issue_program_encoder_decoder():
    enc_input = layers.Input(shape=(4, 171))
    _, state_h, state_c = layers.LSTM(128, return_state=True)(enc_input)
    dec_input = layers.Input(shape=(3, 171))
    lstm_out = layers.LSTM(128, return_sequences=True)(dec_input,
                                                       initial_state=[state_h, state_c])
    dec_output = layers.Dense(171, activation="softmax")(lstm_out)
    model = Model(inputs=[enc_input, dec_input], outputs=dec_output)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    assert model.count_params() == 329259
    assert [type(la).__name__ for la in model.layers] == ["InputLayer", "InputLayer", "LSTM",
                                                          "LSTM", "Dense"]
    xe, xd = randn(16, 4, 171, dtype=np.float32), randn(16, 3, 171, dtype=np.float32)
    y = RNG.integers(0, 171, (16, 3))
    h = model.fit([xe, xd], y, epochs=3, batch_size=8, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_training_lowers_the_loss_and_beats_chance():
    x = randn(256, 10, dtype=np.float32)
    w = randn(10, 3, dtype=np.float32)
    y = np.argmax(x @ w, axis=1)
    model = Sequential([Input((10,)), layers.Dense(16, activation="relu"),
                        layers.Dense(3, activation="softmax")])
    model.compile(pyseq.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    assert h.history["accuracy"][-1] > 0.8


def test_custom_training_loop_matches_fit():
    x, y = randn(64, 5, dtype=np.float32), randn(64, 1, dtype=np.float32)

    def make():
        m = Sequential([Input((5,)), layers.Dense(8, activation="tanh",
                                                  kernel_initializer=pyseq.initializers.
                                                  GlorotUniform(seed=1)),
                        layers.Dense(1, kernel_initializer=pyseq.initializers.
                                     GlorotUniform(seed=2))])
        m.compile(pyseq.optimizers.SGD(0.1), "mse")
        return m

    a, b = make(), make()
    a.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    opt = pyseq.optimizers.SGD(0.1)
    for _ in range(2):
        for i in range(0, 64, 16):
            loss, grads = b.compute_gradients(x[i:i + 16], y[i:i + 16])
            assert all(isinstance(g, np.ndarray) and g.dtype == np.float32 for g in grads)
            opt.apply(grads, b.trainable_weights)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)
    # an arbitrary upstream gradient: d(sum(out * 2))/dw
    out, cache = b.forward_for_gradients(x)
    g2 = b.gradients_from(cache, np.full_like(out, 2.0))
    _, g1 = b.compute_gradients(x, y)
    assert g2[-1].shape == g1[-1].shape and g2[-1][0] == pytest.approx(2.0 * 64)


def test_save_load_round_trip(tmp_path):
    inp = Input((3,))
    m = Model(inp, layers.BatchNormalization()(layers.Dense(4)(inp)))
    x = randn(8, 3, dtype=np.float32)
    m.compile("adam", "mse")
    m.fit(x, randn(8, 4), epochs=1, verbose=0)
    path = tmp_path / "w.npz"
    m.save_weights(path)
    inp2 = Input((3,))
    m2 = Model(inp2, layers.BatchNormalization()(layers.Dense(4)(inp2)))
    m2.load_weights(path)
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))
    with pytest.raises(ValueError, match="npz"):
        m.save_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match="expected"):
        Model(inp2, layers.Dense(4)(inp2)).load_weights(path)


def test_weights_properties_and_trainable():
    inp = Input((3,))
    bn = layers.BatchNormalization()
    d = layers.Dense(2)
    m = Model(inp, bn(d(inp)))
    assert len(m.weights) == 6 and len(m.trainable_weights) == 4
    assert len(m.non_trainable_weights) == 2
    d.trainable = False
    assert len(m.trainable_weights) == 2 and len(m.non_trainable_weights) == 4
    m.compile("sgd", "mse")
    before = d.get_weights()
    m.fit(randn(4, 3), randn(4, 2), verbose=0)
    for a, b in zip(before, d.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_masks_reach_attention_and_pooling_like_keras():
    """Keyword tensors carry their masks too: MultiHeadAttention(query, value) gets value_mask
    from the value's Embedding(mask_zero=True), pooling the query's mask, as in Keras."""
    keras = import_keras()

    def build(L, I, M):
        q_in, v_in = I((5,)), I((7,))
        q = L.Embedding(30, 8, mask_zero=True)(q_in)
        v = L.Embedding(30, 8, mask_zero=True)(v_in)
        h = L.MultiHeadAttention(num_heads=2, key_dim=4)(q, v)
        return M([q_in, v_in], L.Dense(2)(L.GlobalAveragePooling1D()(h)))

    k = build(keras.layers, keras.Input, keras.Model)
    p = build(layers, Input, Model)
    assert p.count_params() == k.count_params()
    p.set_weights(keras_weights(k))
    xq = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 7]])
    xv = np.array([[1, 2, 3, 0, 0, 0, 0], [9, 8, 0, 0, 0, 0, 0]])
    np.testing.assert_allclose(p.predict([xq, xv], verbose=0), to_numpy(k([xq, xv])),
                               rtol=1e-4, atol=1e-5)
    mha = layers.MultiHeadAttention(num_heads=3, key_dim=32)
    Model(inp := Input((4, 32)), mha(inp, inp))
    assert mha.count_params() == 12608


def test_input_arguments():
    t = Input(shape=(3,), batch_size=4, name="features")
    assert t.shape == (4, 3) and t.node.layer.name == "features" and t.dtype == "float32"
    assert Input(batch_shape=(None, 5, 2)).shape == (None, 5, 2)
    assert Input((7,), dtype="int32").dtype == "int32"
    assert pyseq.Input is layers.Input is Input
    with pytest.raises(ValueError, match="sparse"):
        Input((3,), sparse=True)
    with pytest.raises(ValueError, match="shape"):
        Input()


def test_layer_input_output_views_build_feature_extractors():
    inp = pyseq.Input((6, 3))
    lstm = layers.LSTM(5, return_sequences=True)
    dense = layers.Dense(2)
    model = pyseq.Model(inp, dense(lstm(inp)))
    assert model.input is inp and model.output is dense.output and lstm.input is inp
    assert model.layers[0].output is inp and model.layers[0].input is inp
    features = pyseq.Model(model.inputs, model.layers[1].output)
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype("float32")
    np.testing.assert_array_equal(features.predict(x, verbose=0), lstm(x))
    seq = pyseq.Sequential([pyseq.Input((6, 3)), layers.LSTM(4), layers.Dense(1)])
    assert seq.layers[0].output.shape == (None, 4) and seq.output.shape == (None, 1)
    with pytest.raises(ValueError, match=r"has never been called on a symbolic tensor"):
        layers.Dense(3).output
    with pytest.raises(ValueError, match=r"has no output yet"):
        pyseq.Sequential([layers.Dense(3)]).output
