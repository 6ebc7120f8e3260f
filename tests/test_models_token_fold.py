"""The model graph hands an Embedding's output unformed (TokenRows) to a recurrent layer (LSTM,
GRU, SimpleRNN) that is its only consumer, which folds the table into its input projection
(ops.<cell>_forward_tokens) when the table has at most half as many rows as the batch has steps.
Folded or not, a model computes the same losses and gradients; these tests compare the two
(graph.fold_embeddings switches it)."""

import numpy as np
import pytest

import pyseq
from pyseq import layers, ops
from pyseq.models import graph


@pytest.fixture
def fold_calls(monkeypatch):
    """Counts calls of ops.<cell>_forward_tokens (the folded path)."""
    calls = []
    for name in ("lstm_forward_tokens", "gru_forward_tokens", "rnn_forward_tokens"):
        real = getattr(ops, name)

        def counting(*a, real=real, **k):
            calls.append(1)
            return real(*a, **k)

        monkeypatch.setattr(ops, name, counting)
    yield calls


def gradients_both_ways(model, x, y, reseed=None):
    """(loss, grads) folded and unfolded, from the same weights; ``reseed``: a layer whose
    dropout generator restarts from the same seed before each, so both draw the same masks."""
    assert graph.fold_embeddings
    results = []
    for fold in (True, False):
        if reseed is not None:
            reseed._rng = np.random.default_rng(5)
        graph.fold_embeddings = fold
        try:
            results.append(model.compute_gradients(x, y))
        finally:
            graph.fold_embeddings = True
    return tuple(results)


def assert_same(folded, plain, dtype=np.float32):
    (l1, g1), (l2, g2) = folded, plain
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(l1, l2, rtol=rtol)
    assert len(g1) == len(g2)
    for a, b in zip(g1, g2):
        scale = np.abs(b).max() + 1e-30
        np.testing.assert_allclose(a, b, rtol=0, atol=rtol * 10 * scale)


def char_model(vocab=20, T=12, mask_zero=False, dtype="float32", cell="LSTM", **rnn):
    model = pyseq.Sequential([layers.Input((T,), dtype="int32"),
                              layers.Embedding(vocab, 8, mask_zero=mask_zero, dtype=dtype),
                              getattr(layers, cell)(16, return_sequences=True, dtype=dtype, **rnn),
                              layers.Dense(vocab, dtype=dtype)])
    model.compile("adam", pyseq.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def data(vocab=20, B=16, T=12, seed=0, zeros=False):
    rng = np.random.default_rng(seed)
    x = rng.integers(0 if zeros else 1, vocab, (B, T)).astype(np.int32)
    if zeros:
        x[:, -3:] = 0
    return x, rng.integers(0, vocab, (B, T))


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "GRU-reset-before", "SimpleRNN", "SimpleRNN-relu"])
@pytest.mark.parametrize("options", [dict(), dict(mask_zero=True), dict(go_backwards=True),
                                     dict(mask_zero=True, go_backwards=True, zero_output_for_mask=True),
                                     dict(recurrent_dropout=0.3, seed=1), dict(dtype="float64")])
def test_folded_equals_formed(options, cell, fold_calls):
    options = dict(options)
    mask_zero = options.pop("mask_zero", False)
    dtype = options.pop("dtype", "float32")
    if cell == "GRU-reset-before":
        cell, options["reset_after"] = "GRU", False
    if cell == "SimpleRNN-relu":
        cell, options["activation"] = "SimpleRNN", "relu"
    model = char_model(mask_zero=mask_zero, dtype=dtype, cell=cell, **options)
    x, y = data(zeros=mask_zero)
    folded, plain = gradients_both_ways(model, x, y, reseed=model.layers[1])
    assert fold_calls, "the folded path did not run"
    assert_same(folded, plain, np.dtype(dtype).type)


def test_fit_folded_equals_formed():
    x, y = data(B=32)
    results = []
    for fold in (True, False):
        graph.fold_embeddings = fold
        try:
            model = char_model()
            model.set_weights(char_model().get_weights() if not results else results[0][1])
            start = [w.copy() for w in model.get_weights()]
            hist = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
            results.append((hist.history["loss"], start, model.get_weights()))
        finally:
            graph.fold_embeddings = True
    (loss_a, start_a, end_a), (loss_b, start_b, end_b) = results
    for a, b in zip(start_a, start_b):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5)
    for a, b in zip(end_a, end_b):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_functional_states_and_frozen_embedding(fold_calls):
    tokens = layers.Input((10,), dtype="int32")
    emb = layers.Embedding(15, 6)
    seq, h, c = layers.LSTM(9, return_sequences=True, return_state=True)(emb(tokens))
    out = layers.Dense(1)(layers.Concatenate()([layers.GlobalAveragePooling1D()(seq), h, c]))
    model = pyseq.Model(tokens, out)
    model.compile("sgd", "mse")
    x = np.random.default_rng(1).integers(0, 15, (20, 10))
    y = np.random.default_rng(2).standard_normal((20, 1))
    assert_same(*gradients_both_ways(model, x, y))
    emb.trainable = False
    folded, plain = gradients_both_ways(model, x, y)
    assert len(folded[1]) == len(model.trainable_weights) == 5
    assert_same(folded, plain)
    assert fold_calls


def test_large_vocabulary_forms_rows(fold_calls):
    # 2V > B*T: the LSTM forms table[ids] itself (the cheaper way) and still gives the same
    model = char_model(vocab=500)
    x, y = data(vocab=500, B=4)
    assert_same(*gradients_both_ways(model, x, y))
    assert not fold_calls


def test_input_dropout_in_training_forms_rows(fold_calls):
    model = char_model(dropout=0.5, seed=3)
    x, y = data()
    assert_same(*gradients_both_ways(model, x, y, reseed=model.layers[1]))
    assert not fold_calls  # input dropout multiplies the formed rows
    model.predict(x, verbose=0)
    assert fold_calls  # inference has no dropout: folded


def test_no_fold_when_the_output_is_shared_or_transformed():
    tokens = layers.Input((10,), dtype="int32")
    e = layers.Embedding(15, 6)(tokens)
    a = pyseq.Model(tokens, layers.Add()([layers.LSTM(6, return_sequences=True)(e), e]))
    b = pyseq.Sequential([layers.Input((10,), dtype="int32"), layers.Embedding(15, 6),
                          layers.Dropout(0.1), layers.Bidirectional(layers.LSTM(4))])
    c = pyseq.Sequential([layers.Input((10,), dtype="int32"), layers.Embedding(15, 6),
                          layers.Dense(3), layers.GRU(4)])
    d = pyseq.Sequential([layers.Input((10,), dtype="int32"), layers.Embedding(15, 6), layers.GRU(4)])
    assert not a._graph.token_nodes and not b._graph.token_nodes and not c._graph.token_nodes
    assert len(d._graph.token_nodes) == 1
    x = np.random.default_rng(0).integers(0, 15, (3, 10))
    for m in (a, b, c, d):
        m.compile("sgd", "mse")
        y = m.predict(x, verbose=0)
        m.compute_gradients(x, np.zeros_like(y))


def test_shared_lstm_folds_one_call_and_not_the_other(fold_calls):
    tokens, feats = layers.Input((10,), dtype="int32"), layers.Input((10, 3))
    shared = layers.LSTM(6, return_sequences=True)
    both = layers.Concatenate()([shared(layers.Dense(8)(feats)),
                                 shared(layers.Embedding(12, 8)(tokens))])
    model = pyseq.Model([tokens, feats], layers.Dense(1)(layers.GlobalAveragePooling1D()(both)))
    model.compile("sgd", "mse")
    assert len(model._graph.token_nodes) == 1
    rng = np.random.default_rng(0)
    x = [rng.integers(0, 12, (16, 10)), rng.standard_normal((16, 10, 3)).astype("float32")]
    assert_same(*gradients_both_ways(model, x, rng.standard_normal((16, 1))))
    assert len(fold_calls) == 1


@pytest.mark.parametrize("merge_mode", ["concat", "mul", None])
def test_bidirectional_folds_both_halves(merge_mode, fold_calls):
    tokens = layers.Input((12,), dtype="int32")
    bi = layers.Bidirectional(layers.LSTM(5, return_sequences=True), merge_mode=merge_mode,
                              backward_layer=layers.GRU(5, return_sequences=True, go_backwards=True))
    out = bi(layers.Embedding(20, 8, mask_zero=True)(tokens))
    out = layers.Concatenate()(out) if merge_mode is None else out
    model = pyseq.Model(tokens, layers.Dense(20)(out))
    model.compile("adam", pyseq.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert len(model._graph.token_nodes) == 1
    x, y = data(zeros=True)
    assert_same(*gradients_both_ways(model, x, y))
    assert len(fold_calls) == 2
