"""Weight regularizers (L1, L2, L1L2) as Keras 3 applies them: penalties on the weights a
layer's <prefix>_regularizer names, added to the loss of fit/evaluate (model.losses) and
their gradients to the weights'. By hand and finite differences, then against Keras."""

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, keras_weights, numeric_grad
from pyseq import layers, regularizers

RNG = np.random.default_rng(53)


def test_penalties_and_gradients_by_hand():
    w = np.array([[1.0, -2.0], [0.0, 0.5]])
    assert regularizers.L1(0.1)(w) == pytest.approx(0.35)
    assert regularizers.L2(0.1)(w) == pytest.approx(0.1 * 5.25)
    assert regularizers.L1L2(0.1, 0.1)(w) == pytest.approx(0.35 + 0.525)
    np.testing.assert_allclose(regularizers.L1L2(0.1, 0.1).grad(w),
                               0.1 * np.sign(w) + 0.2 * w)
    assert regularizers.get("l2").l2 == 0.01 and regularizers.get("l1").l1 == 0.01
    assert regularizers.get({"class_name": "L2", "config": {"l2": 0.5}}).l2 == 0.5
    with pytest.raises(ValueError, match=r"\[Dense\] kernel_regularizer: \[regularizers.get\]"):
        layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(ValueError, match=r"\[Dense\] activity_regularizer is not supported"):
        layers.Dense(2, activity_regularizer="l2")


def _model(L, Model, Input, R):
    i = Input((5, 3))
    h = L.LSTM(3, kernel_regularizer=R.L2(0.05), recurrent_regularizer="l1",
               bias_regularizer=R.L1L2(0.01, 0.02), return_sequences=True)(i)
    h = L.Conv1D(2, 2, kernel_regularizer=R.L1L2(0.003, 0.004))(h)
    h = L.LayerNormalization(gamma_regularizer="l2")(h)
    h = L.GlobalAveragePooling1D()(h)
    return Model(i, L.Dense(1, kernel_regularizer="l2", bias_regularizer="l1")(h))


def test_loss_and_gradients_include_the_penalties():
    m = _model(layers, pyseq.Model, pyseq.Input, regularizers)
    m.compile("sgd", "mse")
    assert len(m.losses) == 7  # kernel, recurrent, bias; conv kernel; gamma; dense kernel, bias
    x = RNG.standard_normal((4, 5, 3))
    y = RNG.standard_normal((4, 1))
    total, grads = m.compute_gradients(x, y)
    plain = float(np.mean((np.asarray(m.predict(x, verbose=0), np.float64) - y) ** 2))
    assert total == pytest.approx(plain + sum(m.losses), rel=1e-5)
    lstm_kernel = m.trainable_weights[0]
    assert lstm_kernel.regularizer.l2 == 0.05
    w = lstm_kernel.value
    backup = w.copy()
    w64 = w.astype(np.float64)

    def f():
        w[...] = w64
        return m.compute_gradients(x, y)[0]
    num = numeric_grad(f, w64, eps=1e-3)
    w[...] = backup
    np.testing.assert_allclose(grads[0], num, rtol=2e-2, atol=2e-4)
    assert m.evaluate(x, y, verbose=0) == pytest.approx(total, rel=1e-5)
    config = layers.LSTM(3, kernel_regularizer="l2").get_config()
    assert isinstance(layers.LSTM.from_config(config).get_config()["kernel_regularizer"],
                      regularizers.L2)


def test_regularized_fit_follows_keras():
    keras = import_keras()
    k = _model(keras.layers, keras.Model, keras.Input, keras.regularizers)
    p = _model(layers, pyseq.Model, pyseq.Input, regularizers)
    p.set_weights(keras_weights(k))
    x = RNG.standard_normal((10, 5, 3)).astype(np.float32)
    y = RNG.standard_normal((10, 1)).astype(np.float32)
    k.compile("adam", "mse")
    p.compile("adam", "mse")
    assert sum(p.losses) == pytest.approx(sum(float(v.detach()) for v in k.losses), rel=1e-5)
    opts = dict(epochs=3, batch_size=4, verbose=0, shuffle=False, validation_split=0.3)
    hk, hp = k.fit(x, y, **opts).history, p.fit(x, y, **opts).history
    for key in hk:
        np.testing.assert_allclose(hp[key], hk[key], rtol=1e-4, err_msg=key)
