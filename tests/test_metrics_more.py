"""Keras 3 metrics beyond the accuracies and mean errors: exact-match and top-k accuracy,
RMSE, MAPE, the cross-entropies as metrics, Precision / Recall / AUC; by hand (NumPy only),
against Keras's running results, and by name in compile."""

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, keras_weights, to_numpy
from pyseq import layers, metrics

RNG = np.random.default_rng(37)


def test_values_by_hand():
    scores = np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.4, 0.4, 0.2]])
    labels = np.array([1, 0, 0, 1])
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update_state(labels, scores)
    assert m.result() == pytest.approx(3 / 4)  # a tie with the k-th score counts as in
    m = metrics.TopKCategoricalAccuracy(k=2)
    m.update_state(np.eye(3)[[2, 1, 1, 2]], scores, sample_weight=np.array([1.0, 1.0, 2.0, 4.0]))
    assert m.result() == pytest.approx((1 + 1 + 2) / 8)
    m = metrics.RootMeanSquaredError()
    m.update_state(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]))
    assert m.result() == pytest.approx(np.sqrt(12.5))
    m = metrics.Accuracy()
    m.update_state([1, 2, 3, 4], [1, 2, 0, 4])
    assert m.result() == pytest.approx(0.75)
    y = np.array([1, 0, 1, 1, 0])
    p = np.array([0.9, 0.6, 0.4, 0.8, 0.1])
    prec, rec = metrics.Precision(), metrics.Recall(thresholds=0.3)
    prec.update_state(y, p)
    rec.update_state(y, p, sample_weight=np.array([1.0, 1.0, 3.0, 1.0, 1.0]))
    assert prec.result() == pytest.approx(2 / 3)
    assert rec.result() == pytest.approx(1.0)
    auc = metrics.AUC(num_thresholds=1001)
    auc.update_state(y, p)
    assert auc.result() == pytest.approx(5 / 6, abs=1e-3)  # 5 of the 6 pos/neg pairs ordered
    auc.reset_state()
    auc.update_state(y, y.astype(float))
    assert auc.result() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\[auc\] multi_label"):
        metrics.AUC(multi_label=True)


@pytest.mark.parametrize("name", ["accuracy", "top_k_categorical_accuracy",
                                  "sparse_top_k_categorical_accuracy", "root_mean_squared_error",
                                  "mape", "binary_crossentropy", "categorical_crossentropy",
                                  "sparse_categorical_crossentropy", "precision", "recall", "auc",
                                  "AUC", "Precision", "RootMeanSquaredError"])
def test_names(name):
    m = metrics.get(name, y_true=(None, 1), y_pred=(None, 1))
    assert m.name == name


def _keras_cases(keras):
    p = RNG.random((12, 6)).astype(np.float32)
    p /= p.sum(-1, keepdims=True)
    labels = RNG.integers(0, 6, 12)
    onehot = np.eye(6, dtype=np.float32)[labels]
    yb = RNG.integers(0, 2, (30, 1)).astype(np.float32)
    pb = np.clip(RNG.random((30, 1)) * 0.7 + yb * 0.3, 0, 1).astype(np.float32)
    return [
        ("Accuracy", {}, labels, np.argmax(p, -1)),
        ("TopKCategoricalAccuracy", {"k": 2}, onehot, p),
        ("SparseTopKCategoricalAccuracy", {"k": 3}, labels, p),
        ("RootMeanSquaredError", {}, onehot, p),
        ("MeanAbsolutePercentageError", {}, onehot + 0.5, p),
        ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, yb, 4 * pb - 2),
        ("CategoricalCrossentropy", {}, onehot, p),
        ("SparseCategoricalCrossentropy", {"from_logits": True}, labels, 3 * p),
        ("Precision", {"thresholds": 0.3}, yb, pb),
        ("Recall", {"class_id": 2}, onehot, 2 * p),
        ("AUC", {}, yb, pb),
        ("AUC", {"num_thresholds": 9, "curve": "PR", "summation_method": "minoring"}, yb, pb),
        ("AUC", {"summation_method": "majoring", "from_logits": True}, yb, 6 * pb - 3),
    ]


def test_running_results_match_keras():
    keras = import_keras()
    import torch
    for name, kwargs, y_true, y_pred in _keras_cases(keras):
        ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
        half = len(y_true) // 2
        for sl in (slice(0, half), slice(half, None)):
            sw = RNG.uniform(0.2, 2.0, len(y_true[sl])).astype(np.float32)
            ours.update_state(y_true[sl], y_pred[sl], sample_weight=sw)
            theirs.update_state(torch.as_tensor(y_true[sl]), torch.as_tensor(y_pred[sl]),
                                sample_weight=torch.tensor(sw))
        assert ours.result() == pytest.approx(float(to_numpy(theirs.result())), rel=1e-5,
                                              abs=1e-6), (name, kwargs)


def test_compiled_metric_names_and_values_match_keras():
    keras = import_keras()
    x = RNG.standard_normal((20, 5)).astype(np.float32)
    y = RNG.integers(0, 2, (20, 1)).astype(np.float32)
    names = ["AUC", "precision", "recall", "binary_crossentropy", "mape",
             "root_mean_squared_error"]

    def build(L, Sequential):
        return Sequential([L.Input((5,)), L.Dense(1, activation="sigmoid")])
    k, p = build(keras.layers, keras.Sequential), build(layers, pyseq.Sequential)
    p.set_weights(keras_weights(k))
    k.compile("adam", "binary_crossentropy", metrics=names)
    p.compile("adam", "binary_crossentropy", metrics=names)
    hk = k.fit(x, y, epochs=2, batch_size=6, verbose=0, shuffle=False).history
    hp = p.fit(x, y, epochs=2, batch_size=6, verbose=0, shuffle=False).history
    assert sorted(hk) == sorted(hp)
    for key in hk:
        np.testing.assert_allclose(hp[key], hk[key], rtol=1e-4, atol=1e-6, err_msg=key)
