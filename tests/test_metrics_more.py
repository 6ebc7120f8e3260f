"""The Keras 3 metrics added after the first six: regression and probabilistic means, hinges,
top-k accuracies, Accuracy, Sum, RootMeanSquaredError, and the confusion-matrix metrics
Precision, Recall and AUC (accumulated over batches, reset per epoch). NumPy-only checks first
(closed forms, accumulation, names, bad arguments, compile/fit/evaluate logs), then the same
metrics and a compiled model's logs against Keras 3 (torch backend) when it is installed."""

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, keras_weights, to_numpy
from pyseq import Input, Sequential, layers, metrics

RNG = np.random.default_rng(23)


def _run(metric, batches):
    for args in batches:
        metric.update_state(*args[:2], sample_weight=args[2] if len(args) > 2 else None)
    return metric.result()


def _rank_auc(labels, scores, w=None):
    """The exact ROC AUC: the weighted probability that a positive outranks a negative."""
    w = np.ones(len(labels)) if w is None else w
    pos, neg = labels > 0, labels == 0
    diff = scores[pos][:, None] - scores[neg][None, :]
    pair_w = w[pos][:, None] * w[neg][None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).ravel() @ pair_w.ravel() / pair_w.sum())


# -- closed forms ------------------------------------------------------------------------------

def test_mean_metrics_closed_forms():
    y, p = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 4.0], [3.0, 2.0]])
    m = metrics.RootMeanSquaredError()
    assert m(y, p) == pytest.approx(np.sqrt(2.0))
    m.update_state(y, y)  # a second, perfect batch halves the mean square
    assert m.result() == pytest.approx(1.0)
    m.reset_state()
    m.update_state(y, p, sample_weight=[0.0, 1.0])
    assert m.result() == pytest.approx(np.sqrt(2.0))
    assert metrics.Accuracy()([[1], [2], [3]], [[1], [0], [3]]) == pytest.approx(2 / 3)
    assert metrics.CosineSimilarity()([[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [1.0, 1.0]]) == \
        pytest.approx((1 + np.sqrt(0.5)) / 2)
    assert metrics.MeanAbsolutePercentageError()([[2.0, 4.0]], [[1.0, 5.0]]) == pytest.approx(37.5)
    assert metrics.Hinge()([[0.0, 1.0]], [[0.5, 0.5]]) == pytest.approx(1.0)
    assert metrics.BinaryCrossentropy(from_logits=True)([[1.0]], [[0.0]]) == \
        pytest.approx(np.log(2.0))
    assert metrics.LogCoshError().name == "logcosh"
    s = metrics.Sum()
    s.update_state([1.0, 2.0, 3.0])
    s.update_state([[1.0, 1.0], [2.0, 2.0]], sample_weight=[1.0, 0.5])
    assert s.result() == pytest.approx(6.0 + 2.0 + 2.0)


def test_top_k_accuracies():
    p = np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    labels = np.array([1, 1, 2])
    assert metrics.SparseTopKCategoricalAccuracy(k=1)(labels, p) == pytest.approx(1 / 3)
    # a score tied with the k-th largest counts as a hit (torch.topk + >=, as Keras)
    assert metrics.SparseTopKCategoricalAccuracy(k=2)(labels[:, None], p) == pytest.approx(2 / 3)
    assert metrics.TopKCategoricalAccuracy(k=2)(np.eye(3)[labels], p) == pytest.approx(2 / 3)
    assert metrics.TopKCategoricalAccuracy()(np.eye(3)[labels], p) == pytest.approx(1.0)
    ids = np.array([[1, 2, 0], [0, 2, 1], [1, 0, 2]])
    assert metrics.SparseTopKCategoricalAccuracy(k=1, from_sorted_ids=True)(labels, ids) == \
        pytest.approx(1 / 3)
    seq = metrics.SparseTopKCategoricalAccuracy(k=1)(np.stack([labels, labels]),
                                                     np.stack([p, p]))
    assert seq == pytest.approx(1 / 3)


def test_precision_recall_counts_and_options():
    y = np.array([1, 0, 1, 1, 0, 0], float)
    p = np.array([0.9, 0.6, 0.4, 0.5, 0.2, 0.8])
    # score > threshold is positive: 0.5 at the 0.5 threshold is not
    pr, rc = metrics.Precision(), metrics.Recall()
    assert pr(y, p) == pytest.approx(1 / 3) and rc(y, p) == pytest.approx(1 / 3)
    pr = metrics.Precision(thresholds=[0.3, 0.5, 0.7])
    np.testing.assert_allclose(pr(y, p), [3 / 5, 1 / 3, 1 / 2])
    w = np.array([2.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(metrics.Recall(thresholds=[0.3, 0.85])(y, p, sample_weight=w),
                               [4 / 4, 2 / 4])
    w6 = np.array([1.0, 2.0, 1.0, 1.0, 1.0, 3.0])
    counts = [m(y, p, sample_weight=w6) for m in (
        metrics.TruePositives(), metrics.FalsePositives(), metrics.TrueNegatives(),
        metrics.FalseNegatives())]
    assert counts == [1.0, 5.0, 1.0, 2.0]
    # top_k keeps the k best scores of each row; class_id one column
    y2 = np.array([[0, 1, 1, 0], [1, 0, 0, 1]], float)
    p2 = np.array([[0.1, 0.2, 0.9, 0.8], [0.7, 0.1, 0.3, 0.05]])
    assert metrics.Precision(top_k=2)(y2, p2) == pytest.approx(2 / 4)
    assert metrics.Recall(top_k=1)(y2, p2) == pytest.approx(2 / 4)
    assert metrics.Precision(class_id=3)(y2, p2) == pytest.approx(0.0)
    assert metrics.Recall(class_id=0)(y2, p2) == pytest.approx(1.0)
    assert metrics.Precision(top_k=1, class_id=3)(y2, p2) == pytest.approx(0.0)


@pytest.mark.parametrize("make", [
    lambda: metrics.Precision(thresholds=[0.2, 0.5, 0.7]), lambda: metrics.Recall(top_k=2),
    lambda: metrics.AUC(), lambda: metrics.AUC(curve="PR"),
    lambda: metrics.AUC(num_thresholds=7, summation_method="minoring"),
    lambda: metrics.AUC(thresholds=[0.1, 0.35, 0.9], curve="PR", summation_method="majoring"),
    lambda: metrics.AUC(multi_label=True, label_weights=[1.0, 2.0, 0.5])])
def test_confusion_metrics_accumulate_across_batches_and_reset(make):
    y = (RNG.random((30, 3)) > 0.6).astype(np.float32)
    p = RNG.random((30, 3)).astype(np.float32)
    w = RNG.random(30).astype(np.float32)
    whole = make()
    expected = np.asarray(_run(whole, [(y, p, w)]))
    batched = make()
    got = np.asarray(_run(batched, [(y[i:i + 7], p[i:i + 7], w[i:i + 7]) for i in range(0, 30, 7)]))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    batched.reset_state()
    assert np.all(batched.true_positives == 0) and np.all(batched.false_negatives == 0)
    np.testing.assert_allclose(np.asarray(_run(batched, [(y, p, w)])), expected, rtol=1e-12)


def test_auc_against_exact_rank_statistics():
    labels = (RNG.random(400) > 0.5).astype(np.float32)
    scores = np.clip(0.5 + 0.25 * RNG.standard_normal(400) + 0.2 * (labels - 0.5), 0, 1)
    w = RNG.uniform(0.5, 1.5, 400)
    roc = metrics.AUC(num_thresholds=2000)(labels, scores, sample_weight=w)
    assert roc == pytest.approx(_rank_auc(labels, scores, w), abs=2e-3)
    assert metrics.AUC()([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)
    assert metrics.AUC(curve="PR")([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)
    assert metrics.AUC()([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == pytest.approx(0.0, abs=1e-12)
    logits = RNG.standard_normal(50)
    y = (RNG.random(50) > 0.5).astype(float)
    assert metrics.AUC(from_logits=True)(y, logits) == \
        pytest.approx(metrics.AUC()(y, 1 / (1 + np.exp(-logits))))
    # multi_label: the mean of the per-label AUCs
    y3, p3 = (RNG.random((40, 3)) > 0.5).astype(float), RNG.random((40, 3))
    per_label = [metrics.AUC()(y3[:, j], p3[:, j]) for j in range(3)]
    assert metrics.AUC(multi_label=True)(y3, p3) == pytest.approx(np.mean(per_label))


def test_state_is_float64_and_masks_are_not_applied_to_confusion_counts():
    m = metrics.Precision()
    m.update_state([[1.0], [0.0]], [[0.9], [0.7]], mask=np.array([True, False]))
    assert m.result() == pytest.approx(0.5) and m.true_positives.dtype == np.float64


# -- names and bad arguments -------------------------------------------------------------------

@pytest.mark.parametrize("name,cls", [
    ("root_mean_squared_error", "RootMeanSquaredError"),
    ("RootMeanSquaredError", "RootMeanSquaredError"),
    ("mape", "MeanAbsolutePercentageError"), ("MAPE", "MeanAbsolutePercentageError"),
    ("mean_absolute_percentage_error", "MeanAbsolutePercentageError"),
    ("msle", "MeanSquaredLogarithmicError"), ("log_cosh_error", "LogCoshError"),
    ("cosine_similarity", "CosineSimilarity"), ("kl_divergence", "KLDivergence"),
    ("poisson", "Poisson"), ("hinge", "Hinge"), ("squared_hinge", "SquaredHinge"),
    ("categorical_hinge", "CategoricalHinge"), ("binary_crossentropy", "BinaryCrossentropy"),
    ("bce", "BinaryCrossentropy"), ("categorical_crossentropy", "CategoricalCrossentropy"),
    ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
    ("top_k_categorical_accuracy", "TopKCategoricalAccuracy"),
    ("sparse_top_k_categorical_accuracy", "SparseTopKCategoricalAccuracy"),
    ("precision", "Precision"), ("Precision", "Precision"), ("recall", "Recall"),
    ("auc", "AUC"), ("AUC", "AUC"), ("true_positives", "TruePositives"),
    ("FalseNegatives", "FalseNegatives"), ("true_negatives", "TrueNegatives"),
    ("false_positives", "FalsePositives"), ("MSE", "MeanSquaredError"),
    ("MAE", "MeanAbsoluteError")])
def test_string_names_resolve_and_name_the_metric(name, cls):
    m = metrics.get(name, np.zeros((4, 3)), np.zeros((4, 3)))
    assert type(m).__name__ == cls and m.name == name


def test_accuracy_spelled_any_case_picks_the_variant_like_keras_compile():
    m = metrics.get("Accuracy", np.zeros((4,)), np.zeros((4, 1)))
    assert type(m).__name__ == "BinaryAccuracy" and m.name == "Accuracy"


def test_unnamed_confusion_metrics_get_unique_names_like_keras():
    a, b = metrics.AUC(), metrics.AUC()
    assert a.name.startswith("auc") and b.name.startswith("auc_") and a.name != b.name
    assert metrics.Precision(name="p").name == "p"


@pytest.mark.parametrize("make,exc,pattern", [
    (lambda: metrics.AUC(curve="XY"), ValueError, r"\[AUC\] curve"),
    (lambda: metrics.AUC(summation_method="trapezoid"), ValueError, r"\[AUC\] summation_method"),
    (lambda: metrics.AUC(num_thresholds=1), ValueError, r"\[AUC\] num_thresholds"),
    (lambda: metrics.AUC(num_thresholds=2.5), TypeError, r"\[AUC\] num_thresholds"),
    (lambda: metrics.AUC(num_labels=3), ValueError, r"\[AUC\] num_labels"),
    (lambda: metrics.Precision(thresholds=[0.5, 1.5]), ValueError, r"\[Precision\] thresholds"),
    (lambda: metrics.Recall(thresholds="high"), TypeError, r"\[Recall\] thresholds"),
    (lambda: metrics.Recall(top_k=0), ValueError, r"\[Recall\] top_k"),
    (lambda: metrics.Precision(class_id=-1), ValueError, r"\[Precision\] class_id"),
    (lambda: metrics.TopKCategoricalAccuracy(k=0), ValueError, r"\[TopKCategoricalAccuracy\] k"),
    (lambda: metrics.SparseTopKCategoricalAccuracy(k=1.0), TypeError,
     r"\[SparseTopKCategoricalAccuracy\] k"),
    (lambda: metrics.CosineSimilarity(axis="last"), TypeError, r"\[CosineSimilarity\] axis"),
    (lambda: metrics.Precision(class_id=3)(np.zeros((2, 3)), np.zeros((2, 3))), ValueError,
     r"\[precision.*\] class_id 3 is out of range"),
    (lambda: metrics.AUC(multi_label=True)(np.zeros(4), np.zeros(4)), ValueError,
     r"\[auc.*\] y_pred must have rank 2"),
    (lambda: metrics.Recall()(np.zeros((2, 3)), np.zeros((2, 2))), ValueError,
     r"\[recall.*\] y_true"),
    (lambda: metrics.SparseTopKCategoricalAccuracy()(np.array([5]), np.zeros((1, 3))),
     ValueError, r"\[sparse_top_k_categorical_accuracy\] labels must be in \[0, 3\)"),
    (lambda: metrics.get("area_under_curve"), ValueError, r"unknown metric"),
])
def test_bad_arguments_name_the_metric(make, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()


# -- compile / fit / evaluate --------------------------------------------------------------------

LOG_METRICS = ["auc", "precision", "recall", "binary_crossentropy", "root_mean_squared_error",
               "mape", "AUC"]


def _binary_model(mod, inp, seq):
    return seq([inp((4,)), mod.Dense(1, activation="sigmoid")])


def test_compile_fit_evaluate_logs_use_keras_names_and_accumulate():
    x = RNG.standard_normal((37, 4)).astype(np.float32)
    y = (RNG.random((37, 1)) > 0.5).astype(np.float32)
    m = _binary_model(layers, Input, Sequential)
    m.compile("sgd", "binary_crossentropy",
              metrics=LOG_METRICS + [metrics.AUC(curve="PR", name="pr_auc")])
    hist = m.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x[:10], y[:10])).history
    names = ["loss"] + LOG_METRICS + ["pr_auc"]
    assert set(hist) == set(names) | {f"val_{n}" for n in names}
    logs = m.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    pred = m.predict(x, verbose=0)
    # per-batch accumulation equals one pass over all the predictions
    for name, fresh in (("auc", metrics.AUC()), ("pr_auc", metrics.AUC(curve="PR")),
                        ("precision", metrics.Precision()), ("recall", metrics.Recall()),
                        ("root_mean_squared_error", metrics.RootMeanSquaredError())):
        assert logs[name] == pytest.approx(fresh(y, pred), rel=1e-6), name
    assert logs["AUC"] == logs["auc"]
    # evaluate between epochs leaves the training state alone; the next epoch starts afresh
    auc = m._metric_lists[0][0]
    tp_before = auc.true_positives.copy()
    m.evaluate(x[:5], y[:5], verbose=0)
    np.testing.assert_array_equal(auc.true_positives, tp_before)


# -- against Keras 3 -----------------------------------------------------------------------------

MEAN_CASES = [
    ("RootMeanSquaredError", {}, "reg"), ("MeanAbsolutePercentageError", {}, "reg"),
    ("MeanSquaredLogarithmicError", {}, "pos"), ("LogCoshError", {}, "reg"),
    ("CosineSimilarity", {}, "reg"), ("CosineSimilarity", {"axis": 0}, "reg"),
    ("KLDivergence", {}, "prob"), ("Poisson", {}, "pos"), ("Hinge", {}, "bin"),
    ("SquaredHinge", {}, "bin"), ("CategoricalHinge", {}, "cat"),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, "bin"),
    ("BinaryCrossentropy", {"from_logits": True}, "binlogit"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "catprob"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
    ("TopKCategoricalAccuracy", {"k": 2}, "cat"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    ("Accuracy", {}, "int"),
]


def _batch(kind, n=9, c=4):
    r = RNG
    if kind == "reg":
        return r.standard_normal((n, c)), r.standard_normal((n, c))
    if kind == "pos":
        return r.uniform(0, 3, (n, c)), r.uniform(0.1, 3, (n, c))
    if kind == "prob":
        e, f = np.exp(r.standard_normal((n, c))), np.exp(r.standard_normal((n, c)))
        return e / e.sum(-1, keepdims=True), f / f.sum(-1, keepdims=True)
    if kind in ("bin", "binlogit"):
        return (r.random((n, 1)) > 0.5) * 1.0, (r.uniform(0.05, 0.95, (n, 1)) if kind == "bin"
                                                 else r.standard_normal((n, 1)))
    if kind in ("cat", "catprob"):
        p = r.random((n, c)) + 0.05
        return np.eye(c)[r.integers(0, c, n)], p / p.sum(-1, keepdims=True)
    if kind == "sparse":
        return r.integers(0, c, (n, 1)) * 1.0, r.standard_normal((n, c))
    return r.integers(0, 3, (n, 1)) * 1.0, r.integers(0, 3, (n, 1)) * 1.0


@pytest.mark.parametrize("name,kwargs,kind", MEAN_CASES)
def test_mean_metrics_match_keras(name, kwargs, kind):
    keras = import_keras()
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    for _ in range(3):
        yt, yp = (a.astype(np.float32) for a in _batch(kind))
        n = yt.shape[1] if kwargs.get("axis") == 0 else len(yt)
        sw = RNG.random(n).astype(np.float32)
        ours.update_state(yt, yp, sample_weight=sw)
        theirs.update_state(yt, yp, sample_weight=sw)
    assert ours.result() == pytest.approx(float(theirs.result()), rel=2e-5, abs=1e-6), name
    assert ours.name == theirs.name


CONFUSION_CASES = [
    ("Precision", {}), ("Recall", {}), ("Precision", {"thresholds": [0.0, 0.5, 1.0]}),
    ("Recall", {"thresholds": [0.15, 0.5, 0.85]}), ("Precision", {"top_k": 2}),
    ("Recall", {"top_k": 1, "class_id": 2}), ("Precision", {"class_id": 1, "thresholds": 0.3}),
    ("AUC", {}), ("AUC", {"curve": "PR"}), ("AUC", {"num_thresholds": 13, "curve": "PR",
                                                   "summation_method": "minoring"}),
    ("AUC", {"summation_method": "majoring", "num_thresholds": 5}),
    ("AUC", {"thresholds": [0.1, 0.4, 0.45, 0.9]}), ("AUC", {"curve": "PRGAIN"}),
    ("AUC", {"from_logits": True}), ("AUC", {"multi_label": True}),
    ("AUC", {"multi_label": True, "label_weights": [0.2, 1.0, 0.0, 2.0], "curve": "PR"}),
    ("AUC", {"label_weights": [0.5, 1.0, 2.0, 1.0]}),
    ("TruePositives", {}), ("FalsePositives", {"thresholds": [0.0, 0.5, 1.0]}),
    ("TrueNegatives", {"thresholds": [0.2, 0.9]}), ("FalseNegatives", {"thresholds": 0.25}),
]


@pytest.mark.parametrize("name,kwargs", CONFUSION_CASES)
def test_confusion_metrics_match_keras(name, kwargs):
    keras = import_keras()
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    for _ in range(3):
        yt = (RNG.random((16, 4)) > 0.6).astype(np.float32)
        yp = RNG.random((16, 4)).astype(np.float32)
        if kwargs.get("from_logits"):
            yp = 3 * RNG.standard_normal((16, 4)).astype(np.float32)
        yp[:2, :2] = [[0.5, 0.0], [1.0, 0.25]]  # scores on thresholds and the ends
        sw = RNG.random(16).astype(np.float32)
        ours.update_state(yt, yp, sample_weight=sw)
        theirs.update_state(yt, yp, sample_weight=sw)
    np.testing.assert_allclose(ours.result(), to_numpy(theirs.result()), rtol=2e-5, atol=1e-6)
    ours.reset_state()
    theirs.reset_state()
    yt, yp = (RNG.random((8, 4)) > 0.5).astype(np.float32), RNG.random((8, 4)).astype(np.float32)
    ours.update_state(yt, yp)
    theirs.update_state(yt, yp)
    np.testing.assert_allclose(ours.result(), to_numpy(theirs.result()), rtol=2e-5, atol=1e-6)


def test_compiled_model_logs_match_keras():
    """Same weights and batches: fit's history and evaluate's dict have Keras's keys and values
    for string metrics (named by the string) and named metric objects."""
    keras = import_keras()
    x = RNG.standard_normal((40, 4)).astype(np.float32)
    y = (RNG.random((40, 1)) > 0.5).astype(np.float32)
    k = _binary_model(keras.layers, keras.Input, keras.Sequential)
    p = _binary_model(layers, Input, Sequential)
    p.set_weights(keras_weights(k))
    for model, mod in ((k, keras), (p, pyseq)):
        model.compile(mod.optimizers.SGD(0.1), "binary_crossentropy",
                      metrics=LOG_METRICS + [mod.metrics.AUC(curve="PR", name="pr_auc"),
                                             mod.metrics.Precision(thresholds=0.3, name="p30")])
    kh = k.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
               validation_data=(x[:12], y[:12])).history
    ph = p.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
               validation_data=(x[:12], y[:12])).history
    assert set(ph) == set(kh)
    for key in kh:
        np.testing.assert_allclose(ph[key], kh[key], rtol=1e-4, atol=1e-6, err_msg=key)
    ke = k.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    pe = p.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(pe) == set(ke)
    for key in ke:
        assert pe[key] == pytest.approx(float(ke[key]), rel=1e-4, abs=1e-6), key


def test_masks_like_keras():
    """Keras applies an output's mask to mean-of-loss metrics but not to RootMeanSquaredError
    or the confusion-matrix metrics (their inputs lose the mask before it is read)."""
    keras = import_keras()
    import torch
    y = (RNG.random((3, 5, 2)) > 0.5).astype(np.float32)
    p = RNG.random((3, 5, 2)).astype(np.float32)
    mask = RNG.random((3, 5)) > 0.5
    for name in ("RootMeanSquaredError", "MeanSquaredError", "LogCoshError", "Precision", "AUC"):
        ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
        t = torch.as_tensor(p)
        t._keras_mask = torch.as_tensor(mask)
        ours.update_state(y, p, mask=mask)
        theirs.update_state(torch.as_tensor(y), t)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=2e-5), name


def test_metric_with_several_thresholds_logs_an_array_and_the_bar_shows_its_mean(capsys):
    x = RNG.standard_normal((12, 4)).astype(np.float32)
    y = (RNG.random((12, 1)) > 0.5).astype(np.float32)
    m = _binary_model(layers, Input, Sequential)
    m.compile("sgd", "binary_crossentropy", metrics=[metrics.Recall(thresholds=[0.0, 1.0])])
    hist = m.fit(x, y, batch_size=4, epochs=1, verbose=2).history
    name = [k for k in hist if k != "loss"][0]
    np.testing.assert_allclose(hist[name][0], [1.0, 0.0])  # every score > 0, none > 1
    assert f"{name}: 0.5000" in capsys.readouterr().out


def test_counts_reset_at_each_epoch():
    # with a zero learning rate every epoch sees the same predictions: a count that was not
    # reset would double
    x = RNG.standard_normal((20, 4)).astype(np.float32)
    y = (RNG.random((20, 1)) > 0.5).astype(np.float32)
    m = _binary_model(layers, Input, Sequential)
    m.compile(pyseq.optimizers.SGD(0.0), "binary_crossentropy",
              metrics=["true_positives", "false_negatives"])
    hist = m.fit(x, y, batch_size=6, epochs=3, verbose=0).history
    pred = m.predict(x, verbose=0)
    assert hist["true_positives"] == [metrics.TruePositives()(y, pred)] * 3
    assert hist["false_negatives"] == [metrics.FalseNegatives()(y, pred)] * 3
    assert hist["true_positives"][0] + hist["false_negatives"][0] == y.sum()
