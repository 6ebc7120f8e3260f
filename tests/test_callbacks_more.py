"""ReduceLROnPlateau, TerminateOnNaN, LambdaCallback and the on_batch_* hooks, by hand on
synthetic logs and against Keras 3 (the same plateaus give the same learning rates); Keras's
EarlyStopping rules on synthetic logs."""

import itertools

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, keras_weights
from pyseq import callbacks, layers


class _Opt:
    def __init__(self, lr):
        self.learning_rate = lr


class _Model:
    def __init__(self, lr=0.1):
        self.optimizer = _Opt(lr)
        self.stop_training = False
        self.w = 0

    def get_weights(self):
        return [np.array(self.w)]

    def set_weights(self, w):
        self.w = int(w[0])


def _run(cb, values, key="val_loss", model=None):
    model = model or _Model()
    cb.set_model(model)
    cb.on_train_begin()
    lrs, stopped = [], None
    for epoch, v in enumerate(values):
        model.w = epoch
        logs = {key: v, "loss": v}
        cb.on_epoch_end(epoch, logs)
        lrs.append(float(model.optimizer.learning_rate))
        if model.stop_training:
            stopped = epoch
            break
    cb.on_train_end()
    return lrs, stopped, model


def test_reduce_lr_on_plateau_by_hand():
    values = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9]
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    lrs, _, _ = _run(cb, values)
    # no gain at epochs 2, 3 -> halve at 3; cooldown at 4; gain at 5; plateau 6, 7 -> halve...
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02])
    logs = {"val_loss": 1.0}
    cb.on_epoch_end(0, logs)
    assert logs["learning_rate"] == pytest.approx(0.02)
    with pytest.raises(ValueError, match=r"\[ReduceLROnPlateau\] factor"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_terminate_on_nan_and_lambda_and_batch_hooks():
    seen = []

    class OldStyle(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(("batch", batch))
    cb = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(("epoch", e)))
    x = np.ones((6, 2), np.float32)
    m = pyseq.Sequential([layers.Input((2,)), layers.Dense(1)])
    m.compile(pyseq.optimizers.SGD(0.0), "mse")
    m.fit(x, x[:, :1], epochs=1, batch_size=3, verbose=0, callbacks=[OldStyle(), cb])
    assert seen == [("batch", 0), ("batch", 1), ("epoch", 0)]
    with pytest.raises(TypeError, match=r"\[LambdaCallback\] unexpected"):
        callbacks.LambdaCallback(on_nothing=print)
    model = _Model()
    t = callbacks.TerminateOnNaN()
    t.set_model(model)
    t.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    t.on_train_batch_end(1, {"loss": float("nan")})
    assert model.stop_training
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        strict = callbacks.TerminateOnNaN(raise_error=True)
        strict.set_model(_Model())
        strict.on_train_batch_end(0, {"loss": float("inf")})


# Keras reads its learning-rate Variable through a NumPy-2-deprecated __array__.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_reduce_lr_on_plateau_matches_keras_in_fit():
    keras = import_keras()
    rng = np.random.default_rng(41)
    x = rng.standard_normal((24, 5)).astype(np.float32)
    y = rng.standard_normal((24, 1)).astype(np.float32)

    def build(L, Sequential):
        return Sequential([L.Input((5,)), L.Dense(8, activation="tanh"), L.Dense(1)])
    for kw in (dict(monitor="loss", factor=0.5, patience=1, min_delta=0.5),
               dict(factor=0.2, patience=0, cooldown=2, min_lr=0.004, min_delta=10.0)):
        k, p = build(keras.layers, keras.Sequential), build(layers, pyseq.Sequential)
        p.set_weights(keras_weights(k))
        k.compile(keras.optimizers.SGD(0.1), "mse")
        p.compile(pyseq.optimizers.SGD(0.1), "mse")
        opts = dict(epochs=6, batch_size=8, verbose=0, shuffle=False, validation_split=0.25)
        hk = k.fit(x, y, callbacks=[keras.callbacks.ReduceLROnPlateau(**kw)], **opts).history
        hp = p.fit(x, y, callbacks=[callbacks.ReduceLROnPlateau(**kw)], **opts).history
        assert sorted(hk) == sorted(hp)
        for key in hk:
            np.testing.assert_allclose(hp[key], hk[key], rtol=1e-4, err_msg=key)


def test_early_stopping_rules_match_keras():
    keras = import_keras()
    sequences = [[1, 0.9, 0.95, 0.96, 0.97, 0.8, 0.99, 1, 1, 1], [1, 1, 1, 1, 1],
                 [0.5, 0.6, 0.7, 0.4, 0.45, 0.44, 0.3, 0.5, 0.6, 0.7]]
    for seq, patience, min_delta, (mode, key), baseline, restore, start in itertools.product(
            sequences, (0, 2), (0, 0.05), (("auto", "val_loss"), ("max", "val_acc")),
            (None, 0.92), (False, True), (0, 2)):
        kw = dict(monitor=key, patience=patience, min_delta=min_delta, mode=mode,
                  baseline=baseline, restore_best_weights=restore, start_from_epoch=start)
        _, k_stop, k_model = _run(keras.callbacks.EarlyStopping(**kw), seq, key)
        _, p_stop, p_model = _run(callbacks.EarlyStopping(**kw), seq, key)
        assert (p_stop, p_model.w) == (k_stop, k_model.w), kw
