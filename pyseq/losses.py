"""Losses with Keras 3's names, string aliases, arithmetic and reduction, each with its gradient.

``loss(y_true, y_pred, sample_weight=None)`` gives the reduced value (a float) as Keras does;
``loss.value_and_grad(y_true, y_pred, sample_weight=None, mask=None)`` gives it with dL/dy_pred.
Reduction "sum_over_batch_size" divides the weighted sum of the per-sample losses by their
number; a mask (from a masked model output) weighs valid entries by total/valid, as Keras.

Non-logits cross-entropies clip probabilities to [1e-7, 1 - 1e-7] like Keras. When the
probabilities come from a sigmoid/softmax output layer, ``logits_grad`` gives the gradient with
respect to that layer's logits directly (p - y), which stays exact where the clip saturates.
"""

import numpy as np

EPSILON = 1e-7
_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _sigmoid(x):
    from .activations import _sigmoid as s
    return s(x)


def _softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    e /= np.sum(e, axis=-1, keepdims=True)
    return e


def _log_softmax(x):
    z = x - np.max(x, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _float(x, like=None):
    """A float array: in ``like``'s dtype when given, else x's own float dtype (float32 for
    integer input); never a silent up- or down-cast of the predictions."""
    x = np.asarray(x)
    if like is not None and like.dtype.kind == "f":
        dtype = like.dtype
    else:
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    return x if x.dtype == dtype else x.astype(dtype)


class Loss:
    """Base: subclasses give ``call(y_true, y_pred) -> per-sample values`` (the last axis
    reduced) and ``grad(y_true, y_pred, w) -> dL/dy_pred`` for per-sample weights ``w``."""

    has_logits_grad = None  # "sigmoid" or "softmax" when logits_grad applies

    # The axis a subclass reduces over (classes, or BCE's mean): moved last before call/grad
    # and the gradient moved back, so that call/grad only ever see axis -1.
    axis = -1

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"[{type(self).__name__}] reduction must be one of "
                             f"'sum_over_batch_size', 'sum', 'mean', 'mean_with_sample_weight', "
                             f"'none' or None, got {reduction!r}")
        self.name = name or _default_name(type(self))
        self.reduction = reduction

    def _set_axis(self, axis):
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"[{self.name}] axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _axis_last(self, y_true, y_pred, move_true=True):
        """Move ``axis`` of y_pred (and of y_true when it has the same rank) to the end."""
        if self.axis in (-1, y_pred.ndim - 1):
            return y_true, y_pred
        if not -y_pred.ndim <= self.axis < y_pred.ndim:
            raise ValueError(f"[{self.name}] axis {self.axis} is out of range for y_pred of "
                             f"shape {y_pred.shape}")
        y_pred = np.moveaxis(y_pred, self.axis, -1)
        if move_true and np.ndim(y_true) == y_pred.ndim:
            y_true = np.moveaxis(y_true, self.axis, -1)
        return y_true, y_pred

    def _grad_back(self, g):
        return g if self.axis == -1 or self.axis == g.ndim - 1 else np.moveaxis(g, -1, self.axis)

    def _prepare(self, y_true, y_pred):
        y_pred = _float(y_pred)
        y_true = _float(y_true, y_pred)
        return self._match_shapes(y_true, y_pred), y_pred

    def _match_shapes(self, y_true, y_pred):
        # Keras's squeeze-or-expand: labels (N,) against predictions (N, 1), and the reverse.
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = y_true[..., None]
        elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        try:
            shape = np.broadcast_shapes(y_true.shape, y_pred.shape)
        except ValueError:
            shape = None
        if shape != y_pred.shape:
            raise ValueError(f"[{self.name}] y_true must have y_pred's shape {y_pred.shape} (or "
                             f"broadcast to it), got {y_true.shape}")
        return y_true

    def _weights(self, values, sample_weight, mask):
        """Per-sample weights (or None) and the divisor of the reduction."""
        w = None
        if sample_weight is not None:
            sw = _float(sample_weight, values)
            while sw.ndim < values.ndim:
                sw = sw[..., None]
            while sw.ndim > values.ndim and sw.shape[-1] == 1:
                sw = sw[..., 0]
            w = np.broadcast_to(sw, values.shape)
        if mask is not None:
            m = np.broadcast_to(mask, values.shape).astype(values.dtype)
            if self.reduction in ("sum_over_batch_size", "mean"):
                # Keras: valid entries weigh total/valid, so the mean runs over them alone
                valid = m.sum()
                m *= values.dtype.type(values.size / valid) if valid > 0 else 0
            w = m if w is None else w * m
        # Keras 3's divisors: 1 for "sum"; the weights' sum for "mean_with_sample_weight" (when
        # there are weights or a mask); else the number of values ("mean" is the batch mean too).
        # A zero divisor gives 0, as Keras's divide_no_nan.
        if self.reduction in ("sum", "none", None):
            divisor = 1.0
        elif self.reduction == "mean_with_sample_weight" and w is not None:
            divisor = float(np.sum(w, dtype=np.float64))
        else:
            divisor = float(values.size)
        return w, (divisor if divisor > 0 else np.inf)

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        y_true, y_pred = self._prepare(y_true, y_pred)
        values = self.call(y_true, y_pred)
        mask = self._value_mask(y_true, mask)
        w, divisor = self._weights(values, sample_weight, mask)
        if w is not None:
            values = values * w
        if self.reduction in ("none", None):
            # Keras expands rank-1 values to the rank of (N, 1) weights
            if values.ndim == 1 and np.ndim(sample_weight) == 2 and \
                    np.shape(sample_weight)[-1] == 1:
                values = values[:, None]
            return values
        return float(np.sum(values, dtype=np.float64) / divisor)

    def value_and_grad(self, y_true, y_pred, sample_weight=None, mask=None, logits=None):
        """(loss, dL/dy_pred); with ``logits`` (the pre-activation of a sigmoid/softmax output),
        (loss, dL/dlogits) instead."""
        if self.reduction in ("none", None):
            raise ValueError(f"[{self.name}] a loss with reduction=None has no scalar gradient")
        y_true, y_pred = self._prepare(y_true, y_pred)
        values = self.call(y_true, y_pred)
        mask = self._value_mask(y_true, mask)
        w, divisor = self._weights(values, sample_weight, mask)
        total = float(np.sum(values if w is None else values * w, dtype=np.float64) / divisor)
        scale = y_pred.dtype.type(1.0 / divisor)
        dvalues = np.full(values.shape, scale, dtype=y_pred.dtype) if w is None else \
            (w * scale).astype(y_pred.dtype, copy=False)
        if logits is not None:
            return total, self._grad_back(self.logits_grad(y_true, y_pred, dvalues))
        return total, self._grad_back(self.grad(y_true, y_pred, dvalues))

    def _value_mask(self, y_true, mask):
        """The mask of the per-sample values: the model's, and the loss's own (ignore_class)."""
        return mask

    # the constructor arguments Keras's get_config lists after name and reduction
    _config_keys = ()

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction,
                **{k: getattr(self, k) for k in self._config_keys}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _default_name(cls):
    from .layers.base import _snake_case
    return _snake_case(cls.__name__)


class MeanSquaredError(Loss):
    def call(self, y_true, y_pred):
        return np.mean(np.square(y_pred - y_true), axis=-1)

    def grad(self, y_true, y_pred, w):
        return (y_pred - y_true) * (w[..., None] * y_pred.dtype.type(2.0 / y_pred.shape[-1]))


class MeanAbsoluteError(Loss):
    def call(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - y_true), axis=-1)

    def grad(self, y_true, y_pred, w):
        return np.sign(y_pred - y_true) * (w[..., None] / y_pred.dtype.type(y_pred.shape[-1]))


class Huber(Loss):
    def __init__(self, delta=1.0, name="huber_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name, reduction)
        if delta <= 0:
            raise ValueError(f"[Huber] delta must be > 0, got {delta}")
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        e = y_pred - y_true
        a = np.abs(e)
        d = y_pred.dtype.type(self.delta)
        return np.mean(np.where(a <= d, 0.5 * e * e, d * a - 0.5 * d * d), axis=-1)

    def grad(self, y_true, y_pred, w):
        e = y_pred - y_true
        d = y_pred.dtype.type(self.delta)
        g = np.clip(e, -d, d)
        return g * (w[..., None] / y_pred.dtype.type(y_pred.shape[-1]))


class BinaryCrossentropy(Loss):
    _config_keys = ("from_logits", "label_smoothing", "axis")
    has_logits_grad = "sigmoid"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(name, reduction)
        self._set_axis(axis)
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)
        if self.from_logits or self.axis != -1:
            self.has_logits_grad = None

    def _prepare(self, y_true, y_pred):
        y_true, y_pred = super()._prepare(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            if y_true.size == y_pred.size:
                y_true = y_true.reshape(y_pred.shape)
            else:
                raise ValueError(f"[{self.name}] y_true and y_pred must have the same shape, got "
                                 f"{y_true.shape} and {y_pred.shape}")
        y_true, y_pred = self._axis_last(y_true, y_pred)
        if self.label_smoothing:
            ls = self.label_smoothing
            y_true = y_true * (1.0 - ls) + 0.5 * ls
        return y_true, y_pred

    def call(self, y_true, y_pred):
        if self.from_logits:
            x = y_pred
            values = np.maximum(x, 0) - x * y_true + np.log1p(np.exp(-np.abs(x)))
        else:
            p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)
            values = -(y_true * np.log(p) + (1.0 - y_true) * np.log1p(-p))
        return np.mean(values, axis=-1)

    def grad(self, y_true, y_pred, w):
        wd = w[..., None] / y_pred.dtype.type(y_pred.shape[-1])
        if self.from_logits:
            return (_sigmoid(y_pred) - y_true) * wd
        inside = (y_pred >= EPSILON) & (y_pred <= 1.0 - EPSILON)
        p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)
        return (-(y_true / p) + (1.0 - y_true) / (1.0 - p)) * inside * wd

    def logits_grad(self, y_true, probs, w):
        return (probs - y_true) * (w[..., None] / probs.dtype.type(probs.shape[-1]))


class CategoricalCrossentropy(Loss):
    _config_keys = ("from_logits", "label_smoothing", "axis")
    has_logits_grad = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(name, reduction)
        self._set_axis(axis)
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)
        if self.from_logits or self.axis != -1:
            self.has_logits_grad = None

    def _match_shapes(self, y_true, y_pred):
        if y_true.shape != y_pred.shape:
            raise ValueError(f"[{self.name}] y_true and y_pred must have the same shape (one-hot "
                             f"labels), got {y_true.shape} and {y_pred.shape}; integer labels "
                             "take sparse_categorical_crossentropy")
        return y_true

    def _prepare(self, y_true, y_pred):
        y_true, y_pred = super()._prepare(y_true, y_pred)
        y_true, y_pred = self._axis_last(y_true, y_pred)
        if self.label_smoothing:
            ls = self.label_smoothing
            y_true = y_true * (1.0 - ls) + ls / y_pred.shape[-1]
        return y_true, y_pred

    def call(self, y_true, y_pred):
        if self.from_logits:
            return -np.sum(y_true * _log_softmax(y_pred), axis=-1)
        q = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
        return -np.sum(y_true * np.log(np.clip(q, EPSILON, 1.0 - EPSILON)), axis=-1)

    def grad(self, y_true, y_pred, w):
        w = w[..., None]
        if self.from_logits:
            return (_softmax(y_pred) * np.sum(y_true, axis=-1, keepdims=True) - y_true) * w
        s = np.sum(y_pred, axis=-1, keepdims=True)
        q = y_pred / s
        inside = (q >= EPSILON) & (q <= 1.0 - EPSILON)
        gq = -y_true / np.clip(q, EPSILON, 1.0 - EPSILON) * inside
        return (gq - np.sum(gq * q, axis=-1, keepdims=True)) / s * w

    def logits_grad(self, y_true, probs, w):
        return (probs * np.sum(y_true, axis=-1, keepdims=True) - y_true) * w[..., None]


class SparseCategoricalCrossentropy(Loss):
    _config_keys = ("from_logits", "ignore_class")
    has_logits_grad = "softmax"

    def __init__(self, from_logits=False, ignore_class=None, axis=-1,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy",
                 dtype=None):
        super().__init__(name, reduction)
        if ignore_class is not None and (isinstance(ignore_class, bool) or
                                         not isinstance(ignore_class, (int, np.integer))):
            raise TypeError(f"[{self.name}] ignore_class must be an int or None, got "
                            f"{ignore_class!r}")
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self._set_axis(axis)
        self.from_logits = bool(from_logits)
        if self.from_logits or self.axis != -1:
            self.has_logits_grad = None

    def _prepare(self, y_true, y_pred):
        y_pred = _float(y_pred)
        y_true, y_pred = self._axis_last(np.asarray(y_true), y_pred, move_true=False)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(f"[{self.name}] y_true must have y_pred's shape without the class "
                             f"axis, got y_true {y_true.shape} and y_pred {y_pred.shape}")
        labels = y_true.astype(np.intp)
        if self.ignore_class is not None:
            # Keras computes ignored entries with label 0 and masks their values out
            labels = np.where(labels == self.ignore_class, 0, labels)
        n = y_pred.shape[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= n):
            raise ValueError(f"[{self.name}] labels must be in [0, {n}), got values in "
                             f"[{labels.min()}, {labels.max()}]")
        self._ignored = (None if self.ignore_class is None else
                         y_true.astype(np.intp) == self.ignore_class)
        return labels, y_pred

    def _value_mask(self, labels, mask):
        if self.ignore_class is None:
            return mask
        keep = ~self._ignored
        return keep if mask is None else np.broadcast_to(mask, keep.shape) & keep

    @staticmethod
    def _pick(a, labels):
        return np.take_along_axis(a, labels[..., None], axis=-1)[..., 0]

    def call(self, labels, y_pred):
        if self.from_logits:
            return -self._pick(_log_softmax(y_pred), labels)
        q = self._pick(y_pred, labels) / np.sum(y_pred, axis=-1)
        return -np.log(np.clip(q, EPSILON, 1.0 - EPSILON))

    def _onehot_sub(self, g, labels, w):
        # g[..., labels] -= w, in place on g whatever its strides (a moved class axis leaves
        # g non-contiguous, where reshape would copy)
        idx = labels[..., None]
        np.put_along_axis(g, idx, np.take_along_axis(g, idx, axis=-1) - w[..., None], axis=-1)
        return g

    def grad(self, labels, y_pred, w):
        if self.from_logits:
            g = _softmax(y_pred)
            g *= w[..., None]
            return self._onehot_sub(g, labels, w)
        s = np.sum(y_pred, axis=-1, keepdims=True)
        qt = self._pick(y_pred, labels)[..., None] / s
        inside = ((qt >= EPSILON) & (qt <= 1.0 - EPSILON)).astype(y_pred.dtype)
        # dL/dq_t = -1/q_t (inside the clip); through q = p / sum(p)
        coef = inside * w[..., None] / s
        g = np.broadcast_to(coef, y_pred.shape).copy()
        return self._onehot_sub(g, labels, (coef[..., 0] / qt[..., 0]))

    def logits_grad(self, labels, probs, w):
        g = probs * w[..., None]
        return self._onehot_sub(g, labels, w)


def mean_squared_error(y_true, y_pred):
    return MeanSquaredError(reduction=None)(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return MeanAbsoluteError(reduction=None)(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    return BinaryCrossentropy(from_logits=from_logits, reduction=None)(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    return CategoricalCrossentropy(from_logits=from_logits, reduction=None)(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    return SparseCategoricalCrossentropy(from_logits=from_logits, reduction=None)(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    return Huber(delta=delta, reduction=None)(y_true, y_pred)


_ALIASES = {
    "mse": MeanSquaredError, "MSE": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
for _cls in (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy,
             CategoricalCrossentropy, SparseCategoricalCrossentropy):
    _ALIASES[_cls.__name__] = _cls
_FUNCTIONS = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
              binary_crossentropy: BinaryCrossentropy, huber: Huber,
              categorical_crossentropy: CategoricalCrossentropy,
              sparse_categorical_crossentropy: SparseCategoricalCrossentropy}


def get(identifier):
    """A Loss from a Keras name ('mse', 'binary_crossentropy' ...), a loss function or a Loss."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _ALIASES:
        cls = _ALIASES[identifier]
        loss = cls()
        if identifier in ("mse", "MSE", "mae", "MAE", "mean_squared_error",
                          "mean_absolute_error", "binary_crossentropy",
                          "categorical_crossentropy", "sparse_categorical_crossentropy", "huber"):
            loss.name = identifier.lower() if identifier in ("MSE", "MAE") else identifier
        if identifier in _FUNCTION_NAMES:
            loss.name = identifier
        return loss
    if callable(identifier) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    raise ValueError(f"[losses.get] unknown loss {identifier!r}; expected a Loss or one of "
                     f"{sorted(k for k in _ALIASES if not k[0].isupper() or k in ('MSE', 'MAE'))}")


# -- More Keras 3 losses: MAPE, MSLE, log-cosh, KL divergence, Poisson, cosine similarity, hinges,
# binary focal cross-entropy. Same contract as above: ``call`` gives per-sample values, ``grad``
# dL/dy_pred for per-sample weights ``w``; clipping epsilons and reductions are Keras's.

def _check_axis(owner, axis):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"[{owner}] axis must be an int, got {axis!r:.60}")
    return int(axis)


def _spread(w, axis):
    """Per-sample weights ``w`` (y_pred's shape without ``axis``) put back along ``axis``."""
    return np.expand_dims(w, axis)


def _hinge_labels(y_true):
    # Keras turns {0, 1} labels into {-1, 1}; anything else is used as given.
    if np.all((y_true == 0) | (y_true == 1)):
        return 2.0 * y_true - 1.0
    return y_true


class MeanAbsolutePercentageError(Loss):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error",
                 dtype=None):
        super().__init__(name, reduction)

    def call(self, y_true, y_pred):
        return 100.0 * np.mean(np.abs(y_true - y_pred) / np.maximum(np.abs(y_true), EPSILON),
                               axis=-1)

    def grad(self, y_true, y_pred, w):
        scale = w[..., None] * y_pred.dtype.type(100.0 / y_pred.shape[-1])
        return np.sign(y_pred - y_true) / np.maximum(np.abs(y_true), EPSILON) * scale


class MeanSquaredLogarithmicError(Loss):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))**2) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error",
                 dtype=None):
        super().__init__(name, reduction)

    def _diff(self, y_true, y_pred):
        return np.log(np.maximum(y_pred, EPSILON) + 1.0) - np.log(np.maximum(y_true, EPSILON) + 1.0)

    def call(self, y_true, y_pred):
        return np.mean(np.square(self._diff(y_true, y_pred)), axis=-1)

    def grad(self, y_true, y_pred, w):
        scale = w[..., None] * y_pred.dtype.type(2.0 / y_pred.shape[-1])
        # the max(., 1e-7) floor passes no gradient below it
        slope = (y_pred > EPSILON) / (np.maximum(y_pred, EPSILON) + 1.0)
        return self._diff(y_true, y_pred) * slope * scale


class LogCosh(Loss):
    """mean(log(cosh(y_pred - y_true))) over the last axis, as x + softplus(-2x) - log 2."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name, reduction)

    def call(self, y_true, y_pred):
        x = y_pred - y_true
        z = -2.0 * x
        softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        return np.mean(x + softplus - np.log(2.0).astype(y_pred.dtype), axis=-1)

    def grad(self, y_true, y_pred, w):
        return np.tanh(y_pred - y_true) * (w[..., None] / y_pred.dtype.type(y_pred.shape[-1]))


class KLDivergence(Loss):
    """sum(t * log(t / p)) over the last axis, t and p clipped to [1e-7, 1]."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name, reduction)

    def call(self, y_true, y_pred):
        t = np.clip(y_true, EPSILON, 1.0)
        return np.sum(t * np.log(t / np.clip(y_pred, EPSILON, 1.0)), axis=-1)

    def grad(self, y_true, y_pred, w):
        inside = (y_pred >= EPSILON) & (y_pred <= 1.0)
        t = np.clip(y_true, EPSILON, 1.0)
        return -t / np.clip(y_pred, EPSILON, 1.0) * inside * w[..., None]


class Poisson(Loss):
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name, reduction)

    def call(self, y_true, y_pred):
        return np.mean(y_pred - y_true * np.log(y_pred + EPSILON), axis=-1)

    def grad(self, y_true, y_pred, w):
        scale = w[..., None] / y_pred.dtype.type(y_pred.shape[-1])
        return (1.0 - y_true / (y_pred + EPSILON)) * scale


class CosineSimilarity(Loss):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along ``axis``; Keras's normalisation
    x * min(1/||x||, 1e7), so a zero vector gives 0."""

    def _grad_back(self, g):  # reduces along self.axis itself: g already has y_pred's layout
        return g

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity",
                 dtype=None):
        super().__init__(name, reduction)
        self.axis = _check_axis(type(self).__name__, axis)

    def _prepare(self, y_true, y_pred):
        y_true, y_pred = super()._prepare(y_true, y_pred)
        if not -y_pred.ndim <= self.axis < y_pred.ndim:
            raise ValueError(f"[{self.name}] axis {self.axis} is out of range for y_pred of shape "
                             f"{y_pred.shape}")
        return y_true, y_pred

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def _inv_norm(self, x):
        ss = np.sum(np.square(x), axis=self.axis, keepdims=True)
        with np.errstate(divide="ignore"):
            return np.minimum(1.0 / np.sqrt(ss), 1.0 / EPSILON).astype(x.dtype, copy=False)

    def call(self, y_true, y_pred):
        return -np.sum(y_true * self._inv_norm(y_true) * (y_pred * self._inv_norm(y_pred)),
                       axis=self.axis)

    def grad(self, y_true, y_pred, w):
        t = y_true * self._inv_norm(y_true)
        s = self._inv_norm(y_pred)
        u = y_pred * s
        on_sphere = s < 1.0 / EPSILON  # below the 1e-7 norm floor the scale is a constant
        g = np.where(on_sphere, -(t - u * np.sum(t * u, axis=self.axis, keepdims=True)) * s,
                     -t * s)
        return g * _spread(w, self.axis)


class Hinge(Loss):
    """mean(max(1 - t * y_pred, 0)) over the last axis; {0, 1} labels become {-1, 1}."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name, reduction)

    def _prepare(self, y_true, y_pred):
        y_true, y_pred = super()._prepare(y_true, y_pred)
        return _hinge_labels(y_true), y_pred

    def call(self, y_true, y_pred):
        return np.mean(np.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)

    def grad(self, y_true, y_pred, w):
        active = (1.0 - y_true * y_pred) > 0
        return -y_true * active * (w[..., None] / y_pred.dtype.type(y_pred.shape[-1]))


class SquaredHinge(Hinge):
    """mean(max(1 - t * y_pred, 0)**2) over the last axis; {0, 1} labels become {-1, 1}."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(reduction, name)

    def call(self, y_true, y_pred):
        return np.mean(np.square(np.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)

    def grad(self, y_true, y_pred, w):
        margin = np.maximum(1.0 - y_true * y_pred, 0.0)
        return -2.0 * y_true * margin * (w[..., None] / y_pred.dtype.type(y_pred.shape[-1]))


class CategoricalHinge(Loss):
    """max(max((1 - t) * y_pred) - sum(t * y_pred) + 1, 0) over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name, reduction)

    def call(self, y_true, y_pred):
        pos = np.sum(y_true * y_pred, axis=-1)
        neg = np.max((1.0 - y_true) * y_pred, axis=-1)
        return np.maximum(neg - pos + 1.0, 0.0)

    def grad(self, y_true, y_pred, w):
        y_true = np.broadcast_to(y_true, y_pred.shape)
        masked = (1.0 - y_true) * y_pred
        neg = np.max(masked, axis=-1, keepdims=True)
        # the max's gradient is shared between tied entries (as amax's)
        at_max = (masked == neg).astype(y_pred.dtype)
        at_max /= np.sum(at_max, axis=-1, keepdims=True)
        active = (neg - np.sum(y_true * y_pred, axis=-1, keepdims=True) + 1.0) > 0
        return (at_max * (1.0 - y_true) - y_true) * active * w[..., None]


class BinaryFocalCrossentropy(Loss):
    """Binary cross-entropy times the focal factor (1 - p_t)**gamma (Lin et al.), optionally
    weighed by alpha / 1 - alpha per class, averaged along ``axis``; probabilities clipped to
    [1e-7, 1 - 1e-7] inside the cross-entropy (after the sigmoid with from_logits), as Keras."""

    def _grad_back(self, g):  # reduces along self.axis itself: g already has y_pred's layout
        return g

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(name, reduction)
        owner = type(self).__name__
        for arg, v in (("alpha", alpha), ("gamma", gamma), ("label_smoothing", label_smoothing)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                                     np.floating)):
                raise TypeError(f"[{owner}] {arg} must be a number, got {v!r:.60}")
        if gamma < 0:
            raise ValueError(f"[{owner}] gamma must be >= 0, got {gamma}")
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"[{owner}] label_smoothing must be in [0, 1], got {label_smoothing}")
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)
        self.axis = _check_axis(owner, axis)

    def _prepare(self, y_true, y_pred):
        y_true, y_pred = super()._prepare(y_true, y_pred)
        y_true = np.broadcast_to(y_true, y_pred.shape)
        if not -y_pred.ndim <= self.axis < y_pred.ndim:
            raise ValueError(f"[{self.name}] axis {self.axis} is out of range for y_pred of shape "
                             f"{y_pred.shape}")
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return y_true, y_pred

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing,
                "alpha": self.alpha, "gamma": self.gamma, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}

    def _parts(self, t, y_pred):
        p = _sigmoid(y_pred) if self.from_logits else y_pred
        pc = np.clip(p, EPSILON, 1.0 - EPSILON)
        bce = -(t * np.log(pc) + (1.0 - t) * np.log1p(-pc))
        one_minus_pt = 1.0 - (t * p + (1.0 - t) * (1.0 - p))
        weight = t * self.alpha + (1.0 - t) * (1.0 - self.alpha) if self.apply_class_balancing \
            else None
        return p, pc, bce, one_minus_pt, weight

    def call(self, y_true, y_pred):
        _, _, bce, one_minus_pt, weight = self._parts(y_true, y_pred)
        values = np.power(one_minus_pt, self.gamma) * bce
        if weight is not None:
            values = weight * values
        return np.mean(values, axis=self.axis)

    def grad(self, y_true, y_pred, w):
        t = y_true
        p, pc, bce, one_minus_pt, weight = self._parts(t, y_pred)
        inside = (p >= EPSILON) & (p <= 1.0 - EPSILON)
        dbce = (-(t / pc) + (1.0 - t) / (1.0 - pc)) * inside
        focal = np.power(one_minus_pt, self.gamma)
        if self.gamma == 0:
            dfocal = np.zeros_like(p)
        else:
            # d(1 - p_t)/dp = 1 - 2t
            dfocal = self.gamma * np.power(one_minus_pt, self.gamma - 1.0) * (1.0 - 2.0 * t)
        g = dfocal * bce + focal * dbce
        if weight is not None:
            g = weight * g
        if self.from_logits:
            g = g * p * (1.0 - p)
        return (g * (_spread(w, self.axis) / y_pred.dtype.type(y_pred.shape[self.axis]))
                ).astype(y_pred.dtype, copy=False)


def mean_absolute_percentage_error(y_true, y_pred):
    return MeanAbsolutePercentageError(reduction=None)(y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    return MeanSquaredLogarithmicError(reduction=None)(y_true, y_pred)


def log_cosh(y_true, y_pred):
    return LogCosh(reduction=None)(y_true, y_pred)


def kl_divergence(y_true, y_pred):
    return KLDivergence(reduction=None)(y_true, y_pred)


def poisson(y_true, y_pred):
    return Poisson(reduction=None)(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    return CosineSimilarity(axis=axis, reduction=None)(y_true, y_pred)


def hinge(y_true, y_pred):
    return Hinge(reduction=None)(y_true, y_pred)


def squared_hinge(y_true, y_pred):
    return SquaredHinge(reduction=None)(y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    return CategoricalHinge(reduction=None)(y_true, y_pred)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    return BinaryFocalCrossentropy(apply_class_balancing, alpha, gamma, from_logits,
                                   label_smoothing, axis, reduction=None)(y_true, y_pred)


# Keras 3's string names (losses.ALL_OBJECTS_DICT); a name that Keras resolves to a function
# also names the loss, as compile() wraps it under that name.
_MORE_BY_NAME = {
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "log_cosh": LogCosh, "kl_divergence": KLDivergence, "kld": KLDivergence, "KLD": KLDivergence,
    "poisson": Poisson, "cosine_similarity": CosineSimilarity, "hinge": Hinge,
    "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "binary_focal_crossentropy": BinaryFocalCrossentropy, "BCE": BinaryCrossentropy,
}


class CategoricalFocalCrossentropy(CategoricalCrossentropy):
    """Keras's categorical focal loss: with o = clip(p / sum(p), eps, 1 - eps) (p = softmax of
    the logits with from_logits), sum over classes of -alpha * (1 - o)^gamma * y * log(o)."""

    _config_keys = ("from_logits", "label_smoothing", "axis", "alpha", "gamma")
    has_logits_grad = None

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy",
                 dtype=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name)
        self.has_logits_grad = None
        self.alpha, self.gamma = float(alpha), float(gamma)

    def _parts(self, y_pred):
        p = _softmax(y_pred) if self.from_logits else y_pred
        s = np.sum(p, axis=-1, keepdims=True)
        o = p / s
        return p, s, o, np.clip(o, EPSILON, 1.0 - EPSILON)

    def call(self, y_true, y_pred):
        _, _, _, oc = self._parts(y_pred)
        return np.sum(-self.alpha * (1.0 - oc) ** self.gamma * y_true * np.log(oc), axis=-1)

    def grad(self, y_true, y_pred, w):
        p, s, o, oc = self._parts(y_pred)
        g, t = self.gamma, y_pred.dtype.type
        inside = (o >= EPSILON) & (o <= 1.0 - EPSILON)
        go = -t(self.alpha) * y_true * ((1.0 - oc) ** g / oc -
                                        t(g) * (1.0 - oc) ** (g - 1) * np.log(oc)) * inside
        gp = (go - np.sum(go * o, axis=-1, keepdims=True)) / s      # through p / sum(p)
        if self.from_logits:
            gp = p * (gp - np.sum(gp * p, axis=-1, keepdims=True))  # through the softmax
        return (gp * w[..., None]).astype(y_pred.dtype, copy=False)


_MORE_BY_NAME["categorical_focal_crossentropy"] = CategoricalFocalCrossentropy
_FUNCTION_NAMES = set(_MORE_BY_NAME)
for _cls in (MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCosh, KLDivergence,
             Poisson, CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge,
             BinaryFocalCrossentropy, CategoricalFocalCrossentropy):
    _MORE_BY_NAME[_cls.__name__] = _cls
_ALIASES.update(_MORE_BY_NAME)
_FUNCTIONS.update({
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, log_cosh: LogCosh,
    kl_divergence: KLDivergence, poisson: Poisson, cosine_similarity: CosineSimilarity,
    hinge: Hinge, squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
    binary_focal_crossentropy: BinaryFocalCrossentropy})
