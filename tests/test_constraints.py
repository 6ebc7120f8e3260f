"""Constraints: Keras 3's projections in closed form, get/config, errors, the projection after
each optimizer update (fit and a custom loop), and Keras's own constraints as the oracle."""

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, to_numpy
from pyseq import Input, Model, layers
from pyseq import constraints as C

RNG = np.random.default_rng(5)
EPS = 1e-7  # Keras's epsilon


def randn(*shape):
    return RNG.standard_normal(shape)


def _norms(w, axis):
    return np.sqrt(np.sum(w ** 2, axis=axis, keepdims=True))


# -- projections ---------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1, [0, 1], (0, 2)])
def test_norm_constraints_closed_forms(axis):
    w = randn(3, 4, 5)
    ax = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    n = _norms(w, ax)
    np.testing.assert_allclose(C.MaxNorm(1.5, axis)(w), w * np.minimum(n, 1.5) / (EPS + n),
                               rtol=1e-14)
    np.testing.assert_allclose(C.UnitNorm(axis)(w), w / (EPS + n), rtol=1e-14)
    desired = 0.3 * np.clip(n, 0.8, 1.2) + 0.7 * n
    np.testing.assert_allclose(C.MinMaxNorm(0.8, 1.2, 0.3, axis)(w), w * desired / (EPS + n),
                               rtol=1e-14)
    # what the projections are for
    assert np.all(_norms(C.MaxNorm(1.5, axis)(w), ax) <= 1.5)
    np.testing.assert_allclose(_norms(C.UnitNorm(axis)(w), ax), 1, rtol=1e-6)
    n2 = _norms(C.MinMaxNorm(0.8, 1.2, 1.0, axis)(w), ax)
    assert np.all((n2 >= 0.8 - 1e-6) & (n2 <= 1.2))


def test_non_neg_and_base():
    w = randn(4, 3)
    np.testing.assert_array_equal(C.NonNeg()(w), np.where(w > 0, w, 0))
    assert C.Constraint()(w) is w
    w32 = w.astype(np.float32)
    kept = w32.copy()
    for c in (C.MaxNorm(), C.NonNeg(), C.UnitNorm(), C.MinMaxNorm()):
        assert c(w32).dtype == np.float32, c
    np.testing.assert_array_equal(w32, kept)  # inputs are not modified


def test_constraints_match_keras():
    keras = import_keras()
    import torch
    w = randn(6, 5).astype(np.float32)
    for ours, theirs in ((C.MaxNorm(1.2), keras.constraints.MaxNorm(1.2)),
                         (C.MaxNorm(0.7, axis=1), keras.constraints.MaxNorm(0.7, axis=1)),
                         (C.NonNeg(), keras.constraints.NonNeg()),
                         (C.UnitNorm([0, 1]), keras.constraints.UnitNorm([0, 1])),
                         (C.MinMaxNorm(0.5, 1.5, 0.4),
                          keras.constraints.MinMaxNorm(0.5, 1.5, 0.4))):
        np.testing.assert_allclose(ours(w), to_numpy(theirs(torch.as_tensor(w))), rtol=1e-6,
                                   atol=1e-7, err_msg=repr(ours))
        assert ours.get_config() == theirs.get_config()


# -- get, aliases, config ------------------------------------------------------------------------
def test_get_names_dicts_classes_instances_callables():
    assert type(C.get("max_norm")) is C.MaxNorm and C.get("MaxNorm").max_value == 2
    assert type(C.get("non_neg")) is C.NonNeg and type(C.get("NonNeg")) is C.NonNeg
    assert type(C.get("unit_norm")) is C.UnitNorm
    assert C.get("min_max_norm").get_config() == {"min_value": 0.0, "max_value": 1.0,
                                                   "rate": 1.0, "axis": 0}
    assert C.get(None) is None
    c = C.MaxNorm(3)
    assert C.get(c) is c and type(C.get(C.UnitNorm)) is C.UnitNorm
    fn = np.abs
    assert C.get(fn) is fn
    assert (C.max_norm, C.non_neg, C.unit_norm, C.min_max_norm) == (C.MaxNorm, C.NonNeg,
                                                                      C.UnitNorm, C.MinMaxNorm)
    for c in (C.MaxNorm(3, axis=[0, 1]), C.NonNeg(), C.UnitNorm(1), C.MinMaxNorm(0.1, 2, 0.5, 1)):
        assert type(c).from_config(c.get_config()).get_config() == c.get_config()
        config = C.serialize(c)
        assert config == {"module": "keras.constraints", "class_name": type(c).__name__,
                          "config": c.get_config(), "registered_name": None}
        assert C.get(config).get_config() == c.get_config()


def test_bad_arguments_name_the_constraint():
    with pytest.raises(ValueError, match=r"\[MaxNorm\] max_value must be >= 0"):
        C.MaxNorm(-1)
    with pytest.raises(TypeError, match=r"\[MaxNorm\] max_value must be a number"):
        C.MaxNorm("3")
    with pytest.raises(TypeError, match=r"\[UnitNorm\] axis must be an int"):
        C.UnitNorm(axis="rows")
    with pytest.raises(ValueError, match=r"\[MinMaxNorm\] max_value must be >= min_value"):
        C.MinMaxNorm(2.0, 1.0)
    with pytest.raises(ValueError, match=r"\[MinMaxNorm\] rate must be in \[0.0, 1.0\]"):
        C.MinMaxNorm(rate=1.5)
    with pytest.raises(ValueError, match=r"\[MaxNorm\] axis 2 is out of range .* \(3, 4\)"):
        C.MaxNorm(axis=2)(np.ones((3, 4)))
    with pytest.raises(TypeError, match=r"\[UnitNorm\] expects a float array"):
        C.UnitNorm()(np.ones((3, 4), int))
    with pytest.raises(ValueError, match=r"\[constraints.get\] unknown constraint 'maxnorm'"):
        C.get("maxnorm")
    with pytest.raises(TypeError, match=r"\[constraints.get\] expects a name"):
        C.get(3)
    with pytest.raises(ValueError, match=r"\[Conv1D\] kernel_constraint: .*unknown constraint"):
        layers.Conv1D(2, 3, kernel_constraint="foo")
    with pytest.raises(ValueError, match=r"\[LayerNormalization\] gamma_constraint"):
        layers.LayerNormalization(gamma_constraint="foo")
    with pytest.raises(TypeError, match=r"\[GRU\] recurrent_constraint"):
        layers.GRU(2, recurrent_constraint=1.0)


# -- after each update ----------------------------------------------------------------------------
def test_constraint_projects_after_the_optimizer_step():
    inp = Input((4,), dtype="float64")
    dense = layers.Dense(3, kernel_constraint=C.MaxNorm(0.5), bias_constraint="non_neg",
                         dtype="float64")
    model = Model(inp, dense(inp))
    model.compile(pyseq.optimizers.SGD(0.5), "mse")
    x, y = randn(8, 4), randn(8, 3)
    W0, b0 = dense.kernel.numpy(), dense.bias.numpy()
    _, (gW, gb) = model.compute_gradients(x, y)
    model.train_on_batch(x, y)
    np.testing.assert_allclose(dense.kernel.value, C.MaxNorm(0.5)(W0 - 0.5 * gW), rtol=1e-14)
    np.testing.assert_allclose(dense.bias.value, np.maximum(b0 - 0.5 * gb, 0), rtol=1e-14)
    assert np.all(_norms(dense.kernel.value, 0) <= 0.5) and np.all(dense.bias.value >= 0)


def test_custom_loop_optimizer_applies_constraints():
    inp = Input((3, 2))
    rnn = layers.SimpleRNN(4, recurrent_constraint=C.UnitNorm(axis=1),
                           kernel_constraint=lambda w: np.clip(w, -0.1, 0.1))
    model = Model(inp, rnn(inp))
    model.compile("sgd", "mse")
    opt = pyseq.optimizers.Adam(0.1)
    x, y = randn(5, 3, 2).astype(np.float32), randn(5, 4).astype(np.float32)
    for _ in range(2):
        _, grads = model.compute_gradients(x, y)
        opt.apply(grads, model.trainable_weights)
    np.testing.assert_allclose(_norms(rnn.recurrent_kernel.value, 1), 1, rtol=1e-5)
    assert np.abs(rnn.kernel.value).max() <= 0.1
    # no gradient, no update, no projection (Keras filters out empty gradients first)
    before = rnn.recurrent_kernel.numpy() * 3
    rnn.recurrent_kernel.assign(before)
    opt.apply([None, None, np.zeros(4, np.float32)], model.trainable_weights)
    np.testing.assert_array_equal(rnn.recurrent_kernel.value, before)


@pytest.mark.parametrize("make, weight", [
    (lambda c: layers.Embedding(5, 3, embeddings_constraint=c), "embeddings"),
    (lambda c: layers.LSTM(2, kernel_constraint=c), "kernel"),
    (lambda c: layers.GRU(2, recurrent_constraint=c), "recurrent_kernel"),
    (lambda c: layers.Conv1D(2, 2, bias_constraint=c), "bias"),
    (lambda c: layers.BatchNormalization(gamma_constraint=c), "gamma"),
    (lambda c: layers.LayerNormalization(beta_constraint=c), "beta"),
])
def test_fit_keeps_every_layer_kind_constrained(make, weight):
    layer = make(C.NonNeg())
    if isinstance(layer, layers.Embedding):
        inp, x = Input((4,), dtype="int32"), RNG.integers(0, 5, (6, 4))
        h = layers.Flatten()(layer(inp))
    else:
        inp, x = Input((4, 3)), randn(6, 4, 3).astype(np.float32)
        h = layers.Flatten()(layer(inp)) if not isinstance(layer, (layers.LSTM, layers.GRU)) \
            else layer(inp)
    model = Model(inp, layers.Dense(1)(h))
    getattr(layer, weight).assign(randn(*getattr(layer, weight).shape))
    model.compile(pyseq.optimizers.SGD(0.01), "mse")
    model.fit(x, randn(6, 1).astype(np.float32), epochs=1, batch_size=3, verbose=0)
    assert np.all(getattr(layer, weight).value >= 0)
