"""Metrics as Keras computes them: running (weighted) means of per-sample values over an epoch.

'accuracy' / 'acc' resolve to binary, categorical or sparse categorical accuracy from the shapes
of the targets and predictions (and the loss), as Keras does; loss names ('mae', 'mse' ...)
become the mean of that loss.
"""

import functools
import inspect
import warnings

import numpy as np

from . import losses as _losses


class Metric:
    # A compiled model sets this: False for compile(metrics=...), True for weighted_metrics.
    uses_sample_weight = True
    # constructor arguments Keras's get_config leaves out
    _config_omit = ()

    def __init_subclass__(cls, **kwargs):
        # get_config gives back the constructor's arguments (of the outermost constructor)
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args, **kw):
            if "_config_args" not in vars(self):
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                self._config_args = {k: v for k, v in bound.arguments.items()
                                     if k not in ("self", "name", "dtype", "kwargs", "fn")
                                     and k not in self._config_omit}
            init(self, *args, **kw)
        cls.__init__ = recording_init

    def get_config(self):
        """Keras's keys: name, dtype, then the constructor's own arguments."""
        return {"name": self.name, "dtype": "float32", **getattr(self, "_config_args", {})}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

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
            values, w = _same_rank(values, w)   # Keras: (N,) values take (N, 1) weights
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
        # Keras: each sample counts once (its values averaged), or with its weight
        v = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            if v.ndim > 1:
                v = v.reshape(len(v), -1).mean(axis=1)
            self.total += float(v.sum())
            self.count += float(len(v)) if v.ndim else 1.0
            return
        w = np.asarray(sample_weight, dtype=np.float64)
        v, w = _same_rank(v, w)
        if v.ndim > w.ndim:
            v = v.mean(axis=tuple(range(w.ndim, v.ndim)))
        w = np.broadcast_to(w, v.shape)
        v = v * w
        if w.ndim > 1:
            w = w.reshape(len(w), -1).mean(axis=1)
            v = v.reshape(len(v), -1).mean(axis=1)
        self.total += float(v.sum())
        self.count += float(w.sum())


def _squeeze_labels(y_true, y_pred):
    # Keras: labels of y_pred's rank lose their last axis (of size 1), whatever y_pred's
    # last axis; a (N, 1) y_pred then gives (N,) argmaxes against (N,) labels
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
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


def get(identifier, y_true=None, y_pred=None, loss=None):
    """A Metric from a name or instance; 'accuracy'/'acc' need the target and prediction shapes
    (arrays or shape tuples) to pick their variant, as in Keras."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
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


# -- More Keras 3 metrics: regression and probabilistic means, hinges, top-k accuracies, Sum,
# Accuracy, RootMeanSquaredError, and the confusion-matrix metrics Precision, Recall and AUC.

def _same_rank(x1, x2, expand_rank_1=True):
    """Keras's squeeze_or_expand_to_same_rank: ranks that differ by one are aligned by
    dropping (or, for rank 1, adding) a trailing axis of size 1."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _positive_int(owner, arg, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"[{owner}] {arg} must be an int, got {value!r:.60}")
    if value < 1:
        raise ValueError(f"[{owner}] {arg} must be >= 1, got {value}")
    return int(value)


def accuracy(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    y_true, y_pred = _same_rank(np.asarray(y_true), y_pred)
    return (y_true == y_pred).astype(np.float32)


def _in_top_k(labels, y_pred, k, owner):
    # torch.topk semantics as Keras uses them: a label is in the top k when its score reaches
    # the k-th largest score (ties at the boundary count as hits).
    y_pred = np.asarray(y_pred)
    flat = y_pred.reshape(-1, y_pred.shape[-1])
    labels = np.asarray(labels).reshape(-1).astype(np.intp)
    if labels.size != flat.shape[0]:
        raise ValueError(f"[{owner}] y_true has {labels.size} labels for "
                         f"{flat.shape[0]} rows of predictions")
    if labels.size and (labels.min() < 0 or labels.max() >= flat.shape[1]):
        raise ValueError(f"[{owner}] labels must be in [0, {flat.shape[1]}), "
                         f"got values in [{labels.min()}, {labels.max()}]")
    kth = -np.sort(-flat, axis=-1)[:, min(k, flat.shape[1]) - 1]
    return (flat[np.arange(flat.shape[0]), labels] >= kth).astype(np.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    labels = np.argmax(np.asarray(y_true), axis=-1)
    return _in_top_k(labels, y_pred, k, "top_k_categorical_accuracy").reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    if from_sorted_ids:  # y_pred holds class ids, best first
        flat = y_pred.reshape(-1, y_pred.shape[-1])[:, :k]
        hits = np.any(flat == y_true.reshape(-1, 1), axis=1).astype(np.float32)
    else:
        hits = _in_top_k(y_true, y_pred, k, "sparse_top_k_categorical_accuracy")
    out = hits.reshape(y_true.shape) if y_true.ndim > 1 else hits
    return out[..., 0] if out.ndim > 1 and out.shape[-1] == 1 else out


def _cosine_similarity_metric(y_true, y_pred, axis=-1):
    return -_losses.cosine_similarity(y_true, y_pred, axis=axis)


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name,
                         k=_positive_int("TopKCategoricalAccuracy", "k", k))
        self.k = self._kwargs["k"]


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    _config_omit = ("from_sorted_ids",)   # as Keras's get_config

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name,
                         k=_positive_int("SparseTopKCategoricalAccuracy", "k", k),
                         from_sorted_ids=bool(from_sorted_ids))
        self.k, self.from_sorted_ids = self._kwargs["k"], bool(from_sorted_ids)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(_losses.mean_absolute_percentage_error, name)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(_losses.mean_squared_logarithmic_error, name)


class LogCoshError(MeanMetricWrapper):
    def __init__(self, name="logcosh", dtype=None):  # Keras's default name is "logcosh"
        super().__init__(_losses.log_cosh, name)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity (positive: 1 for parallel vectors), unlike the loss."""

    _config_omit = ("axis",)   # as Keras's get_config

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(_cosine_similarity_metric, name,
                         axis=_losses._check_axis("CosineSimilarity", axis))
        self.axis = self._kwargs["axis"]


class KLDivergence(MeanMetricWrapper):
    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(_losses.kl_divergence, name)


class Poisson(MeanMetricWrapper):
    def __init__(self, name="poisson", dtype=None):
        super().__init__(_losses.poisson, name)


class Hinge(MeanMetricWrapper):
    def __init__(self, name="hinge", dtype=None):
        super().__init__(_losses.hinge, name)


class SquaredHinge(MeanMetricWrapper):
    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(_losses.squared_hinge, name)


class CategoricalHinge(MeanMetricWrapper):
    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(_losses.categorical_hinge, name)


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0):
        loss = _losses.BinaryCrossentropy(from_logits=from_logits,
                                          label_smoothing=label_smoothing, reduction=None)
        super().__init__(loss, name)
        self.from_logits, self.label_smoothing = loss.from_logits, loss.label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):
        loss = _losses.CategoricalCrossentropy(from_logits=from_logits,
                                               label_smoothing=label_smoothing, axis=axis,
                                               reduction=None)
        super().__init__(loss, name)
        self.from_logits, self.label_smoothing, self.axis = (loss.from_logits,
                                                             loss.label_smoothing, axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 ignore_class=None, axis=-1):
        loss = _losses.SparseCategoricalCrossentropy(from_logits=from_logits,
                                                     ignore_class=ignore_class, axis=axis,
                                                     reduction=None)
        super().__init__(loss, name)
        self.from_logits, self.ignore_class, self.axis = loss.from_logits, ignore_class, axis


class RootMeanSquaredError(Metric):
    """sqrt of the running (weighted) mean of the per-sample mean squared errors. As in Keras,
    the mask of a masked output is not applied (Keras computes the squared error first, which
    drops the mask); pass it as sample_weight to weigh steps."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name)

    def values(self, y_true, y_pred):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        y_true, y_pred = _same_rank(np.asarray(y_true, dtype=np.float64), y_pred)
        return np.square(y_pred - y_true)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        super().update_state(y_true, y_pred, sample_weight=sample_weight)  # mask: see above

    def result(self):
        return float(np.sqrt(super().result()))


class Sum(Metric):
    """The running (weighted) sum of the values given to update_state."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name)

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            values, w = _same_rank(values, w)
            while w.ndim < values.ndim:  # per-sample weights spread over the other axes
                w = w[..., None]
            values = values * w
        self.total += float(values.sum())

    def result(self):
        return self.total


# -- confusion-matrix metrics ------------------------------------------------------------------

_NEG_INF = -1e10  # Keras's score for predictions outside the top k


def _divide_no_nan(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    out = np.zeros(a.shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _evenly_spaced(thresholds):
    n = len(thresholds)
    return n >= 3 and np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1),
                                  atol=_losses.EPSILON)


def _check_thresholds(owner, thresholds, default):
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) \
        else [thresholds]
    bad = [t for t in values if isinstance(t, (bool, np.bool_)) or
           not isinstance(t, (int, float, np.integer, np.floating))]
    if bad or not values:
        raise TypeError(f"[{owner}] thresholds must be a number or a non-empty list of numbers, "
                        f"got {thresholds!r:.80}")
    out = [t for t in values if not 0 <= t <= 1]
    if out:
        raise ValueError(f"[{owner}] thresholds must be in [0, 1], got {out}")
    return [float(t) for t in values]


class _ConfusionMatrixMetric(Metric):
    """Weighted true/false positive/negative counts at each threshold, accumulated over batches
    as Keras's ``update_confusion_matrix_variables`` does: a prediction is positive when its
    score is > the threshold; labels are positive when non-zero; evenly spaced thresholds go
    through Keras's bucket formula ceil(p * (T - 1)) - 1 on predictions clipped to [0, 1]."""

    _with_epsilon = False  # AUC's end thresholds sit at -1e-7 and 1 + 1e-7
    multi_label = False
    label_weights = None

    def reset_state(self):
        shape = (len(self._thresholds),) if not self.multi_label or self._num_labels is None \
            else (len(self._thresholds), self._num_labels)
        self.true_positives = np.zeros(shape)
        self.false_positives = np.zeros(shape)
        self.true_negatives = np.zeros(shape)
        self.false_negatives = np.zeros(shape)

    def _arrays(self, y_true, y_pred, sample_weight):
        owner = self.name
        y_pred = np.asarray(y_pred)
        y_true = np.asarray(y_true)
        if y_pred.dtype.kind not in "fiub" or y_true.dtype.kind not in "fiub":
            raise TypeError(f"[{owner}] y_true and y_pred must be numeric, got {y_true.dtype} "
                            f"and {y_pred.dtype}")
        # Keras keeps its counts in float32 and compares in float32
        y_pred = y_pred.astype(np.float32)
        y_true = y_true.astype(np.float32)
        y_pred, y_true = _same_rank(y_pred, y_true)
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float32)[..., None]
            _, w = _same_rank(y_true, w, expand_rank_1=False)
        top_k = getattr(self, "top_k", None)
        if top_k is not None:
            idx = np.argsort(-y_pred, axis=-1, kind="stable")[..., :top_k]
            keep = np.zeros(y_pred.shape, dtype=bool)
            np.put_along_axis(keep, idx, True, axis=-1)
            y_pred = np.where(keep, y_pred, np.float32(_NEG_INF))
        class_id = getattr(self, "class_id", None)
        if class_id is not None:
            if y_pred.ndim < 2:
                raise ValueError(f"[{owner}] class_id needs y_pred of shape (num_samples, "
                                 f"num_classes), got {y_pred.shape}")
            if not 0 <= class_id < y_pred.shape[-1]:
                raise ValueError(f"[{owner}] class_id {class_id} is out of range for "
                                 f"{y_pred.shape[-1]} classes")
            y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
        try:
            y_true = np.broadcast_to(y_true, y_pred.shape)
            w = np.ones(y_pred.shape, np.float32) if w is None else np.broadcast_to(w, y_pred.shape)
        except ValueError:
            raise ValueError(f"[{owner}] y_true {y_true.shape} and sample_weight "
                             f"{None if w is None else w.shape} must broadcast to y_pred's shape "
                             f"{y_pred.shape}") from None
        if self.label_weights is not None and not self.multi_label:
            w = w * np.broadcast_to(self.label_weights, y_pred.shape)
        if self.multi_label:
            if y_pred.ndim != 2:
                raise ValueError(f"[{owner}] y_pred must have rank 2 when multi_label=True, got "
                                 f"shape {y_pred.shape}")
            if self._num_labels is None:
                self._num_labels = y_pred.shape[1]
                self.reset_state()
            elif y_pred.shape[1] != self._num_labels:
                raise ValueError(f"[{owner}] y_pred must have {self._num_labels} labels, got "
                                 f"shape {y_pred.shape}")
            return y_true != 0, y_pred, w
        return (y_true != 0).reshape(-1, 1), y_pred.reshape(-1, 1), w.reshape(-1, 1)

    def _accumulate(self, y_true, y_pred, sample_weight):
        labels, preds, w = self._arrays(y_true, y_pred, sample_weight)
        w = w.astype(np.float64)
        pos_w, neg_w = w * labels, w * ~labels
        n_thr = len(self._thresholds)
        if self._evenly:
            bucket = np.ceil(np.clip(preds, 0, 1) * np.float32(n_thr - 1)) - 1
            if self._with_epsilon:
                bucket = np.maximum(bucket, 0)
            bucket = bucket.astype(np.intp)
            valid = bucket >= 0  # a bucket of -1 is positive at no threshold
            cols = np.broadcast_to(np.arange(preds.shape[1]), preds.shape)
            tp = np.zeros((n_thr, preds.shape[1]))
            fp = np.zeros((n_thr, preds.shape[1]))
            np.add.at(tp, (bucket[valid], cols[valid]), pos_w[valid])
            np.add.at(fp, (bucket[valid], cols[valid]), neg_w[valid])
            tp = np.cumsum(tp[::-1], axis=0)[::-1]
            fp = np.cumsum(fp[::-1], axis=0)[::-1]
        else:
            thr = np.asarray(self._thresholds, dtype=np.float32)[:, None, None]
            above = preds[None] > thr
            tp = np.sum(above * pos_w[None], axis=1)
            fp = np.sum(above * neg_w[None], axis=1)
        if not self.multi_label:
            tp, fp = tp[:, 0], fp[:, 0]
        self.true_positives = self.true_positives + tp
        self.false_positives = self.false_positives + fp
        self.false_negatives = self.false_negatives + (pos_w.sum(axis=0) if self.multi_label
                                                       else pos_w.sum()) - tp
        self.true_negatives = self.true_negatives + (neg_w.sum(axis=0) if self.multi_label
                                                     else neg_w.sum()) - fp

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        # As Keras: the mask of a masked output is not applied to confusion counts.
        self._accumulate(y_true, y_pred, sample_weight)

    def _scalar(self, values):
        return float(values[0]) if len(self._thresholds) == 1 else values


def _init_top_k_class_id(self, owner, thresholds, top_k, class_id):
    self.init_thresholds = thresholds
    self.top_k = None if top_k is None else _positive_int(owner, "top_k", top_k)
    if class_id is not None and (isinstance(class_id, (bool, np.bool_)) or
                                 not isinstance(class_id, (int, np.integer)) or class_id < 0):
        raise (ValueError if isinstance(class_id, (int, np.integer)) else TypeError)(
            f"[{owner}] class_id must be a non-negative int, got {class_id!r:.60}")
    self.class_id = class_id
    self._thresholds = _check_thresholds(owner, thresholds,
                                         0.5 if self.top_k is None else _NEG_INF)
    self.thresholds = self._thresholds
    self._evenly = _evenly_spaced(self._thresholds)


class Precision(_ConfusionMatrixMetric):
    """tp / (tp + fp) at each threshold (a float for one threshold); ``top_k`` keeps the k
    highest scores of each row, ``class_id`` one column of one-hot or multi-hot labels."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        _init_top_k_class_id(self, "Precision", thresholds, top_k, class_id)
        super().__init__(name=name or _unique_name("precision"))

    def result(self):
        return self._scalar(_divide_no_nan(self.true_positives,
                                           self.true_positives + self.false_positives))


class Recall(_ConfusionMatrixMetric):
    """tp / (tp + fn) at each threshold (a float for one threshold); ``top_k`` and ``class_id``
    as for Precision."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        _init_top_k_class_id(self, "Recall", thresholds, top_k, class_id)
        super().__init__(name=name or _unique_name("recall"))

    def result(self):
        return self._scalar(_divide_no_nan(self.true_positives,
                                           self.true_positives + self.false_negatives))


class _ConditionCount(_ConfusionMatrixMetric):
    """The weighted count of one confusion-matrix cell at each threshold (a float for one)."""

    _cell = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        owner = type(self).__name__
        _init_top_k_class_id(self, owner, thresholds, None, None)
        super().__init__(name=name or _unique_name(_losses._default_name(type(self))))

    def result(self):
        return self._scalar(np.array(getattr(self, self._cell)))


class TruePositives(_ConditionCount):
    _cell = "true_positives"


class FalsePositives(_ConditionCount):
    _cell = "false_positives"


class TrueNegatives(_ConditionCount):
    _cell = "true_negatives"


class FalseNegatives(_ConditionCount):
    _cell = "false_negatives"


_CURVES = {"roc": "ROC", "ROC": "ROC", "pr": "PR", "PR": "PR", "prgain": "PRGAIN",
           "PRGAIN": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "Interpolation": "interpolation",
               "majoring": "majoring", "Majoring": "majoring", "minoring": "minoring",
               "Minoring": "minoring"}


class AUC(_ConfusionMatrixMetric):
    """Area under the ROC or PR curve from confusion counts at ``num_thresholds`` thresholds
    (0 - 1e-7, 1/(T-1), ..., 1 + 1e-7), summed by Keras's Riemann rule: mid-point
    ("interpolation"; for PR the Davis & Goadrich interpolation of the counts), "minoring" or
    "majoring". With ``multi_label`` each label has its own curve and the AUCs are averaged
    (weighted by ``label_weights``); otherwise ``label_weights`` weighs the flattened labels."""

    _with_epsilon = True

    def get_config(self):
        # Keras lists thresholds only when given, last, with num_thresholds counting the two
        # end points it adds
        config = super().get_config()
        thresholds = config.pop("thresholds", None)
        if thresholds is not None:
            config["num_thresholds"] = len(thresholds) + 2
            config["thresholds"] = list(thresholds)
        return config

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        if curve not in _CURVES:
            raise ValueError(f"[AUC] curve must be one of 'ROC', 'PR', 'PRGAIN', got {curve!r}")
        if summation_method not in _SUMMATIONS:
            raise ValueError("[AUC] summation_method must be one of 'interpolation', 'majoring', "
                             f"'minoring', got {summation_method!r}")
        self.curve, self.summation_method = _CURVES[curve], _SUMMATIONS[summation_method]
        if thresholds is not None:
            inner = sorted(_check_thresholds("AUC", thresholds, None))
            self._evenly = _evenly_spaced([0.0] + inner + [1.0])
        else:
            if isinstance(num_thresholds, (bool, np.bool_)) or \
                    not isinstance(num_thresholds, (int, np.integer)):
                raise TypeError(f"[AUC] num_thresholds must be an int, got {num_thresholds!r:.60}")
            if num_thresholds <= 1:
                raise ValueError(f"[AUC] num_thresholds must be an integer > 1, got "
                                 f"{num_thresholds}")
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = [0.0 - _losses.EPSILON] + inner + [1.0 + _losses.EPSILON]
        self.num_thresholds = len(self._thresholds)
        self.multi_label = bool(multi_label)
        if num_labels is not None and not self.multi_label:
            raise ValueError("[AUC] num_labels is needed only when multi_label is True")
        self.num_labels = num_labels
        self._num_labels = None if num_labels is None else \
            _positive_int("AUC", "num_labels", num_labels)
        self.label_weights = None if label_weights is None else \
            np.asarray(label_weights, dtype=np.float32)
        self.from_logits = bool(from_logits)
        super().__init__(name=name or _unique_name("auc"))

    @property
    def thresholds(self):
        return list(self._thresholds)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        if self.from_logits:
            y_pred = _losses._sigmoid(np.asarray(y_pred, dtype=np.float32))
        self._accumulate(y_true, y_pred, sample_weight)

    def _average(self, per_threshold_terms):
        if not self.multi_label:
            return float(np.sum(per_threshold_terms))
        by_label = np.sum(per_threshold_terms, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(_divide_no_nan(np.sum(by_label * self.label_weights),
                                    np.sum(self.label_weights)))

    def _interpolate_pr_auc(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return _divide_no_nan(slope * (dtp + intercept * np.log(ratio)),
                              np.maximum(tp[1:] + fn[1:], 0))

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._average(self._interpolate_pr_auc())
        tp, fp, tn, fn = (self.true_positives, self.false_positives, self.true_negatives,
                          self.false_negatives)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = _divide_no_nan(tp + fn, tn + fp)
            x = np.maximum(np.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp)), 0.0)
            y = np.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)


def _unique_name(prefix):
    from .layers.base import _unique_name as unique  # Keras shares one counter with layers
    return unique(prefix)


# Keras 3's string names (metrics.ALL_OBJECTS_DICT): class names, their snake_case, and the
# short loss names; compile() names the metric by the string it was given.
_MORE_METRICS = (Accuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                 MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCoshError,
                 CosineSimilarity, KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge,
                 BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
                 RootMeanSquaredError, Precision, Recall, AUC, TruePositives, FalsePositives,
                 TrueNegatives, FalseNegatives)
for _cls in _MORE_METRICS:
    _BY_NAME[_cls.__name__] = _cls
    _BY_NAME[_losses._default_name(_cls)] = _cls
_BY_NAME.update({
    "MSE": MeanSquaredError, "MAE": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
})


# -- R2Score and the F-scores (Keras 3's regression_metrics / f_score_metrics) -----------------

def _two_dim(owner, y_true, y_pred):
    if y_true.ndim != 2 or y_pred.ndim != 2:
        raise ValueError(f"[{owner}] expects 2D inputs (batch_size, output_dim), got y_true "
                         f"{y_true.shape} and y_pred {y_pred.shape}")


class R2Score(Metric):
    """The coefficient of determination per output column, aggregated by
    ``class_aggregation`` ("uniform_average", "variance_weighted_average" or None), adjusted
    for ``num_regressors`` when given (Keras's R2Score)."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"[R2Score] class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got {class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(f"[R2Score] num_regressors must be >= 0, got {num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        super().__init__(name=name)

    def reset_state(self):
        self.sum = self.squared_sum = self.residual = self.count = 0.0
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        y_true, y_pred = _same_rank(np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
        _two_dim("R2Score", y_true, y_pred)
        w = np.ones(()) if sample_weight is None else np.asarray(sample_weight, np.float64)
        if w.ndim == 1:
            w = w[:, None]
        w = np.broadcast_to(w, y_true.shape)
        self.sum = self.sum + np.sum(y_true * w, axis=0)
        self.squared_sum = self.squared_sum + np.sum(y_true * y_true * w, axis=0)
        self.residual = self.residual + np.sum((y_true - y_pred) ** 2 * w, axis=0)
        self.count = self.count + np.sum(w, axis=0)
        self.num_samples += y_true.size

    def result(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1 - self.residual / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            score = np.sum(total * raw) / np.sum(total)
        else:
            score = raw
        n, p = self.num_samples, self.num_regressors
        if p and p < n - 1:
            score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        elif p:
            warnings.warn("[R2Score] adjusted R2 needs num_regressors < num_samples - 1; "
                          "giving the standard R2 score", stacklevel=2)
        return float(score) if np.ndim(score) == 0 else np.asarray(score)


class FBetaScore(Metric):
    """(1 + beta^2) * precision * recall / (beta^2 * precision + recall) per class, averaged
    by ``average`` (None, "micro", "macro", "weighted"); a prediction counts as positive above
    ``threshold``, or where it is its row's maximum when threshold is None (Keras)."""

    _EPS = 1e-7     # Keras's backend.epsilon()

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        owner = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"[{owner}] average must be None, 'micro', 'macro' or 'weighted',"
                             f" got {average!r}")
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"[{owner}] beta must be a float > 0, got {beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or
                                      not 0.0 < threshold <= 1.0):
            raise ValueError(f"[{owner}] threshold must be None or a float in (0, 1], got "
                             f"{threshold!r}")
        self.average, self.beta, self.threshold = average, beta, threshold
        super().__init__(name=name)

    def reset_state(self):
        self.true_positives = self.false_positives = self.false_negatives = 0.0
        self.intermediate_weights = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
        _two_dim(type(self).__name__, y_true, y_pred)
        if self.threshold is None:
            pred = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            pred = y_pred > self.threshold
        pred = pred.astype(np.float64)
        axis = None if self.average == "micro" else 0
        w = None if sample_weight is None else np.asarray(sample_weight, np.float64)[:, None]

        def total(v):
            return np.sum(v if w is None else v * w, axis=axis)
        self.true_positives = self.true_positives + total(pred * y_true)
        self.false_positives = self.false_positives + total(pred * (1 - y_true))
        self.false_negatives = self.false_negatives + total((1 - pred) * y_true)
        self.intermediate_weights = self.intermediate_weights + total(y_true)

    def result(self):
        eps, b2 = self._EPS, self.beta ** 2
        tp = np.asarray(self.true_positives, np.float64)
        precision = tp / (tp + self.false_positives + eps)
        recall = tp / (tp + self.false_negatives + eps)
        score = precision * recall / (b2 * precision + recall + eps) * (1 + b2)
        if self.average == "weighted":
            iw = np.asarray(self.intermediate_weights, np.float64)
            score = np.sum(score * iw / (np.sum(iw) + eps))
        elif self.average is not None:
            score = np.mean(score)
        return float(score) if np.ndim(score) == 0 else score


class F1Score(FBetaScore):
    """FBetaScore with beta = 1."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)


_BY_NAME.update({"R2Score": R2Score, "r2_score": R2Score, "FBetaScore": FBetaScore,
                 "F1Score": F1Score, "f1_score": F1Score})
