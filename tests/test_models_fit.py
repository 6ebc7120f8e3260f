"""fit / evaluate / predict / *_on_batch, validation, callbacks and the progress bar."""

import numpy as np
import pytest

import pyseq
from pyseq import Input, Model, Sequential, callbacks, layers

RNG = np.random.default_rng(11)


def small_model(lr=0.05, metrics=("mae",)):
    m = Sequential([Input((4,)), layers.Dense(6, activation="tanh"), layers.Dense(1)])
    m.compile(pyseq.optimizers.SGD(lr), "mse", metrics=list(metrics))
    return m


def data(n=40):
    x = RNG.standard_normal((n, 4)).astype(np.float32)
    return x, (x @ np.array([1.0, -2.0, 0.5, 0.0], np.float32))[:, None]


def test_validation_split_takes_the_end_and_logs():
    x, y = data(50)
    m = small_model()
    h = m.fit(x, y, epochs=1, batch_size=8, validation_split=0.2, shuffle=False, verbose=0)
    val = m.evaluate(x[40:], y[40:], verbose=0, return_dict=True)
    assert h.history["val_loss"][0] == pytest.approx(val["loss"], rel=1e-6)
    assert h.history["val_mae"][0] == pytest.approx(val["mae"], rel=1e-6)
    h2 = small_model().fit(x, y, epochs=2, validation_data=(x[:10], y[:10]), verbose=0)
    assert len(h2.history["val_loss"]) == 2 and h2.epoch == [0, 1]


def test_loss_log_is_the_sample_weighted_epoch_mean():
    x, y = data(20)
    m = small_model(lr=0.0)
    h = m.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)  # batches 8, 8, 4
    assert h.history["loss"][0] == pytest.approx(m.evaluate(x, y, verbose=0)[0], rel=1e-6)


def test_shuffle_initial_epoch_steps_per_epoch():
    x, y = data(32)
    seen = []

    class Recorder(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    m = small_model()
    h = m.fit(x, y, epochs=3, initial_epoch=1, steps_per_epoch=2, batch_size=8, verbose=0,
              callbacks=[Recorder()])
    assert h.epoch == [1, 2] and seen == [0, 1, 0, 1]
    a, b = small_model(lr=0.0), small_model()
    b.set_weights(a.get_weights())
    np.random.seed(0)
    a.compile(pyseq.optimizers.SGD(0.05), "mse")
    ra = a.fit(x, y, epochs=1, batch_size=8, shuffle=True, verbose=0).history["loss"]
    b.compile(pyseq.optimizers.SGD(0.05), "mse")
    rb = b.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0).history["loss"]
    assert ra != rb


def test_on_batch_functions_and_predict():
    x, y = data(16)
    m = small_model()
    loss, mae = m.train_on_batch(x, y)
    logs = m.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "mae"} and logs["loss"] < loss
    assert m.predict_on_batch(x).shape == (16, 1)
    np.testing.assert_allclose(m.predict(x, batch_size=5, verbose=0), m.predict_on_batch(x),
                               rtol=1e-5, atol=1e-6)
    assert m.predict(x, verbose=0).dtype == np.float32
    assert m.predict(x.astype(np.float64), verbose=0).dtype == np.float32   # no upcast


def test_progress_bar(capsys):
    x, y = data(20)
    m = small_model(metrics=["mae"])
    m.fit(x, y, epochs=2, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    last = out.strip().split("\n")[-1].split("\r")[-1]
    assert last.startswith("3/3 ") and "\u2501" * 20 in last and "/step" in last
    assert " - loss: " in last and " - mae: " in last
    m.fit(x, y, epochs=2, batch_size=8, verbose=2)
    lines = capsys.readouterr().out.strip().split("\n")
    # Keras prints the epoch line for verbose=2 too (when there are several epochs)
    assert lines[0::2] == ["Epoch 1/2", "Epoch 2/2"]
    assert len(lines) == 4 and all(line.startswith("3/3 - ") for line in lines[1::2])
    m.fit(x, y, epochs=1, batch_size=8, verbose=1)
    assert "Epoch" not in capsys.readouterr().out   # Keras: no epoch line for a single epoch
    m.fit(x, y, epochs=1, verbose=0)
    m.evaluate(x, y, verbose=0)
    m.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_early_stopping_patience_and_restore():
    x, y = data(16)
    m = small_model(lr=0.0)   # nothing improves after the first epoch
    es = callbacks.EarlyStopping(monitor="loss", patience=2)
    h = m.fit(x, y, epochs=10, verbose=0, callbacks=[es])
    assert len(h.epoch) == 3 and es.stopped_epoch == 2
    m = small_model(lr=0.5)   # diverging: the best weights are the first epoch's
    es = callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    weights = []

    class Keep(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights.append(self.model.get_weights())

    xb = x * 10
    m.fit(xb, y * 10, epochs=20, verbose=0, callbacks=[Keep(), es])
    for a, b in zip(m.get_weights(), weights[es.best_epoch]):
        np.testing.assert_array_equal(a, b)
    es = callbacks.EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    assert len(small_model(lr=0.0).fit(x, y, epochs=6, verbose=0, callbacks=[es]).epoch) == 5
    # an unbeatable baseline never resets the wait: 2 epochs instead of 3 with patience 2
    es = callbacks.EarlyStopping(monitor="loss", patience=2, baseline=-1.0)
    assert len(small_model(lr=0.0).fit(x, y, epochs=6, verbose=0, callbacks=[es]).epoch) == 2
    es = callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=1e9)
    assert len(small_model().fit(x, y, epochs=6, verbose=0, callbacks=[es]).epoch) == 2
    with pytest.raises(ValueError, match="mode"):
        callbacks.EarlyStopping(mode="up")


def test_model_checkpoint_and_lr_scheduler(tmp_path):
    x, y = data(16)
    m = small_model(lr=0.01)
    path = str(tmp_path / "ep{epoch:02d}.npz")
    best = str(tmp_path / "best.npz")
    lrs = []

    def schedule(epoch, lr):
        lrs.append(lr)
        return 0.01 * 0.5 ** epoch

    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=False),
        callbacks.ModelCheckpoint(best, monitor="loss", save_best_only=True, mode="min"),
        callbacks.LearningRateScheduler(schedule)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "ep01.npz", "ep02.npz",
                                                          "ep03.npz"]
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.005, 0.0025])
    assert lrs[1] == pytest.approx(0.01)
    m2 = small_model()
    m2.load_weights(str(tmp_path / "ep03.npz"))
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_multi_output_logs_and_dict_data():
    a = Input((3,), name="a")
    h = layers.Dense(4)(a)
    out1 = layers.Dense(1, name="reg")(h)
    out2 = layers.Dense(2, activation="softmax", name="cls")(h)
    m = Model(a, [out1, out2])
    m.compile("adam", loss=["mse", "sparse_categorical_crossentropy"], metrics=["accuracy"])
    x = RNG.standard_normal((12, 3)).astype(np.float32)
    h = m.fit({"a": x}, {"reg": x[:, :1], "cls": (x[:, 0] > 0).astype(int)}, epochs=1,
              verbose=0)
    assert {"loss", "reg_loss", "cls_loss", "cls_accuracy"} <= set(h.history)
    assert h.history["loss"][0] == pytest.approx(h.history["reg_loss"][0] +
                                                 h.history["cls_loss"][0], rel=1e-6)


def test_fit_follows_keras_loss_curve():
    """Same weights, same batches (shuffle=False), same optimizer: the same per-epoch losses and
    metrics as Keras's fit, and the same final weights."""
    from layers_helpers import import_keras, keras_weights, to_numpy
    keras = import_keras()

    def build(L, I, S):
        return S([I((6,)), L.Dense(8, activation="tanh"), L.BatchNormalization(),
                  L.Dense(3, activation="softmax")])

    k = build(keras.layers, keras.Input, keras.Sequential)
    p = build(layers, Input, Sequential)
    p.set_weights(keras_weights(k))
    x = RNG.standard_normal((50, 6)).astype(np.float32)
    y = RNG.integers(0, 3, 50)
    k.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    p.compile(pyseq.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    kh = k.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
               validation_split=0.2).history
    ph = p.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
               validation_split=0.2).history
    assert set(ph) == set(kh)
    for key in kh:
        np.testing.assert_allclose(ph[key], kh[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for a, b in zip(p.get_weights(), [to_numpy(v.value) for v in k.weights]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _classifier(metrics=None, weighted_metrics=None, lr=0.05):
    m = Sequential([Input((5,)), layers.Dense(3, activation="softmax")])
    m.compile(pyseq.optimizers.SGD(lr), "sparse_categorical_crossentropy", metrics=metrics,
              weighted_metrics=weighted_metrics)
    return m


def test_metrics_ignore_sample_weight_and_weighted_metrics_use_it():
    x = RNG.standard_normal((12, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 12)
    sw = np.where(np.arange(12) < 6, 1.0, 0.0).astype(np.float32)
    m = _classifier(metrics=["accuracy"], weighted_metrics=["accuracy", "sparse_categorical_accuracy"])
    logs = m.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy", "weighted_accuracy", "sparse_categorical_accuracy"}
    hit = (m.predict(x, verbose=0).argmax(-1) == y).astype(float)
    assert logs["accuracy"] == pytest.approx(hit.mean())
    assert logs["weighted_accuracy"] == pytest.approx(hit[:6].mean())
    assert logs["sparse_categorical_accuracy"] == pytest.approx(hit[:6].mean())
    twice = _classifier(metrics=["accuracy", "accuracy"])
    assert set(twice.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy", "accuracy_1"}


@pytest.mark.parametrize("target", ["sparse", "one_hot", "column"])
def test_class_weight_is_the_sample_weight_of_each_class(target):
    x = RNG.standard_normal((16, 5)).astype(np.float32)
    labels = RNG.integers(0, 3, 16)
    y = {"sparse": labels, "one_hot": np.eye(3, dtype=np.float32)[labels],
         "column": labels[:, None].astype(np.float32)}[target]
    loss = "sparse_categorical_crossentropy" if target != "one_hot" else "categorical_crossentropy"
    cw = {0: 0.5, 2: 3.0}  # class 1 absent: weight 1
    runs = []
    for kwargs in (dict(class_weight=cw), dict(sample_weight=np.array([cw.get(c, 1.0) for c in labels]))):
        m = Sequential([Input((5,)), layers.Dense(3, activation="softmax")])
        m.compile(pyseq.optimizers.SGD(0.1), loss)
        m.set_weights([np.full((5, 3), 0.1, np.float32), np.zeros(3, np.float32)])
        h = m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, **kwargs)
        runs.append((h.history["loss"], m.get_weights(), m.train_on_batch(x, y, **kwargs)))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert runs[0][2] == pytest.approx(runs[1][2], rel=1e-6)


def test_class_weight_errors():
    x = RNG.standard_normal((8, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 8)
    m = _classifier()
    with pytest.raises(ValueError, match=r"\[fit\] give class_weight or sample_weight, not both"):
        m.fit(x, y, class_weight={0: 2.0}, sample_weight=np.ones(8), verbose=0)
    with pytest.raises(TypeError, match=r"\[fit\] class_weight must be a dict"):
        m.fit(x, y, class_weight=[1.0, 2.0, 3.0], verbose=0)
    inp = Input((5,))
    two = Model(inp, [layers.Dense(1)(inp), layers.Dense(1)(inp)])
    two.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"only supported for models with a single output"):
        two.fit(x, [y, y], class_weight={0: 2.0}, verbose=0)


def test_weighted_metrics_and_class_weight_follow_keras():
    from layers_helpers import import_keras, keras_weights
    keras = import_keras()
    x = RNG.standard_normal((40, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 40)
    sw = RNG.random(40).astype(np.float32)
    k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    p = Sequential([Input((5,)), layers.Dense(3, activation="softmax")])
    p.set_weights(keras_weights(k))
    for model, mod in ((k, keras), (p, pyseq)):
        model.compile(mod.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                      metrics=["accuracy"], weighted_metrics=["accuracy"])
    kh = k.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=sw).history
    ph = p.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=sw).history
    assert set(kh) == set(ph)
    for key in kh:
        np.testing.assert_allclose(ph[key], kh[key], rtol=1e-5, err_msg=key)
    cw = {0: 2.0, 1: 0.5}
    kl = k.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, class_weight=cw).history
    pl = p.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, class_weight=cw).history
    for key in kl:
        np.testing.assert_allclose(pl[key], kl[key], rtol=1e-5, err_msg=key)


BAD_ARGUMENTS = [
    ("fit", dict(batch_size=0), ValueError, r"\[fit\] batch_size must be positive"),
    ("fit", dict(batch_size=2.5), TypeError, r"\[fit\] batch_size must be an int"),
    ("fit", dict(epochs="2"), TypeError, r"\[fit\] epochs must be an int"),
    ("fit", dict(epochs=-1), ValueError, r"\[fit\] epochs must be >= 0"),
    ("fit", dict(steps_per_epoch=0), ValueError, r"\[fit\] steps_per_epoch must be positive"),
    ("fit", dict(validation_freq=0), ValueError, r"\[fit\] validation_freq must be positive"),
    ("fit", dict(validation_data="val"), ValueError, r"\[fit\] validation_data must be a tuple"),
    ("fit", dict(validation_data=(np.ones((2, 4)),)), ValueError, r"\[fit\] validation_data must"),
    ("evaluate", dict(batch_size=0), ValueError, r"\[evaluate\] batch_size must be positive"),
    ("evaluate", dict(steps=0), ValueError, r"\[evaluate\] steps must be positive"),
    ("evaluate", dict(sample_weight=np.ones(3)), ValueError, r"\[evaluate\] all inputs and targets"),
    ("predict", dict(batch_size=0), ValueError, r"\[predict\] batch_size must be positive"),
    ("predict", dict(steps=-1), ValueError, r"\[predict\] steps must be positive"),
]


@pytest.mark.parametrize("method, kwargs, error, match", BAD_ARGUMENTS)
def test_bad_arguments_name_the_method(method, kwargs, error, match):
    x, y = data(8)
    m = small_model()
    call = m.predict if method == "predict" else getattr(m, method)
    args = (x,) if method == "predict" else (x, y)
    with pytest.raises(error, match=match):
        call(*args, verbose=0, **kwargs)


def test_non_numeric_targets_and_layer_index():
    x, _ = data(4)
    m = small_model()
    with pytest.raises(TypeError, match=r"targets must be numeric"):
        m.fit(x, np.array(["a", "b", "c", "d"]), verbose=0)
    with pytest.raises(ValueError, match=r"index 5 is out of range: the model has 2 layers"):
        m.get_layer(index=5)
    assert m.get_layer(index=-1) is m.layers[-1]


def test_predict_steps_limits_the_batches():
    x, _ = data(10)
    m = small_model()
    np.testing.assert_allclose(m.predict(x, batch_size=4, steps=2, verbose=0),
                               m.predict(x[:8], verbose=0), rtol=1e-6)
