"""Callbacks as in Keras: Callback, History, EarlyStopping, ModelCheckpoint,
LearningRateScheduler, ReduceLROnPlateau, CSVLogger, TerminateOnNaN, LambdaCallback. ``fit``
calls on_train_begin/end, on_epoch_begin/end(epoch, logs) and on_train_batch_begin/end(batch,
logs) (which call on_batch_begin/end, as Keras); a callback stops training with
``self.model.stop_training = True``."""

import collections
import csv
import os
import re
import sys
import warnings

import numpy as np


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)   # Keras: the old name still works

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass


class History(Callback):
    """``history.history[name]`` is the list of per-epoch values; ``history.epoch`` the epochs."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


# Keras's metric directions (Metric._direction), by the names metrics log under
_MAXIMISED = {"accuracy", "acc", "binary_accuracy", "categorical_accuracy",
              "sparse_categorical_accuracy", "top_k_categorical_accuracy",
              "sparse_top_k_categorical_accuracy", "auc", "precision", "recall",
              "cosine_similarity", "f1_score", "fbeta_score", "r2_score", "iou", "mean_iou",
              "binary_iou", "one_hot_iou", "one_hot_mean_iou", "precision_at_recall",
              "recall_at_precision", "sensitivity_at_specificity",
              "specificity_at_sensitivity"}
_MINIMISED = {"loss", "mean_squared_error", "mse", "mean_absolute_error", "mae",
              "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error", "msle",
              "root_mean_squared_error", "logcosh", "log_cosh_error", "kl_divergence",
              "poisson", "hinge", "squared_hinge", "categorical_hinge", "binary_crossentropy",
              "categorical_crossentropy", "sparse_categorical_crossentropy",
              "binary_focal_crossentropy", "categorical_focal_crossentropy"}


def _direction(name):
    """np.greater / np.less for a logged metric name (an output's prefix allowed, as in
    'val_cls_accuracy'), or None when unknown."""
    name = name.removeprefix("val_")
    # a repeated metric logs as name_1, name_2 ... (Keras finds it among the model's metrics)
    for candidate in dict.fromkeys((name, re.sub(r"_\d+$", "", name))):
        for known, op in ((_MAXIMISED, np.greater), (_MINIMISED, np.less)):
            if candidate in known or any(candidate.endswith("_" + k) for k in known):
                return op
    return None


def _monitor_op(callback, mode, monitor):
    """The comparison 'better than' for ``monitor``; for mode='auto' as Keras infers it from
    the metric (losses and errors are minimised, accuracies, AUC, precision ... maximised), or
    ValueError when the name says nothing (Keras raises too: pass mode='min' or 'max')."""
    owner = type(callback).__name__
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"[{owner}] mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "min":
        return np.less
    if mode == "max":
        return np.greater
    op = _direction(monitor)
    if op is None:
        raise ValueError(f"[{owner}] cannot tell whether monitor={monitor!r} should be "
                         "minimised or maximised; pass mode='min' or mode='max'")
    return op


class EarlyStopping(Callback):
    """Stops when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs (Keras's
    rules: ``baseline``, ``start_from_epoch``, ``restore_best_weights``)."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.baseline, self.restore_best_weights = baseline, bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.monitor_op = _monitor_op(self, mode, monitor)
        self.min_delta = abs(min_delta) * (1 if self.monitor_op is np.greater else -1)
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best = 0, 0, None
        self.best_weights, self.best_epoch = None, 0

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping: monitor '{self.monitor}' is not in the logs "
                          f"({sorted(logs or {})})", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Saves the model's weights (.npz, pyseq's format) after each epoch, every ``save_freq``
    batches when that is an int, or only when ``monitor`` improves (``save_best_only``, from
    ``initial_value_threshold``); ``filepath`` may hold ``{epoch:02d}``, ``{batch}`` and log
    names such as ``{val_loss:.2f}`` as format fields. With ``save_weights_only=False`` the
    model's ``save`` is used where the model has one (pyseq models save weights)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=True, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch" and (isinstance(save_freq, bool) or
                                     not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"[ModelCheckpoint] save_freq must be 'epoch' or a positive int, "
                             f"got {save_freq!r}")
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.save_freq = save_freq
        self.monitor_op = _monitor_op(self, mode, monitor)
        self.best = initial_value_threshold
        self._batches_since_save = 0
        self._current_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch, batch, logs):
        fields = dict(logs)
        if batch is not None and "batch" not in fields:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(epoch=epoch + 1, **fields)
        except KeyError as e:
            raise KeyError(f"[ModelCheckpoint] cannot format filepath {self.filepath!r}: no "
                           f"{e} in the logs ({sorted(logs)})") from None

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:    # Keras saves anyway, with a warning
                warnings.warn(f"ModelCheckpoint: can save the best model only with "
                              f"'{self.monitor}' in the logs ({sorted(logs)}); saving",
                              stacklevel=2)
            elif self.best is not None and not self.monitor_op(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            else:
                if self.verbose > 0:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                          f"{current:.5f}, saving model to {path}")
                self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if os.path.isdir(path):
            raise IsADirectoryError(f"[ModelCheckpoint] filepath {path!r} is a directory; "
                                    "give a file path")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if not self.save_weights_only and hasattr(self.model, "save"):
            self.model.save(path)
        else:
            self.model.save_weights(path)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {path}")


class LearningRateScheduler(Callback):
    """At each epoch's start, sets the optimizer's learning rate to schedule(epoch, lr)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = _learning_rate(self.model)
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # Keras also accepts schedule(epoch)
            lr = self.schedule(epoch)
        if not isinstance(lr, (int, float, np.floating)):
            raise ValueError(f"[LearningRateScheduler] the schedule must return a float, got "
                             f"{lr!r}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            sys.stdout.write(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate "
                             f"to {lr}.\n")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model)


def _learning_rate(model):
    # Keras reads its rate from a float32 variable: schedules and logs see that value
    return float(np.float32(model.optimizer.learning_rate))


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` (not below ``min_lr``) once ``monitor`` has
    not improved by ``min_delta`` for ``patience`` epochs, then waits ``cooldown`` epochs before
    counting again; puts the current rate in the epoch's logs as 'learning_rate' (Keras 3)."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if isinstance(factor, bool) or not isinstance(factor, (int, float, np.floating)) or \
                not factor < 1.0:
            raise ValueError(f"[ReduceLROnPlateau] factor must be a number < 1.0, got "
                             f"{factor!r}")
        self.monitor, self.factor, self.patience = monitor, float(factor), patience
        self.verbose, self.mode, self.cooldown, self.min_lr = verbose, mode, cooldown, min_lr
        self.monitor_op = _monitor_op(self, mode, monitor)
        self.min_delta = abs(min_delta) * (-1 if self.monitor_op is np.less else 1)
        self._reset()

    def _reset(self):
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _is_improvement(self, value):
        return self.best is None or bool(self.monitor_op(value - self.min_delta, self.best))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _learning_rate(self.model)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau: monitor '{self.monitor}' is not in the logs "
                          f"({sorted(logs)})", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old = _learning_rate(self.model)
                # Keras's rate lives in a float32: compare as it does, so that a rate already
                # at min_lr is not "reduced" again (which would restart the cooldown)
                if np.float32(old) > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Writes one row per epoch ('epoch' then the sorted log names, with val_ columns added
    from the first epoch when it has none) to ``filename``; ``append`` adds to an existing file
    (its header kept), ``separator`` is the delimiter."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"[CSVLogger] separator must be one character, got {separator!r}")
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self.keys, self.writer, self.csv_file, self.append_header = None, None, None, True

    def on_train_begin(self, logs=None):
        mode = "w"
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not f.readline()
            mode = "a"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.keys, self.writer = None, None

    @staticmethod
    def _cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, collections.abc.Iterable) and not (
                isinstance(value, np.ndarray) and value.ndim == 0):
            return f'"[{", ".join(map(str, value))}]"'
        return value

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        if self.writer is None:
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, self._cell(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stops training after a batch whose loss is NaN or infinite (or raises RuntimeError with
    ``raise_error``)."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"[TerminateOnNaN] NaN or Inf loss at batch {batch}: {loss}")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: on_epoch_begin/end(epoch, logs), on_train_begin/end(logs),
    on_train_batch_begin/end(batch, logs); other keyword arguments become attributes."""

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
              "on_train_batch_begin", "on_train_batch_end")

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        given = dict(zip(self._HOOKS, (on_epoch_begin, on_epoch_end, on_train_begin,
                                       on_train_end, on_train_batch_begin, on_train_batch_end)))
        for hook, fn in given.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"[LambdaCallback] {hook} must be callable, got "
                                    f"{type(fn).__name__}")
                setattr(self, hook, _with_logs(fn, 0 if hook.startswith("on_train_") and
                                               "batch" not in hook else 1))


def _with_logs(fn, n_before):
    """``fn`` called as Keras calls it, with ``logs`` always given positionally (fit may call
    a hook without logs)."""
    def hook(*args, logs=None):
        if len(args) > n_before:
            args, logs = args[:n_before], args[n_before]
        return fn(*args, logs)
    return hook


class ProgbarLogger(Callback):
    """Accepted for Keras code: pyseq's fit draws its progress bar itself as ``verbose`` asks,
    which is what Keras's own ProgbarLogger prints there (nothing with verbose=0, one bar
    otherwise; Keras adds none beside a user's), so inside fit this callback adds nothing."""

    def __init__(self):
        super().__init__()
        self.verbose, self.epochs, self.target = 1, 1, None

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs, self.target = params.get("epochs", 1), params.get("steps")
