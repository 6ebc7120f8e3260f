"""Metrics as Keras computes them: running (weighted) means of per-sample values over an epoch.

'accuracy' / 'acc' resolve to binary, categorical or sparse categorical accuracy from the shapes
of the targets and predictions (and the loss), as Keras does; loss names ('mae', 'mse' ...)
become the mean of that loss.
"""

import numpy as np

from . import losses as _losses


class Metric:
    # A compiled model sets this: False for compile(metrics=...), True for weighted_metrics.
    uses_sample_weight = True

    def __init__(self, name=None, dtype=None):
        self.name = name or _losses._default_name(type(self))
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def result(self):
        return self.total / self.count if self.count else 0.0

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        values = np.asarray(self.values(y_true, y_pred), dtype=np.float64)
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            while w.ndim < values.ndim:
                w = w[..., None]
            w = np.broadcast_to(w, values.shape)
        if mask is not None:
            m = np.broadcast_to(np.asarray(mask, dtype=np.float64), values.shape)
            w = m if w is None else w * m
        if w is None:
            self.total += float(values.sum())
            self.count += float(values.size)
        else:
            self.total += float((values * w).sum())
            self.count += float(w.sum())

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()


class Mean(Metric):
    """The weighted mean of the values given to update_state (used for the loss)."""

    def update_state(self, values, sample_weight=None):
        v = float(np.asarray(values))
        w = 1.0 if sample_weight is None else float(sample_weight)
        self.total += v * w
        self.count += w


def _squeeze_labels(y_true, y_pred):
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1 and y_pred.shape[-1] != 1:
        y_true = y_true[..., 0]
    return y_true


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true).reshape(y_pred.shape) if np.size(y_true) == y_pred.size \
        else np.asarray(y_true)
    return np.mean(y_true == (y_pred > threshold).astype(y_true.dtype), axis=-1)


def categorical_accuracy(y_true, y_pred):
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    y_true = _squeeze_labels(y_true, y_pred)
    return (y_true.astype(np.int64) == np.argmax(y_pred, axis=-1)).astype(np.float32)


class MeanMetricWrapper(Metric):
    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn, self._kwargs = fn, kwargs
        super().__init__(name=name or fn.__name__)

    def values(self, y_true, y_pred):
        return self._fn(y_true, y_pred, **self._kwargs)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(_losses.mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(_losses.mean_absolute_error, name)


def accuracy(y_true, y_pred):
    """1 where the prediction equals the target exactly (Keras ``Accuracy``)."""
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true).reshape(y_pred.shape) if np.size(y_true) == y_pred.size \
        else np.asarray(y_true)
    return (y_true == y_pred).astype(np.float32)


def _in_top_k(scores, labels, k):
    # Keras (in_top_k): the target's score is among the k largest; ties count as in
    target = np.take_along_axis(scores, labels[..., None], axis=-1)
    return (np.sum(scores > target, axis=-1) < k).astype(np.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_pred = np.asarray(y_pred)
    return _in_top_k(y_pred, np.argmax(np.asarray(y_true), axis=-1), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_pred = np.asarray(y_pred)
    y_true = _squeeze_labels(y_true, y_pred)
    return _in_top_k(y_pred, y_true.astype(np.int64), k)


def _squared_error(y_true, y_pred):
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return np.square(y_pred - np.asarray(y_true, dtype=np.float64).reshape(y_pred.shape))


def _loss_values(loss_cls, **kwargs):
    def fn(y_true, y_pred):
        return loss_cls(reduction=None, **kwargs)(y_true, y_pred)
    fn.__name__ = _losses._default_name(loss_cls)
    return fn


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, k=int(k))


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids=False):
        if from_sorted_ids:
            raise ValueError(f"[{name}] from_sorted_ids=True is not supported by pyseq")
        super().__init__(sparse_top_k_categorical_accuracy, name, k=int(k))


class RootMeanSquaredError(MeanMetricWrapper):
    """sqrt of the (weighted) mean of the squared errors over every entry."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(_squared_error, name)

    def result(self):
        return float(np.sqrt(super().result()))


class MeanAbsolutePercentageError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(_loss_values(_losses.MeanAbsolutePercentageError), name)


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0):
        super().__init__(_loss_values(_losses.BinaryCrossentropy, from_logits=from_logits,
                                      label_smoothing=label_smoothing), name)


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):
        super().__init__(_loss_values(_losses.CategoricalCrossentropy, from_logits=from_logits,
                                      label_smoothing=label_smoothing, axis=axis), name)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 axis=-1):
        super().__init__(_loss_values(_losses.SparseCategoricalCrossentropy,
                                      from_logits=from_logits, axis=axis), name)


class _Confusion(Metric):
    """Weighted confusion counts of ``y_pred > threshold`` against ``y_true != 0`` over all
    entries (Keras's confusion metrics; class_id picks one column of the last axis)."""

    def __init__(self, thresholds, name=None, dtype=None, class_id=None):
        self.thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
        self.class_id = class_id
        super().__init__(name=name)

    def reset_state(self):
        n = len(self.thresholds)
        self.tp, self.fp, self.tn, self.fn = (np.zeros(n) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        y_true = np.asarray(y_true)
        if y_true.size == y_pred.size:
            y_true = y_true.reshape(y_pred.shape)
        w = np.ones(y_pred.shape)
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            while sw.ndim < y_pred.ndim:
                sw = sw[..., None]
            w = w * sw
        if mask is not None:
            m = np.asarray(mask, dtype=np.float64)
            while m.ndim < y_pred.ndim:
                m = m[..., None]
            w = w * m
        if self.class_id is not None:
            y_true, y_pred, w = (a[..., self.class_id] for a in (y_true, y_pred, w))
        pos = (y_true != 0).reshape(-1)
        y_pred, w = y_pred.reshape(-1), w.reshape(-1)
        above = y_pred[None, :] > self.thresholds[:, None]       # (thresholds, entries)
        self.tp += (above & pos) @ w
        self.fp += (above & ~pos) @ w
        self.fn += (~above & pos) @ w
        self.tn += (~above & ~pos) @ w


def _ratio(a, b):
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


class Precision(_Confusion):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision",
                 dtype=None):
        if top_k is not None:
            raise ValueError(f"[{name}] top_k is not supported by pyseq")
        super().__init__(0.5 if thresholds is None else thresholds, name, dtype, class_id)

    def result(self):
        r = _ratio(self.tp, self.tp + self.fp)
        return float(r[0]) if r.size == 1 else r


class Recall(_Confusion):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        if top_k is not None:
            raise ValueError(f"[{name}] top_k is not supported by pyseq")
        super().__init__(0.5 if thresholds is None else thresholds, name, dtype, class_id)

    def result(self):
        r = _ratio(self.tp, self.tp + self.fn)
        return float(r[0]) if r.size == 1 else r


class AUC(_Confusion):
    """Area under the ROC curve (Keras's default: 200 thresholds, trapezoids), or under the
    PR curve with summation_method 'minoring'/'majoring'."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name="auc", dtype=None, thresholds=None, multi_label=False,
                 num_labels=None, label_weights=None, from_logits=False):
        if curve not in ("ROC", "PR") or summation_method not in ("interpolation", "minoring",
                                                                  "majoring"):
            raise ValueError(f"[{name}] curve must be 'ROC' or 'PR' and summation_method "
                             f"'interpolation', 'minoring' or 'majoring', got {curve!r}, "
                             f"{summation_method!r}")
        if curve == "PR" and summation_method == "interpolation":
            raise ValueError(f"[{name}] curve='PR' with summation_method='interpolation' is not "
                             "supported by pyseq")
        if multi_label or label_weights is not None:
            raise ValueError(f"[{name}] multi_label and label_weights are not supported by "
                             "pyseq")
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
        else:
            if num_thresholds <= 1:
                raise ValueError(f"[{name}] num_thresholds must be > 1, got {num_thresholds}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.curve, self.summation_method = curve, summation_method
        self.from_logits = bool(from_logits)
        super().__init__([0.0 - _losses.EPSILON] + inner + [1.0 + _losses.EPSILON], name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        super().update_state(y_true, np.clip(y_pred, 0.0, 1.0), sample_weight, mask)

    def result(self):
        recall = _ratio(self.tp, self.tp + self.fn)
        if self.curve == "ROC":
            x, y = _ratio(self.fp, self.fp + self.tn), recall
        else:
            x, y = recall, _ratio(self.tp, self.tp + self.fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}
_BY_NAME.update({
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "root_mean_squared_error": RootMeanSquaredError,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "precision": Precision, "recall": Recall, "auc": AUC,
})
for _cls in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, MeanSquaredError,
             MeanAbsoluteError, Accuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
             RootMeanSquaredError, MeanAbsolutePercentageError, BinaryCrossentropy,
             CategoricalCrossentropy, SparseCategoricalCrossentropy, Precision, Recall, AUC):
    _BY_NAME[_cls.__name__] = _cls


def get(identifier, y_true=None, y_pred=None, loss=None):
    """A Metric from a name or instance; 'accuracy'/'acc' need the target and prediction shapes
    (arrays or shape tuples) to pick their variant, as in Keras."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier in ("accuracy", "acc"):
        cls = _accuracy_variant(y_true, y_pred, loss)
        return cls(name=identifier)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        m = _BY_NAME[identifier]()
        m.name = identifier
        return m
    if callable(identifier) and not isinstance(identifier, type):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"[metrics.get] unknown metric {identifier!r}; expected a Metric or one of "
                     f"{sorted(['accuracy', 'acc'] + [k for k in _BY_NAME if k.islower()])}")


def _accuracy_variant(y_true, y_pred, loss=None):
    # Keras 3 decides from the shapes alone (compile_utils.is_binary_or_sparse_categorical).
    ts = y_true if isinstance(y_true, tuple) else tuple(np.shape(y_true))
    ps = y_pred if isinstance(y_pred, tuple) else tuple(np.shape(y_pred))
    if ps and ps[-1] == 1:
        return BinaryAccuracy
    if len(ts) < len(ps) or (ts and ts[-1] == 1 and ps and (ps[-1] or 2) > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy
