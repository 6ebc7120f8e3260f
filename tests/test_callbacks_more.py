"""ReduceLROnPlateau, CSVLogger, TerminateOnNaN, LambdaCallback, ModelCheckpoint's file names,
save_best_only and save_freq, EarlyStopping's rules and mode='auto': driven by hand, driven side
by side with Keras 3's callbacks on the same logs, and in a compile/fit compared with Keras."""

import csv
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyseq
from layers_helpers import import_keras, keras_weights, to_numpy
from pyseq import Input, Sequential, callbacks, layers, metrics

RNG = np.random.default_rng(17)
# keras 3.15 reads its float32 learning-rate Variable through np.array(), which NumPy 2 flags
KERAS_NUMPY_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


class FakeModel:
    """What the callbacks touch: optimizer, stop_training, get/set_weights (the weights are the
    epoch they were taken at, so restoring can be checked)."""

    def __init__(self, optimizer):
        self.optimizer, self.stop_training, self.w, self.metrics = optimizer, False, -1, []

    def get_weights(self):
        return [np.array(self.w)]

    def set_weights(self, weights):
        self.w = int(weights[0])


def _drive(cb, model, values, monitor="val_loss"):
    """fit's calls for one value of ``monitor`` per epoch; returns the epochs' logs."""
    cb.set_model(model)
    cb.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        model.w = epoch
        logs = {monitor: value, "loss": value + 1.0}
        cb.on_epoch_begin(epoch)
        cb.on_epoch_end(epoch, logs)
        seen.append(logs)
        if model.stop_training:
            break
    cb.on_train_end()
    return seen


@pytest.fixture(scope="module")
def keras():
    # imported outside the hypothesis examples: importing keras raises the recursion limit,
    # which hypothesis reports when it happens inside an example
    return import_keras()


def _lr(opt):
    lr = opt.learning_rate
    return float(to_numpy(getattr(lr, "value", lr)))


# -- ReduceLROnPlateau -------------------------------------------------------------------------
def test_reduce_lr_on_plateau_by_hand():
    opt = pyseq.optimizers.SGD(0.08)
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    logs = _drive(cb, FakeModel(opt), [5, 4, 4, 4, 4, 4, 4, 4, 4, 4])
    # epochs 0-1 improve; 2, 3 wait -> halved after 3, then cooldown; as in Keras the epoch
    # that ends the cooldown already counts, so 5 halves again to min_lr; from 7 on a rate at
    # min_lr (compared in float32, as Keras stores it) is not reduced again, and the wait
    # keeps growing instead of restarting a cooldown. Logged before each change.
    assert [l["learning_rate"] for l in logs] == pytest.approx(
        [.08, .08, .08, .08, .04, .04, .02, .02, .02, .02])
    assert opt.learning_rate == pytest.approx(0.02) and cb.wait == 4
    cb = callbacks.ReduceLROnPlateau(monitor="acc", mode="max", patience=0, min_delta=0.1)
    opt = pyseq.optimizers.Adam(0.01)
    _drive(cb, FakeModel(opt), [0.5, 0.55, 0.7], monitor="acc")
    assert opt.learning_rate == pytest.approx(0.001)   # 0.55 is not 0.1 better than 0.5


@KERAS_NUMPY_WARNING
@settings(max_examples=40)
@given(values=st.lists(st.sampled_from([1.0, 0.9, 0.95, 0.899, 1.2, 0.5]), min_size=1,
                       max_size=14),
       patience=st.integers(0, 3), cooldown=st.integers(0, 2),
       min_delta=st.sampled_from([0.0, 1e-4, 0.06]), min_lr=st.sampled_from([0.0, 0.02]),
       mode=st.sampled_from(["min", "max", "auto"]))
def test_reduce_lr_on_plateau_matches_keras(keras, values, patience, cooldown, min_delta,
                                            min_lr, mode):
    kw = dict(factor=0.5, patience=patience, cooldown=cooldown, min_delta=min_delta,
              min_lr=min_lr, mode=mode)
    ours, theirs = callbacks.ReduceLROnPlateau(**kw), keras.callbacks.ReduceLROnPlateau(**kw)
    p_opt, k_opt = pyseq.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)
    p_logs = _drive(ours, FakeModel(p_opt), values)
    k_logs = _drive(theirs, FakeModel(k_opt), values)
    assert [l["learning_rate"] for l in p_logs] == pytest.approx(
        [l["learning_rate"] for l in k_logs], rel=1e-6)
    assert _lr(p_opt) == pytest.approx(_lr(k_opt), rel=1e-6)
    assert (ours.wait, ours.cooldown_counter, ours.best) == (theirs.wait,
                                                              theirs.cooldown_counter,
                                                              theirs.best)


# -- EarlyStopping -----------------------------------------------------------------------------
@KERAS_NUMPY_WARNING
@settings(max_examples=60)
@given(values=st.lists(st.sampled_from([1.0, 0.9, 0.95, 0.899, 1.2, 0.5]), min_size=1,
                       max_size=12),
       patience=st.integers(0, 3), min_delta=st.sampled_from([0.0, 0.06]),
       mode=st.sampled_from(["min", "max", "auto"]), baseline=st.sampled_from([None, 0.92]),
       restore=st.booleans(), start=st.integers(0, 2))
def test_early_stopping_matches_keras(keras, values, patience, min_delta, mode, baseline,
                                      restore, start):
    kw = dict(patience=patience, min_delta=min_delta, mode=mode, baseline=baseline,
              restore_best_weights=restore, start_from_epoch=start)
    ours, theirs = callbacks.EarlyStopping(**kw), keras.callbacks.EarlyStopping(**kw)
    pm, km = FakeModel(None), FakeModel(None)
    p_logs, k_logs = _drive(ours, pm, values), _drive(theirs, km, values)
    assert len(p_logs) == len(k_logs)
    assert (ours.stopped_epoch, ours.wait, ours.best, ours.best_epoch) == (
        theirs.stopped_epoch, theirs.wait, theirs.best, theirs.best_epoch)
    assert pm.w == km.w   # the weights restored, or the last epoch's


def test_mode_auto_follows_keras_metric_directions():
    keras = import_keras()
    checked = 0
    for name in dir(metrics):
        ours_cls, theirs_cls = getattr(metrics, name), getattr(keras.metrics, name, None)
        if not isinstance(ours_cls, type) or not isinstance(theirs_cls, type) or \
                not issubclass(ours_cls, metrics.Metric) or name in ("Metric", "Mean", "Sum",
                                                                     "MeanMetricWrapper"):
            continue
        ours, theirs = ours_cls(), theirs_cls()
        expected = {"up": np.greater, "down": np.less}.get(getattr(theirs, "_direction", None))
        for monitor in (ours.name, f"val_{ours.name}", f"out_{ours.name}"):
            if expected is None:    # Keras cannot tell (true_positives ...): neither can we
                with pytest.raises(ValueError, match="EarlyStopping.*mode='min'"):
                    callbacks.EarlyStopping(monitor=monitor)
            else:
                assert callbacks.EarlyStopping(monitor=monitor).monitor_op is expected, monitor
        checked += 1
    assert checked >= 20
    for monitor in ("loss", "val_loss", "val_reg_loss"):
        assert callbacks.ReduceLROnPlateau(monitor=monitor).monitor_op is np.less


# -- CSVLogger ---------------------------------------------------------------------------------
def _logs_stream():
    return [{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.25, "accuracy": 0.5,
                                             "learning_rate": 0.1}, {"loss": 0.125}]


def test_csv_logger_matches_keras_file(tmp_path):
    keras = import_keras()
    for sep, append in ((",", False), (";", True)):
        texts = []
        for mod, name in ((callbacks, "ours.csv"), (keras.callbacks, "theirs.csv")):
            path = tmp_path / name
            path.write_text("")            # an empty file still gets a header with append
            cb = mod.CSVLogger(str(path), separator=sep, append=append)
            for _ in range(2):             # a second fit appends (or overwrites)
                cb.set_model(FakeModel(None))
                cb.on_train_begin()
                for epoch, logs in enumerate(_logs_stream()):
                    cb.on_epoch_end(epoch, dict(logs))
                cb.on_train_end()
            texts.append(path.read_text())
        assert texts[0] == texts[1]
        rows = list(csv.reader(texts[0].splitlines(), delimiter=sep))
        assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
        assert len(rows) == (7 if append else 4) and rows[3][1] == "NA"
    with pytest.raises(ValueError, match="CSVLogger.*separator"):
        callbacks.CSVLogger(str(tmp_path / "x.csv"), separator=";;")


def _model(lr=0.05, optimizer=None):
    m = Sequential([Input((4,)), layers.Dense(3, activation="tanh"), layers.Dense(1)])
    m.compile(optimizer or pyseq.optimizers.SGD(lr), "mse")
    return m


def _data(n=24):
    x = RNG.standard_normal((n, 4)).astype(np.float32)
    return x, (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], np.float32)).astype(np.float32)


def test_csv_logger_in_fit_writes_the_history(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    h = _model().fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25,
                     callbacks=[callbacks.CSVLogger(str(path))])
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == h.epoch == [0, 1, 2]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose([float(r[key]) for r in rows], h.history[key], rtol=1e-6)


# -- TerminateOnNaN, LambdaCallback --------------------------------------------------------------
def test_terminate_on_nan(capsys):
    x, y = _data()
    y[9] = np.nan                            # the second batch's loss is NaN
    m = _model()
    seen = []
    lam = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    h = m.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0,
              callbacks=[callbacks.TerminateOnNaN(), lam])
    assert seen == [0, 1] and len(h.epoch) == 1
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="TerminateOnNaN.*batch 1"):
        _model().fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0,
                     callbacks=[callbacks.TerminateOnNaN(raise_error=True)])


def test_lambda_callback_hooks_and_batch_aliases():
    events = []
    lam = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda e, logs: events.append(f"epoch_begin {e}"),
        on_epoch_end=lambda e, logs: events.append(f"epoch_end {e} {sorted(logs)}"),
        on_train_batch_begin=lambda b, logs: events.append(f"batch_begin {b}"),
        on_train_end=lambda logs: events.append(f"train_end {sorted(logs)}"), tag="mine")
    assert lam.tag == "mine"

    class OldStyle(callbacks.Callback):      # Keras: on_batch_end still receives batch ends
        def on_batch_end(self, batch, logs=None):
            events.append(f"old {batch} {sorted(logs)}")

    x, y = _data(12)
    _model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[lam, OldStyle()])
    assert events == ["train_begin", "epoch_begin 0", "batch_begin 0", "old 0 ['loss']",
                      "batch_begin 1", "old 1 ['loss']", "epoch_end 0 ['loss']",
                      "epoch_begin 1", "batch_begin 0", "old 0 ['loss']", "batch_begin 1",
                      "old 1 ['loss']", "epoch_end 1 ['loss']", "train_end ['loss']"]
    with pytest.raises(TypeError, match="LambdaCallback.*on_epoch_end"):
        callbacks.LambdaCallback(on_epoch_end=3)


# -- ModelCheckpoint ---------------------------------------------------------------------------
def test_model_checkpoint_names_best_only_and_batches(tmp_path):
    x, y = _data()
    m = _model(lr=0.0)      # nothing changes: val_loss never improves after the first epoch
    pattern = str(tmp_path / "sub" / "w{epoch:02d}-{val_loss:.2f}.npz")
    h = m.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25, callbacks=[
        callbacks.ModelCheckpoint(pattern, save_best_only=True),
        callbacks.ModelCheckpoint(str(tmp_path / "all{epoch}.npz"), monitor="loss"),
        callbacks.ModelCheckpoint(str(tmp_path / "b{epoch}-{batch}.npz"), save_freq=2)])
    v = h.history["val_loss"][0]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == [f"w01-{v:.2f}.npz"]
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    # 3 batches an epoch, one save every 2 batches counted across epochs
    assert names == ["all1.npz", "all2.npz", "all3.npz", "b1-2.npz", "b2-1.npz", "b2-3.npz",
                     "b3-2.npz"]
    # an improving monitor is saved again; a threshold no value beats saves nothing
    cb = callbacks.ModelCheckpoint(str(tmp_path / "best.npz"), monitor="loss",
                                   save_best_only=True)
    _model(lr=0.05).fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert cb.best is not None and (tmp_path / "best.npz").exists()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "never.npz"), monitor="loss",
                                   save_best_only=True, initial_value_threshold=-1.0)
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert not (tmp_path / "never.npz").exists()


def test_model_checkpoint_missing_monitor_and_bad_names(tmp_path):
    x, y = _data()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "w.npz"), save_best_only=True)
    with pytest.warns(UserWarning, match="val_loss"):     # Keras warns and saves anyway
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert (tmp_path / "w.npz").exists()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "w{acc:.2f}.npz"), monitor="loss")
    with pytest.raises(KeyError, match="ModelCheckpoint.*acc"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    with pytest.raises(ValueError, match="ModelCheckpoint.*save_freq"):
        callbacks.ModelCheckpoint("w.npz", save_freq="batch")
    with pytest.raises(ValueError, match="ModelCheckpoint.*mode"):
        callbacks.ModelCheckpoint("w.npz", mode="best")
    with pytest.raises(ValueError, match="ReduceLROnPlateau.*factor"):
        callbacks.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="EarlyStopping.*'f1'|EarlyStopping.*mode"):
        callbacks.EarlyStopping(monitor="my_score")


# -- compile / fit against Keras ----------------------------------------------------------------
@KERAS_NUMPY_WARNING
def test_fit_with_callbacks_follows_keras():
    """Same weights and batches: ReduceLROnPlateau's reductions, the learning_rate column,
    EarlyStopping's stop and the loss curve are Keras's."""
    keras = import_keras()

    def build(L, I, S):
        return S([I((4,)), L.Dense(6, activation="tanh"), L.Dense(1)])

    k = build(keras.layers, keras.Input, keras.Sequential)
    p = build(layers, Input, Sequential)
    p.set_weights(keras_weights(k))
    x, y = _data(40)

    def cbs(mod):
        return [mod.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=0.02,
                                      cooldown=1),
                mod.EarlyStopping(monitor="loss", patience=2, min_delta=0.005)]

    k.compile(keras.optimizers.SGD(0.2, momentum=0.5), "mse")
    p.compile(pyseq.optimizers.SGD(0.2, momentum=0.5), "mse")
    args = dict(batch_size=8, epochs=25, shuffle=False, verbose=0, validation_split=0.25)
    kh = k.fit(x, y, callbacks=cbs(keras.callbacks), **args)
    ph = p.fit(x, y, callbacks=cbs(callbacks), **args)
    assert set(ph.history) == set(kh.history) == {"loss", "val_loss", "learning_rate"}
    assert ph.epoch == kh.epoch and len(ph.epoch) < 25
    for key in kh.history:
        np.testing.assert_allclose(ph.history[key], kh.history[key], rtol=1e-4, atol=1e-6,
                                   err_msg=key)
    assert len(set(kh.history["learning_rate"])) > 1    # the rate did change
    for a, b in zip(p.get_weights(), keras_weights(k)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@KERAS_NUMPY_WARNING
def test_fit_with_ema_optimizer_follows_keras():
    """use_ema: the moving average replaces the weights at the end of fit (Keras)."""
    keras = import_keras()
    keras.utils.set_random_seed(3)   # Keras's unseeded init sometimes put a weight near 0,
    # where float32 rounding noise exceeded atol=1e-6
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    p = Sequential([Input((4,)), layers.Dense(1)])
    p.set_weights(keras_weights(k))
    x, y = _data(32)
    k.compile(keras.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.8), "mse")
    p.compile(pyseq.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.8), "mse")
    kh = k.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    ph = p.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(ph.history["loss"], kh.history["loss"], rtol=1e-4)
    for a, b in zip(p.get_weights(), keras_weights(k)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert p.optimizer.iterations == 12


def test_progbar_logger_adds_no_second_bar(capsys):
    x, y = _data(16)
    _model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callbacks.ProgbarLogger()])
    assert capsys.readouterr().out == ""
    cb = callbacks.ProgbarLogger()
    _model().fit(x, y, epochs=2, batch_size=8, verbose=1, callbacks=[cb])
    out = capsys.readouterr().out
    assert out.count("Epoch 1/2") == 1 and out.count("Epoch 2/2") == 1
    assert (cb.verbose, cb.epochs, cb.target) == (1, 2, 2)
