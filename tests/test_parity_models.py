"""Whole-program parity with Keras 3 (torch backend): fit's batches across epochs
(steps_per_epoch, shuffle="batch"), and the other discrepancies found by probing models,
training, callbacks and preprocessing against Keras."""

import warnings

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, keras_weights
from pyseq import layers

RNG = np.random.default_rng(41)
N = 23
X = RNG.standard_normal((N, 5)).astype(np.float32)
YR = RNG.standard_normal((N, 2)).astype(np.float32)


def _dense(L, Sequential, out=2, act=None):
    return Sequential([L.Input((5,)), L.Dense(7, activation="tanh"),
                       L.Dense(out, activation=act)])


def _pair(out=2, act=None, **compile_kw):
    keras = import_keras()
    k, p = _dense(keras.layers, keras.Sequential, out, act), _dense(layers, pyseq.Sequential,
                                                                    out, act)
    p.set_weights(keras_weights(k))
    for m in (k, p):
        m.compile(**compile_kw)
    return k, p


def _same_history(k, p, x, y, **fit_kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # Keras's "ran out of data", NumPy 2's __array__
        hk = k.fit(x, y, verbose=0, **fit_kw).history
        hp = p.fit(x, y, verbose=0, **fit_kw).history
    assert sorted(hk) == sorted(hp)
    for key in hk:
        np.testing.assert_allclose(hp[key], hk[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for a, b in zip(p.get_weights(), keras_weights(k)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    return hp


@pytest.mark.parametrize("steps,epochs", [(2, 3), (3, 5), (7, 3)])
def test_steps_per_epoch_continues_one_pass_over_the_data_like_keras(steps, epochs):
    # 23 samples in batches of 5: 5 batches per pass. Keras's epoch takes the next `steps`
    # batches of the pass, ends early where the pass runs out, and then starts a new one
    k, p = _pair(optimizer="adam", loss="mse")
    _same_history(k, p, X, YR, batch_size=5, epochs=epochs, steps_per_epoch=steps,
                  shuffle=False, validation_split=0.1 if steps == 3 else 0.0)


def test_steps_per_epoch_past_the_data_warns_and_stops_the_epoch():
    _, p = _pair(optimizer="sgd", loss="mse")
    seen = []
    cb = pyseq.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    with pytest.warns(UserWarning, match="ran out"):
        p.fit(X, YR, batch_size=5, epochs=2, steps_per_epoch=7, shuffle=False, verbose=0,
              callbacks=[cb])
    assert seen == [0, 1, 2, 3, 4] * 2


def test_shuffle_batch_keeps_the_batches_like_keras():
    k, p = _pair(optimizer="adam", loss="mse", metrics=["mae"])
    _same_history(k, p, X, YR, batch_size=5, epochs=2, shuffle="batch")
