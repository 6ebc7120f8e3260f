"""Losses and metrics against Keras 3 (torch backend): values, gradients (torch autograd through
Keras's loss), string aliases, masks and sample weights; the stable logits gradient for
sigmoid/softmax outputs; accuracy variants and running means."""

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, numeric_grad, to_numpy
from pyseq import Input, Model, layers, losses, metrics

RNG = np.random.default_rng(5)


def probs(*shape):
    e = np.exp(RNG.standard_normal(shape))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


CASES = [
    ("MeanSquaredError", {}, lambda: RNG.standard_normal((4, 3)), lambda: RNG.standard_normal((4, 3))),
    ("MeanAbsoluteError", {}, lambda: RNG.standard_normal((4, 3)), lambda: RNG.standard_normal((4, 3))),
    ("Huber", {"delta": 0.7}, lambda: RNG.standard_normal((4, 3)), lambda: 2 * RNG.standard_normal((4, 3))),
    ("BinaryCrossentropy", {}, lambda: RNG.integers(0, 2, (4, 3)),
     lambda: RNG.uniform(0.01, 0.99, (4, 3))),
    ("BinaryCrossentropy", {"from_logits": True}, lambda: RNG.integers(0, 2, (4, 3)),
     lambda: 3 * RNG.standard_normal((4, 3))),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, lambda: RNG.integers(0, 2, (4, 1)),
     lambda: RNG.uniform(0.01, 0.99, (4, 1))),
    ("CategoricalCrossentropy", {}, lambda: np.eye(5)[RNG.integers(0, 5, 6)],
     lambda: probs(6, 5) * 3),
    ("CategoricalCrossentropy", {"from_logits": True}, lambda: np.eye(5)[RNG.integers(0, 5, 6)],
     lambda: RNG.standard_normal((6, 5))),
    ("SparseCategoricalCrossentropy", {}, lambda: RNG.integers(0, 5, (2, 3)),
     lambda: probs(2, 3, 5)),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, lambda: RNG.integers(0, 5, (6, 1)),
     lambda: RNG.standard_normal((6, 5))),
]


@pytest.mark.parametrize("name,kwargs,make_true,make_pred", CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_values_and_gradients_match_keras(name, kwargs, make_true, make_pred, weighted):
    keras = import_keras()
    import torch
    y_true, y_pred = make_true(), make_pred().astype(np.float32)
    if "Categorical" not in name and "Sparse" not in name:
        y_true = y_true.astype(np.float32)
    sw = RNG.uniform(0.2, 2.0, y_pred.shape[:-1]).astype(np.float32) if weighted else None
    ours = getattr(losses, name)(**kwargs)
    value, grad = ours.value_and_grad(y_true, y_pred, sample_weight=sw)
    assert ours(y_true, y_pred, sample_weight=sw) == pytest.approx(value, rel=1e-6)
    t_pred = torch.tensor(y_pred, requires_grad=True)
    k = getattr(keras.losses, name)(**kwargs)(torch.as_tensor(y_true), t_pred,
                                              sample_weight=None if sw is None
                                              else torch.as_tensor(sw))
    (k_grad,) = torch.autograd.grad(k, [t_pred])
    assert value == pytest.approx(float(k.detach()), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(grad, to_numpy(k_grad), rtol=1e-4, atol=1e-7)
    assert grad.dtype == np.float32


@pytest.mark.parametrize("alias,cls", [
    ("mse", "MeanSquaredError"), ("MSE", "MeanSquaredError"),
    ("mean_squared_error", "MeanSquaredError"), ("mae", "MeanAbsoluteError"),
    ("MAE", "MeanAbsoluteError"), ("mean_absolute_error", "MeanAbsoluteError"),
    ("huber", "Huber"), ("binary_crossentropy", "BinaryCrossentropy"),
    ("categorical_crossentropy", "CategoricalCrossentropy"),
    ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")])
def test_string_aliases(alias, cls):
    assert type(losses.get(alias)).__name__ == cls
    assert type(losses.get(getattr(losses, cls)())).__name__ == cls


def test_loss_errors():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get("cross_entropy")
    with pytest.raises(ValueError, match="same shape"):
        losses.CategoricalCrossentropy()(np.zeros((2, 3)), np.ones((2, 4)) / 4)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        losses.SparseCategoricalCrossentropy()(np.array([3]), np.ones((1, 3)) / 3)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")


def test_mask_weighs_valid_entries_like_keras():
    keras = import_keras()
    import torch
    y_true, y_pred = RNG.integers(0, 4, (3, 5)), probs(3, 5, 4)
    mask = RNG.random((3, 5)) > 0.4
    value, _ = losses.SparseCategoricalCrossentropy().value_and_grad(y_true, y_pred, mask=mask)
    t = torch.as_tensor(y_pred)
    t._keras_mask = torch.as_tensor(mask)
    k = keras.losses.SparseCategoricalCrossentropy()(torch.as_tensor(y_true), t)
    assert value == pytest.approx(float(k), rel=1e-5)


REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ["plain", "weights", "mask"])
def test_reductions_weights_and_masks_like_keras(reduction, case):
    # weights per sample on (N,) values, masks per step on (N, T) values (Keras's own weighted and
    # masked path fails on both at once with (N, T) values: it multiplies them in place)
    keras = import_keras()
    import torch
    shape = (3, 5, 2) if case == "mask" else (6, 2)
    y_true, y_pred = RNG.standard_normal(shape), RNG.standard_normal(shape)
    sw = RNG.random(6) + 0.2 if case == "weights" else None
    mask = (RNG.random((3, 5)) > 0.4) if case == "mask" else None
    value = losses.MeanSquaredError(reduction=reduction)(y_true, y_pred, sample_weight=sw,
                                                          mask=mask)
    t = torch.as_tensor(y_pred)
    if mask is not None:
        t._keras_mask = torch.as_tensor(mask)
    k = keras.losses.MeanSquaredError(reduction=reduction)(
        torch.as_tensor(y_true), t, sample_weight=None if sw is None else torch.as_tensor(sw))
    assert value == pytest.approx(float(k), rel=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reductions_by_hand(reduction):
    # (3, 5) per-step values: the divisor is the value count, the weights' sum
    # ("mean_with_sample_weight") or 1 ("sum"); a mask reweighs to its valid entries only for the
    # two means over the batch, and a zero divisor gives 0 (Keras's divide_no_nan)
    y_pred = RNG.standard_normal((3, 5, 1))
    values = y_pred[..., 0] ** 2
    sw = np.array([0.5, 1.0, 2.0])
    mask = np.zeros((3, 5), bool)
    mask[:, :2] = True
    loss = losses.MeanSquaredError(reduction=reduction)
    got = loss(np.zeros_like(y_pred), y_pred, sample_weight=sw, mask=mask)
    w = sw[:, None] * mask
    if reduction in ("sum_over_batch_size", "mean"):
        want = (values * w * 15 / 6).sum() / 15
    elif reduction == "sum":
        want = (values * w).sum()
    else:
        want = (values * w).sum() / w.sum()
    assert got == pytest.approx(want, rel=1e-12)
    zero = loss(np.zeros_like(y_pred), y_pred, sample_weight=np.zeros(3))
    assert zero == 0.0
    _, grad = loss.value_and_grad(np.zeros_like(y_pred), y_pred, sample_weight=np.zeros(3))
    assert np.all(grad == 0)


@pytest.mark.parametrize("act,loss,make_y", [
    ("sigmoid", "binary_crossentropy", lambda: RNG.integers(0, 2, (6, 3)).astype(np.float64)),
    ("softmax", "categorical_crossentropy", lambda: np.eye(4)[RNG.integers(0, 4, 6)]),
    ("softmax", "sparse_categorical_crossentropy", lambda: RNG.integers(0, 4, 6))])
def test_sigmoid_softmax_output_gets_the_stable_logits_gradient(act, loss, make_y):
    y = make_y()
    n_out = 3 if act == "sigmoid" else 4
    inp = Input((5,), dtype="float64")
    m = Model(inp, layers.Dense(n_out, activation=act, dtype="float64")(inp))
    m.compile("sgd", loss)
    x = RNG.standard_normal((6, 5))
    value, grads = m.compute_gradients(x, y)

    def f():
        return m.compute_gradients(x, y)[0]
    for var, g in zip(m.trainable_weights, grads):
        np.testing.assert_allclose(g, numeric_grad(f, var.value), rtol=1e-5, atol=1e-8)
    # saturated logits: the clip makes the naive chain rule 0 or NaN; the logits gradient is
    # p - y, finite and pointing back
    m.layers[1].kernel.assign(m.layers[1].kernel.value * 1e3)
    value, grads = m.compute_gradients(x, y)
    assert np.isfinite(value) and all(np.isfinite(g).all() for g in grads)
    assert max(np.abs(g).max() for g in grads) > 1e-3


def test_metrics_match_keras_running_means():
    keras = import_keras()
    cases = [
        ("BinaryAccuracy", lambda: (RNG.integers(0, 2, (8, 1)), RNG.random((8, 1)))),
        ("CategoricalAccuracy", lambda: (np.eye(4)[RNG.integers(0, 4, 8)], RNG.random((8, 4)))),
        ("SparseCategoricalAccuracy", lambda: (RNG.integers(0, 4, (8, 1)), RNG.random((8, 4)))),
        ("MeanSquaredError", lambda: (RNG.random((8, 3)), RNG.random((8, 3)))),
        ("MeanAbsoluteError", lambda: (RNG.random((8, 3)), RNG.random((8, 3)))),
    ]
    for name, make in cases:
        ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
        for _ in range(3):
            yt, yp = make()
            yt, yp = yt.astype(np.float32), yp.astype(np.float32)
            sw = RNG.random(8).astype(np.float32)
            ours.update_state(yt, yp, sample_weight=sw)
            theirs.update_state(yt, yp, sample_weight=sw)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5), name
        assert ours.name == theirs.name


@pytest.mark.parametrize("y_shape,p_shape,expected", [
    ((8,), (8, 1), "BinaryAccuracy"), ((8, 1), (8, 1), "BinaryAccuracy"),
    ((8,), (8, 5), "SparseCategoricalAccuracy"), ((8, 1), (8, 5), "SparseCategoricalAccuracy"),
    ((8, 5), (8, 5), "CategoricalAccuracy"), ((8, 3), (8, 3, 5), "SparseCategoricalAccuracy")])
def test_accuracy_variant_resolved_like_keras(y_shape, p_shape, expected):
    m = metrics.get("accuracy", np.zeros(y_shape), np.zeros(p_shape))
    assert type(m).__name__ == expected and m.name == "accuracy"
    assert metrics.get("acc", np.zeros(y_shape), np.zeros(p_shape)).name == "acc"


def test_loss_metrics_in_compile():
    inp = Input((3,))
    m = Model(inp, layers.Dense(2)(inp))
    m.compile("sgd", "mse", metrics=["mae", "mse", pyseq.metrics.MeanAbsoluteError()])
    x, y = RNG.standard_normal((10, 3)), RNG.standard_normal((10, 2))
    logs = m.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["mse"] == pytest.approx(logs["loss"], rel=1e-6)
    assert logs["mae"] == pytest.approx(logs["mean_absolute_error"], rel=1e-6)
    pred = m.predict(x, verbose=0)
    assert logs["mae"] == pytest.approx(np.abs(pred - y).mean(), rel=1e-5)


def test_reductions():
    y, p = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    per_sample = np.mean((p - y) ** 2, axis=-1)
    assert losses.MeanSquaredError(reduction="sum")(y, p) == pytest.approx(per_sample.sum())
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(y, p), per_sample)
    value, grad = losses.MeanSquaredError(reduction="sum").value_and_grad(y, p)
    np.testing.assert_allclose(grad, 2 * (p - y) / 3)
    sw = np.array([1.0, 0.0, 2.0, 1.0])
    assert losses.MeanSquaredError()(y, p, sample_weight=sw) == \
        pytest.approx((per_sample * sw).sum() / 4)


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "binary_crossentropy"])
def test_labels_one_rank_short_are_expanded_like_keras(name):
    # (N,) labels against (N, 1) predictions: Keras expands the labels; no (N, N) broadcast.
    rng = np.random.default_rng(0)
    y_pred = rng.uniform(0.1, 0.9, (16, 1)).astype(np.float32)
    y_true = rng.uniform(0, 1, 16).astype(np.float32)
    loss = losses.get(name)
    value, grad = loss.value_and_grad(y_true, y_pred)
    value_ref, grad_ref = loss.value_and_grad(y_true[:, None], y_pred)
    assert value == pytest.approx(value_ref)
    assert grad.shape == y_pred.shape
    np.testing.assert_array_equal(grad, grad_ref)


def test_labels_that_do_not_fit_the_predictions_are_refused():
    with pytest.raises(ValueError, match=r"\[mean_squared_error\] y_true must have y_pred's shape"):
        losses.MeanSquaredError()(np.zeros((8, 3)), np.zeros((8, 1), np.float32))
