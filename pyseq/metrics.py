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


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}
for _cls in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, MeanSquaredError,
             MeanAbsoluteError):
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
