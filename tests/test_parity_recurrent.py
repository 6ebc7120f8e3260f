"""Recurrent layers against Keras 3 (torch backend), on what an independent parity probe found:
each test here failed before the fix it names. The broad option sweeps live in
test_layers_recurrent.py and test_rnn_cells.py."""

import numpy as np
import pytest

import pyseq
from layer_checks import KERAS_WARNINGS, keras_or_skip, to_numpy
from layers_helpers import keras_weights
from pyseq import layers

pytestmark = KERAS_WARNINGS


def _predict_and_fit_as_keras(keras, build, x, y, epochs):
    """build(layers, Model, Input) on both sides with Keras's weights: the same predictions,
    then the same loss history over a few epochs of SGD."""
    k = build(keras.layers, keras.Model, keras.Input)
    p = build(layers, pyseq.Model, pyseq.Input)
    p.set_weights(keras_weights(k))
    np.testing.assert_allclose(p.predict(x, verbose=0), to_numpy(k.predict(x, verbose=0)),
                               rtol=1e-4, atol=1e-5)
    k.compile(keras.optimizers.SGD(0.1), "mse")
    p.compile(pyseq.optimizers.SGD(0.1), "mse")
    opts = dict(epochs=epochs, batch_size=2, verbose=0, shuffle=False)
    np.testing.assert_allclose(p.fit(x, y, **opts).history["loss"],
                               k.fit(x, y, **opts).history["loss"], rtol=1e-4, atol=1e-6)


def _flat(v):
    return [u for w in v for u in _flat(w)] if isinstance(v, (list, tuple)) else [v]


def _zeros_like(v):
    return [_zeros_like(w) for w in v] if isinstance(v, (list, tuple)) else np.zeros_like(v)


# -- an empty batch: Keras returns empty outputs and zero gradients, the kernels need B >= 1 ----
EMPTY_CASES = {
    "lstm": lambda L: L.LSTM(3, return_sequences=True, return_state=True),
    "gru": lambda L: L.GRU(3, go_backwards=True, return_state=True),
    "gru_v1": lambda L: L.GRU(2, reset_after=False, use_bias=False),
    "simple_rnn_numpy_path": lambda L: L.SimpleRNN(3, activation="softsign"),
    "bidirectional": lambda L: L.Bidirectional(L.GRU(3, return_sequences=True)),
    "bidirectional_states": lambda L: L.Bidirectional(L.LSTM(3, return_state=True),
                                                      merge_mode="mul"),
    "stacked_cells": lambda L: L.RNN([L.LSTMCell(2), L.GRUCell(3)], return_state=True),
}


@pytest.mark.parametrize("case", list(EMPTY_CASES))
@pytest.mark.parametrize("masked", [False, True])
def test_empty_batch_matches_keras(case, masked):
    keras = keras_or_skip()
    import torch
    x = np.zeros((0, 4, 3), "float32")
    mask = np.ones((0, 4), bool) if masked else None
    k, p = EMPTY_CASES[case](keras.layers), EMPTY_CASES[case](layers)
    xt = torch.tensor(x, requires_grad=True)
    k_out = _flat(k(xt, mask=None if mask is None else torch.tensor(mask)))
    p(x, mask=mask)  # builds
    out, cache = p.forward(x, mask=mask)
    p_out = _flat(out)
    assert [np.shape(a) for a in p_out] == [tuple(a.shape) for a in k_out]
    assert all(a.dtype == np.float32 for a in p_out)
    sum(a.sum() for a in k_out).backward()
    d_args, grads = p.backward(cache, _zeros_like(out))
    assert d_args["inputs"].shape == tuple(xt.grad.shape) == x.shape
    assert len(grads) == len(k.trainable_weights)
    for (v, g), kv in zip(grads, k.trainable_weights):
        assert g.shape == tuple(kv.shape) == v.shape
        np.testing.assert_array_equal(g, to_numpy(kv.value.grad))


# -- RNN(stacked cells, return_state): Keras's symbolic nesting --------------------------------
STACKS = {
    "lstm_simple": lambda L: [L.LSTMCell(3), L.SimpleRNNCell(2)],
    "gru_simple": lambda L: [L.GRUCell(3), L.SimpleRNNCell(2)],
    "one_gru": lambda L: L.StackedRNNCells([L.GRUCell(3)]),
}


@pytest.mark.parametrize("stack", list(STACKS))
def test_stacked_cells_symbolic_states_nest_as_keras(stack):
    """A one-state cell's state in a stack is one tensor in Keras's symbolic call (a list of one
    in its eager call), so ``Dense(states[k])`` builds in a Keras model; the model then trains
    as Keras does."""
    keras = keras_or_skip()
    k_rnn = keras.layers.RNN(STACKS[stack](keras.layers), return_state=True)
    p_rnn = layers.RNN(STACKS[stack](layers), return_state=True)

    def shapes(s):
        return [shapes(a) for a in s] if isinstance(s[0], (list, tuple)) else tuple(s)
    assert shapes(p_rnn.compute_output_shape((None, 6, 4))) == \
        shapes(k_rnn.compute_output_shape((None, 6, 4)))

    def build(L, Model, Input):
        i = Input((6, 4))
        o = L.RNN(STACKS[stack](L), return_state=True, return_sequences=True)(i)
        heads = [L.GlobalAveragePooling1D()(o[0])]
        for s in o[1:]:
            heads += [L.Dense(2)(t) for t in (s if isinstance(s, list) else [s])]
        return Model(i, L.Dense(1)(L.Concatenate()(heads)))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6, 4)).astype("float32")
    y = rng.standard_normal((5, 1)).astype("float32")
    _predict_and_fit_as_keras(keras, build, x, y, epochs=3)


# -- Keras's state API: state_size, output_size, get_initial_state -------------------------------
STATE_API = {
    "lstm": lambda L: L.LSTM(3), "gru": lambda L: L.GRU(2), "simple_rnn": lambda L: L.SimpleRNN(4),
    "lstm_cell": lambda L: L.LSTMCell(3), "gru_cell": lambda L: L.GRUCell(2),
    "simple_rnn_cell": lambda L: L.SimpleRNNCell(5),
    "stacked": lambda L: L.StackedRNNCells([L.GRUCell(2), L.LSTMCell(3)]),
    "rnn_lstm_cell": lambda L: L.RNN(L.LSTMCell(3)), "rnn_gru_cell": lambda L: L.RNN(L.GRUCell(3)),
    "rnn_stack": lambda L: L.RNN([L.LSTMCell(3), L.SimpleRNNCell(2)]),
}


@pytest.mark.parametrize("case", list(STATE_API))
def test_state_size_and_initial_state_as_keras(case):
    keras = keras_or_skip()
    k, p = STATE_API[case](keras.layers), STATE_API[case](layers)

    def shapes(v):
        return [shapes(a) for a in v] if isinstance(v, (list, tuple)) else tuple(v.shape)
    assert p.state_size == k.state_size
    if hasattr(k, "output_size"):
        assert p.output_size == k.output_size
    init = p.get_initial_state(2)
    assert shapes(init) == shapes(k.get_initial_state(2))
    assert all(not a.any() for a in _flat(init))
    if isinstance(p, (layers.RNN, layers.LSTM, layers.GRU, layers.SimpleRNN)):
        x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype("float32")
        np.testing.assert_array_equal(_flat(p(x, initial_state=init)), _flat(p(x)))


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
def test_bidirectional_elementwise_merge_needs_equal_units(merge_mode):
    """Keras fails inside the call on the mismatched shapes; pyseq names the layer up front."""
    with pytest.raises(ValueError, match=r"\[Bidirectional\] merge_mode='%s' needs the forward "
                                         r"and backward layers to have the same units, got 3 "
                                         r"and 2" % merge_mode):
        layers.Bidirectional(layers.LSTM(3), backward_layer=layers.GRU(2, go_backwards=True),
                             merge_mode=merge_mode)
    # concat (and None) take different widths, as Keras
    x = np.zeros((2, 4, 5), "float32")
    out = layers.Bidirectional(layers.LSTM(3), backward_layer=layers.GRU(2, go_backwards=True))(x)
    assert out.shape == (2, 5)


# -- TimeDistributed hands the inner layer its slice of a 3-D mask ------------------------------
TD_INNER = {
    "lstm": lambda L: L.LSTM(3),
    "gru_seq": lambda L: L.GRU(2, return_sequences=True, go_backwards=True),
    "bidirectional": lambda L: L.Bidirectional(L.SimpleRNN(2)),
    "rnn_cells": lambda L: L.RNN([L.LSTMCell(2), L.GRUCell(2)]),
}


@pytest.mark.filterwarnings("ignore:Layer 'flatten.*does not support masking:UserWarning")
@pytest.mark.parametrize("inner", list(TD_INNER))
def test_time_distributed_passes_the_mask_to_the_inner_layer(inner):
    """Embedding(mask_zero) on (batch, sentences, words) ids, then TimeDistributed(<RNN>):
    Keras runs each sentence's RNN under its word mask (a fully padded sentence included)."""
    keras = keras_or_skip()
    rng = np.random.default_rng(5)
    ids = rng.integers(1, 15, (4, 3, 6))
    ids[0, 1, 3:] = 0
    ids[1, 2, :2] = 0
    ids[2, 0, :] = 0
    y = rng.standard_normal((4, 1)).astype("float32")

    def build(L, Model, Input):
        i = Input((3, 6), dtype="int32")
        h = L.TimeDistributed(TD_INNER[inner](L))(L.Embedding(15, 4, mask_zero=True)(i))
        return Model(i, L.Dense(1)(L.Flatten()(h)))
    _predict_and_fit_as_keras(keras, build, ids, y, epochs=2)


@pytest.mark.parametrize("masked", [False, True])
def test_time_distributed_batch_normalization_trains_per_step(masked):
    """Keras's TimeDistributed calls its layer once per step, so BatchNormalization in training
    normalises each step over the batch alone (under that step's mask) and updates its moving
    statistics once per step."""
    keras = keras_or_skip()
    rng = np.random.default_rng(8)
    scale = np.arange(1, 7, dtype="float32")[None, :, None]  # steps of different spread
    x = (rng.standard_normal((8, 6, 3)) * scale).astype("float32")
    y = rng.standard_normal((8, 1)).astype("float32")
    if masked:
        x[0, 3:] = 0.0
        x[1, :2] = 0.0

    def build(L, Model, Input):
        i = Input((6, 3))
        h = L.Masking(0.0)(i) if masked else i
        h = L.TimeDistributed(L.BatchNormalization(momentum=0.5))(h)
        return Model(i, L.Dense(1)(L.GRU(2)(h)))
    k = build(keras.layers, keras.Model, keras.Input)
    p = build(layers, pyseq.Model, pyseq.Input)
    p.set_weights(keras_weights(k))
    k.compile(keras.optimizers.SGD(0.1), "mse")
    p.compile(pyseq.optimizers.SGD(0.1), "mse")
    opts = dict(epochs=2, batch_size=4, verbose=0, shuffle=False)
    np.testing.assert_allclose(p.fit(x, y, **opts).history["loss"],
                               k.fit(x, y, **opts).history["loss"], rtol=1e-4, atol=1e-6)
    for a, b in zip(p.get_weights(), keras_weights(k)):  # the moving statistics too
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# -- Bidirectional over RNN(cell) -----------------------------------------------------------------
BI_CELLS = {
    "lstm_cell": lambda L: L.LSTMCell(3),
    "stack": lambda L: [L.LSTMCell(3), L.GRUCell(3)],
    "stack_one_state_last": lambda L: [L.GRUCell(2), L.SimpleRNNCell(3)],
}


@pytest.mark.parametrize("cells", list(BI_CELLS))
@pytest.mark.parametrize("merge_mode,return_sequences", [("concat", True), ("mul", False),
                                                         (None, True)])
def test_bidirectional_over_rnn_of_cells_matches_keras(cells, merge_mode, return_sequences):
    """Keras's Bidirectional takes RNN(cell) (and stacked cells): outputs, nested states, input
    and weight gradients, the symbolic structure, and the layer rebuilt from Keras's config."""
    keras = keras_or_skip()
    import torch
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 6, 4)).astype("float32")
    mask = np.ones((3, 6), bool)
    mask[1, 4:] = False
    mask[2, :2] = False

    def build(L):
        return L.Bidirectional(L.RNN(BI_CELLS[cells](L), return_sequences=return_sequences,
                                     return_state=True), merge_mode=merge_mode)
    k, p = build(keras.layers), build(layers)
    xt = torch.tensor(x, requires_grad=True)
    k(xt, mask=torch.tensor(mask))
    p(x, mask=mask)
    assert [v.shape for v in p.weights] == [tuple(v.shape) for v in k.weights]
    w = [0.5 * rng.standard_normal(v.shape).astype("float32") for v in p.weights]
    p.set_weights(w)
    for v, a in zip(k.weights, w):
        v.assign(a)
    k_out = k(xt, mask=torch.tensor(mask))
    out, cache = p.forward(x, mask=mask)
    k_flat, p_flat = _flat(k_out), _flat(out)
    assert len(k_flat) == len(p_flat)
    d = [rng.standard_normal(a.shape).astype("float32") for a in p_flat]
    for a, b in zip(p_flat, k_flat):
        np.testing.assert_allclose(a, to_numpy(b), rtol=1e-4, atol=1e-5)
    sum((b * torch.tensor(g)).sum() for b, g in zip(k_flat, d)).backward()
    it = iter(d)

    def nest(v):
        return [nest(u) for u in v] if isinstance(v, (list, tuple)) else next(it)
    d_args, grads = p.backward(cache, nest(out))
    np.testing.assert_allclose(d_args["inputs"], to_numpy(xt.grad), rtol=1e-4, atol=1e-4)
    by_var = {id(v): g for v, g in grads}
    for pv, kv in zip(p.trainable_weights, k.trainable_weights):
        np.testing.assert_allclose(by_var[id(pv)], to_numpy(kv.value.grad), rtol=1e-4,
                                   atol=1e-4, err_msg=kv.path)

    def shapes(o):
        return [shapes(a) for a in o] if isinstance(o, (list, tuple)) else tuple(o.shape)
    assert shapes(build(layers)(pyseq.Input((6, 4)))) == \
        shapes(build(keras.layers)(keras.Input((6, 4))))
    q = layers.Bidirectional.from_config(k.get_config())
    q(x)
    q.set_weights(w)
    for a, b in zip(_flat(q(x, mask=mask)), p_flat):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# -- StackedRNNCells called on one step -----------------------------------------------------------
STEP_STACKS = {
    # cells, then one step's states (one entry per cell: a list, or one array)
    "lstm_gru_nested": (lambda L: [L.LSTMCell(3), L.GRUCell(2)], [[3, 3], [2]]),
    "lstm_gru_plain": (lambda L: [L.LSTMCell(3), L.GRUCell(2, reset_after=False)], [[3, 3], 2]),
    "one_gru_plain": (lambda L: [L.GRUCell(2)], [2]),
    "one_lstm": (lambda L: [L.LSTMCell(2)], [[2, 2]]),
    "simple_lstm": (lambda L: [L.SimpleRNNCell(2), L.LSTMCell(3)], [2, [3, 3]]),
}


@pytest.mark.parametrize("case", list(STEP_STACKS))
def test_stacked_cells_step_matches_keras(case):
    """``stack(x_t, states)`` as Keras: output, new states in the nesting they came in, the
    weights, gradients of the input, states and weights; then a model built on it trains as
    Keras's does."""
    keras = keras_or_skip()
    import torch
    make, sizes = STEP_STACKS[case]
    rng = np.random.default_rng(12)

    def states(f):
        return [[f(u) for u in s] if isinstance(s, list) else f(s) for s in sizes]
    x = rng.standard_normal((3, 4)).astype("float32")
    st = states(lambda u: rng.standard_normal((3, u)).astype("float32"))
    k, p = keras.layers.StackedRNNCells(make(keras.layers)), layers.StackedRNNCells(make(layers))

    def shapes(v):
        return [shapes(a) for a in v] if isinstance(v, (list, tuple)) else tuple(v.shape)

    def nest(v, f):
        return [nest(a, f) for a in v] if isinstance(v, (list, tuple)) else f(v)
    k(torch.tensor(x), nest(st, torch.tensor))
    p(x, st)
    assert [v.shape for v in p.weights] == [tuple(v.shape) for v in k.weights]
    w = [0.5 * rng.standard_normal(v.shape).astype("float32") for v in p.weights]
    p.set_weights(w)
    for v, a in zip(k.weights, w):
        v.assign(a)
    xt = torch.tensor(x, requires_grad=True)
    stt = nest(st, lambda a: torch.tensor(a, requires_grad=True))
    k_out = k(xt, stt)
    out, cache = p.forward(x, states=st)
    assert shapes(out) == shapes(k_out)
    d = [rng.standard_normal(a.shape).astype("float32") for a in _flat(out)]
    for a, b in zip(_flat(out), _flat(k_out)):
        np.testing.assert_allclose(a, to_numpy(b), rtol=1e-5, atol=1e-6)
    sum((b * torch.tensor(g)).sum() for b, g in zip(_flat(k_out), d)).backward()
    it = iter(d)
    d_args, grads = p.backward(cache, nest(out, lambda _: next(it)))
    np.testing.assert_allclose(d_args["inputs"], to_numpy(xt.grad), rtol=1e-5, atol=1e-5)
    assert shapes(d_args["states"]) == shapes(st)
    for a, b in zip(_flat(d_args["states"]), _flat(stt)):
        np.testing.assert_allclose(a, to_numpy(b.grad), rtol=1e-5, atol=1e-5)
    by_var = {id(v): g for v, g in grads}
    for pv, kv in zip(p.trainable_weights, k.trainable_weights):
        np.testing.assert_allclose(by_var[id(pv)], to_numpy(kv.value.grad), rtol=1e-5,
                                   atol=1e-5)

    def build(L, Model, Input):
        i = Input((4,))
        s_in = states(lambda u: Input((u,)))
        o, s_out = L.StackedRNNCells(make(L))(i, s_in)
        return Model([i] + _flat(s_in), L.Dense(1)(L.Concatenate()([o] + _flat(s_out))))
    km = build(keras.layers, keras.Model, keras.Input)
    pm = build(layers, pyseq.Model, pyseq.Input)
    pm.set_weights(keras_weights(km))
    xs = [x] + _flat(st)
    y = rng.standard_normal((3, 1)).astype("float32")
    km.compile(keras.optimizers.SGD(0.1), "mse")
    pm.compile(pyseq.optimizers.SGD(0.1), "mse")
    opts = dict(epochs=2, batch_size=2, verbose=0, shuffle=False)
    np.testing.assert_allclose(pm.fit(xs, y, **opts).history["loss"],
                               km.fit(xs, y, **opts).history["loss"], rtol=1e-4, atol=1e-6)
