"""Keras's cell API: RNN(LSTMCell/GRUCell/SimpleRNNCell), several cells stacked, cells called
on one step. NumPy-only: RNN(cell) is the fused layer of that cell, stacks are the layers in
turn, gradients by finite differences; then against Keras (outputs, nested states, fit)."""

import numpy as np
import pytest

import pyseq
from layers_helpers import (check_layer_gradients, import_keras, keras_weights, numeric_grad,
                           to_numpy)
from pyseq import layers

RNG = np.random.default_rng(47)
X = RNG.standard_normal((3, 5, 4))
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 1, 1, 1]], bool)


@pytest.mark.parametrize("cell,layer", [("LSTMCell", "LSTM"), ("GRUCell", "GRU"),
                                        ("SimpleRNNCell", "SimpleRNN")])
@pytest.mark.parametrize("opts", [{}, {"return_sequences": True, "go_backwards": True},
                                  {"return_state": True}])
def test_rnn_of_a_cell_is_the_fused_layer(cell, layer, opts):
    rnn = layers.RNN(getattr(layers, cell)(3, dtype="float64"), dtype="float64", **opts)
    ref = getattr(layers, layer)(3, dtype="float64", **opts)
    rnn(X)
    ref(X)
    weights = [RNG.uniform(-0.5, 0.5, w.shape) for w in ref.weights]
    ref.set_weights(weights)
    rnn.set_weights(weights)
    assert rnn.count_params() == ref.count_params()
    for a, b in zip(*(o if isinstance(o, list) else [o] for o in
                      (rnn(X, mask=MASK), ref(X, mask=MASK)))):
        np.testing.assert_array_equal(a, b)


def test_stacked_cells_run_in_turn_with_nested_states():
    cells = [layers.LSTMCell(3, dtype="float64"), layers.GRUCell(2, dtype="float64")]
    rnn = layers.RNN(cells, return_state=True, go_backwards=True, dtype="float64")
    out, (h1, c1), (h2,) = rnn(X, mask=MASK)
    # Keras's symbolic nesting (its eager call, above, nests the one-state cell's state)
    assert rnn.compute_output_shape((None, 5, 4)) == [(None, 2), [(None, 3), (None, 3)],
                                                      (None, 2)]
    first = layers.LSTM(3, return_sequences=True, return_state=True, dtype="float64")
    second = layers.GRU(2, return_state=True, dtype="float64")
    first(X)
    second(np.zeros((3, 5, 3)))
    first.set_weights(rnn.get_weights()[:3])
    second.set_weights(rnn.get_weights()[3:])
    # go_backwards: the whole stack reads the reversed sequence (and mask)
    seq, rh1, rc1 = first(X[:, ::-1], mask=MASK[:, ::-1])
    rout, rh2 = second(np.asarray(seq), mask=MASK[:, ::-1])
    for a, b in ((out, rout), (h1, rh1), (c1, rc1), (h2, rh2)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for w in rnn.weights:
        w.assign(RNG.uniform(-0.5, 0.5, w.shape))
    seq_rnn = layers.RNN([layers.SimpleRNNCell(2, dtype="float64"),
                          layers.LSTMCell(1, dtype="float64")], return_sequences=True,
                         go_backwards=True, dtype="float64")
    small = np.ascontiguousarray(X[:2, :4, :2])  # numeric_grad perturbs in place
    seq_rnn(small)
    check_layer_gradients(seq_rnn, small, mask=MASK[1:, :4])
    out, cache = rnn.forward(X, mask=MASK)
    d = [RNG.standard_normal(out[0].shape), [RNG.standard_normal((3, 3)), None], [None]]
    assert rnn.backward(cache, d)[0]["inputs"].shape == X.shape


def test_a_cell_called_on_one_step():
    cell = layers.LSTMCell(3, dtype="float64")
    h0, c0 = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3))
    h, (h1, c1) = cell(X[:, 0], [h0, c0])
    ref = layers.LSTM(3, return_state=True, dtype="float64")
    ref(X)
    ref.set_weights(cell.get_weights())
    rh, _, rc = ref(X[:, :1], initial_state=[h0, c0])
    np.testing.assert_allclose(h, rh)
    np.testing.assert_allclose(c1, rc)
    assert (cell.state_size, cell.output_size) == ([3, 3], 3)
    assert layers.GRUCell(4).state_size == 4
    # gradients of sum(h * dh) + sum(c * dc) by finite differences (the output is nested)
    x = X[:, 0].copy()
    dh, dc = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3))

    def f():
        out, _ = cell.forward(x, states=[h0, c0])
        return float(np.sum(out[0] * dh) + np.sum(out[1][1] * dc))
    out, cache = cell.forward(x, states=[h0, c0])
    d_args, grads = cell.backward(cache, [dh, [None, dc]])
    np.testing.assert_allclose(d_args["inputs"], numeric_grad(f, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d_args["states"][1], numeric_grad(f, c0), rtol=1e-6, atol=1e-8)
    for var, g in grads:
        np.testing.assert_allclose(g, numeric_grad(f, var.value), rtol=1e-6, atol=1e-8)


def test_configs_and_errors():
    rnn = layers.RNN([layers.LSTMCell(3), layers.GRUCell(2, reset_after=False)],
                     return_sequences=True)
    clone = layers.RNN.from_config(rnn.get_config())
    assert clone.get_config() == rnn.get_config()
    assert [type(c).__name__ for c in clone.cell.cells] == ["LSTMCell", "GRUCell"]
    with pytest.raises(ValueError, match=r"\[RNN\] cell must be"):
        layers.RNN(layers.Dense(3))
    with pytest.raises(ValueError, match=r"\[LSTMCell\] a step takes inputs of rank 2"):
        layers.LSTMCell(3)(X)


@pytest.mark.parametrize("cells,opts", [
    (["LSTMCell"], {"return_sequences": True, "return_state": True, "go_backwards": True}),
    (["GRUCell", "SimpleRNNCell"], {"return_state": True}),
    (["SimpleRNNCell", "LSTMCell", "GRUCell"], {"return_sequences": True, "go_backwards": True}),
])
def test_rnn_matches_keras(cells, opts):
    keras = import_keras()
    import torch
    x = X.astype(np.float32)
    k_cells = [getattr(keras.layers, c)(3) for c in cells]
    k = keras.layers.RNN(k_cells if len(k_cells) > 1 else k_cells[0], **opts)
    k_out = k(x, mask=torch.as_tensor(MASK))
    p = layers.RNN.from_config(k.get_config())
    p(x)
    p.set_weights(keras_weights(k))
    p_out = p(x, mask=MASK)

    def flat(v):
        return [u for w in v for u in flat(w)] if isinstance(v, (list, tuple)) else [v]
    k_flat, p_flat = flat(k_out), flat(p_out)
    assert len(k_flat) == len(p_flat)
    for a, b in zip(k_flat, p_flat):
        np.testing.assert_allclose(np.asarray(b), to_numpy(a), rtol=1e-5, atol=1e-6)


def test_model_with_rnn_cells_follows_keras_fit():
    keras = import_keras()
    ids = RNG.integers(1, 20, (9, 6))
    ids[0, 3:] = 0
    y = RNG.integers(0, 2, (9, 1)).astype(np.float32)

    def build(L, Model, Input):
        i = Input((6,), dtype="int32")
        e = L.Embedding(20, 5, mask_zero=True)(i)
        h = L.RNN([L.LSTMCell(4), L.GRUCell(3)], return_sequences=True)(e)
        h = L.RNN(L.SimpleRNNCell(2))(h)
        return Model(i, L.Dense(1, activation="sigmoid")(h))
    k = build(keras.layers, keras.Model, keras.Input)
    p = build(layers, pyseq.Model, pyseq.Input)
    p.set_weights(keras_weights(k))
    k.compile("adam", "binary_crossentropy")
    p.compile("adam", "binary_crossentropy")
    opts = dict(epochs=2, batch_size=4, verbose=0, shuffle=False)
    np.testing.assert_allclose(p.fit(ids, y, **opts).history["loss"],
                               k.fit(ids, y, **opts).history["loss"], rtol=1e-5)
