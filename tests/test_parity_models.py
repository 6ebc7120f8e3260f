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


def _two_outputs(L, Model, Input):
    a, b = Input((4,), name="a"), Input((3,), name="b")
    shared = L.Dense(5, activation="relu", name="shared")
    h = L.Concatenate(name="cat")([shared(L.Dense(3, name="pa")(a)), shared(b)])
    return Model({"a": a, "b": b}, [L.Dense(1, activation="sigmoid", name="cls")(h),
                                    L.Dense(2, name="reg")(h)])


XA = {"a": RNG.standard_normal((N, 4)).astype(np.float32),
      "b": RNG.standard_normal((N, 3)).astype(np.float32)}
YS = [RNG.integers(0, 2, (N, 1)).astype(np.float32), YR]


@pytest.mark.parametrize("loss", [["binary_crossentropy", "mse"],
                                  ["binary_crossentropy", None]])
def test_logs_are_sorted_by_name_and_name_only_the_outputs_with_losses(loss):
    # Keras's logs (history, callbacks, evaluate/train_on_batch dicts) come sorted by name, and
    # the per-output losses appear only when more than one output has a loss
    keras = import_keras()
    k = _two_outputs(keras.layers, keras.Model, keras.Input)
    p = _two_outputs(layers, pyseq.Model, pyseq.Input)
    p.set_weights(keras_weights(k))
    seen = {}
    for m, cbs in ((k, keras.callbacks), (p, pyseq.callbacks)):
        m.compile(optimizer="adam", loss=loss, metrics=[["accuracy"], ["mae"]],
                  weighted_metrics=[[], ["mse"]])
        batch_keys = []
        cb = cbs.LambdaCallback(on_train_batch_end=lambda b, logs: batch_keys.append(list(logs)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = m.fit(XA, YS, batch_size=5, epochs=2, shuffle=False, verbose=0,
                      validation_split=0.2, callbacks=[cb])
            seen[m is p] = (h.history, batch_keys[-1],
                            m.evaluate(XA, YS, batch_size=4, verbose=0, return_dict=True),
                            m.test_on_batch(XA, YS, return_dict=True),
                            m.train_on_batch(XA, YS, return_dict=True),
                            m.evaluate(XA, YS, batch_size=4, verbose=0))
    (hk, bk, ek, tk, rk, lk), (hp, bp, ep, tp, rp, lp) = seen[False], seen[True]
    assert list(hp) == list(hk) and bp == bk
    for kd, pd in ((ek, ep), (tk, tp), (rk, rp)):
        assert list(pd) == list(kd)
        np.testing.assert_allclose(list(pd.values()), list(kd.values()), rtol=1e-4)
    for key in hk:
        np.testing.assert_allclose(hp[key], hk[key], rtol=1e-4, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(lp, lk, rtol=1e-4)


@pytest.mark.parametrize("epochs", [1, 2])
def test_verbose_2_prints_keras_lines(epochs, capsys):
    import re
    k, p = _pair(optimizer="sgd", loss="mse", metrics=["mae"])
    out = {}
    for m in (k, p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, YR, batch_size=5, epochs=epochs, verbose=2, shuffle=False,
                  validation_split=0.2)
            m.evaluate(X, YR, verbose=2)
        text = capsys.readouterr().out
        # the timings differ; the lines, the counters and the logged values must not
        out[m is p] = re.sub(r"\d+(s|ms|us)/step", "T/step", re.sub(r" - \d+s - ", " - S - ",
                                                                      text))
    assert out[True] == out[False]


def test_summary_print_fn_gets_the_whole_text_once_like_keras():
    k, p = _pair()
    got = {}
    for m in (k, p):
        calls = []
        m.summary(print_fn=lambda text, *a, **kw: calls.append(text))
        got[m is p] = calls
    assert len(got[True]) == len(got[False]) == 1
    assert got[True][0].endswith("\n") and got[False][0].endswith("\n")
    for key in ("Total params", "Trainable params", "Non-trainable params"):
        line = [next(s for s in calls[0].splitlines() if key in s) for calls in got.values()]
        assert line[0] == line[1]


@pytest.mark.parametrize("reduction", ["none", None])
@pytest.mark.parametrize("name", ["MeanSquaredError", "BinaryCrossentropy", "Huber"])
def test_unreduced_loss_takes_the_rank_of_n_by_1_weights_like_keras(name, reduction):
    keras = import_keras()
    import torch
    from pyseq import losses
    y_true = RNG.integers(0, 2, (5, 3)).astype(np.float32)
    y_pred = RNG.uniform(0.1, 0.9, (5, 3)).astype(np.float32)
    for sw in (RNG.uniform(0, 2, (5, 1)).astype(np.float32), RNG.uniform(0, 2, 5).astype(
            np.float32)):
        k = getattr(keras.losses, name)(reduction=reduction)(
            torch.tensor(y_true), torch.tensor(y_pred), sample_weight=torch.tensor(sw))
        p = getattr(losses, name)(reduction=reduction)(y_true, y_pred, sample_weight=sw)
        k = k.detach().numpy()
        assert p.shape == k.shape
        np.testing.assert_allclose(p, k, rtol=1e-5, atol=1e-6)


def test_weighted_metrics_take_n_by_1_sample_weights_like_keras():
    # per-sample metric values (N,) with weights (N, 1) crashed in NumPy broadcasting
    sw = RNG.uniform(0.1, 2.0, (N, 1)).astype(np.float32)
    k, p = _pair(optimizer="sgd", loss="mse", metrics=["mae"],
                 weighted_metrics=["mae", "mse", "cosine_similarity"])
    _same_history(k, p, X, YR, batch_size=5, epochs=2, shuffle=False, sample_weight=sw)


@pytest.mark.parametrize("shape,weights", [((6,), None), ((6, 3), None), ((4, 5, 3), None),
                                           ((6, 3), (6,)), ((6, 3), (6, 1)), ((6,), (6, 1)),
                                           ((4, 5, 3), (4, 5)), ((), ())])
def test_mean_and_sum_of_arrays_follow_keras(shape, weights):
    keras = import_keras()
    import torch
    from pyseq import metrics
    for name in ("Mean", "Sum"):
        k, p = getattr(keras.metrics, name)(), getattr(metrics, name)()
        for _ in range(2):
            v = RNG.standard_normal(shape).astype(np.float32)
            w = None if weights is None else RNG.uniform(0, 2, weights).astype(np.float32)
            k.update_state(torch.tensor(v), sample_weight=None if w is None else torch.tensor(w))
            p.update_state(v, sample_weight=w)
        np.testing.assert_allclose(p.result(), k.result().detach().numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


def test_output_names_and_history_params_like_keras():
    keras = import_keras()
    got = {}
    for L, Model, Input in ((keras.layers, keras.Model, keras.Input),
                            (layers, pyseq.Model, pyseq.Input)):
        a = Input((4,))
        m = Model(a, {"o1": L.Dense(2, name="o1")(a), "o2": L.Dense(3, name="o2")(a)})
        s = (keras.Sequential if L is keras.layers else pyseq.Sequential)(
            [L.Input((4,)), L.Dense(3, name="last")])
        s.compile("sgd", "mse")
        h = s.fit(np.ones((7, 4), np.float32), np.ones((7, 3), np.float32), verbose=0,
                  epochs=2, batch_size=3)
        got[L is layers] = (m.output_names, list(h.params.items()))
    assert got[True] == got[False]


@pytest.mark.parametrize("name,kwargs", [("SGD", {}), ("SGD", {"momentum": 0.9}),
                                         ("Adam", {"amsgrad": True}),
                                         ("RMSprop", {"momentum": 0.5, "centered": True}),
                                         ("Nadam", {}), ("Adafactor", {}),
                                         ("Adam", {"use_ema": True}),
                                         ("SGD", {"gradient_accumulation_steps": 2})])
def test_summary_after_fit_counts_the_optimizer_state_like_keras(name, kwargs):
    keras = import_keras()
    got = {}
    for L, Sequential, opts in ((keras.layers, keras.Sequential, keras.optimizers),
                                (layers, pyseq.Sequential, pyseq.optimizers)):
        m = Sequential([L.Input((5,)), L.Dense(3), L.BatchNormalization(), L.Dense(2)])
        m.compile(getattr(opts, name)(**kwargs), "mse")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, YR, verbose=0, epochs=1, batch_size=8)
        calls = []
        m.summary(print_fn=lambda text, *a, **kw: calls.append(text))
        got[L is layers] = [s.strip() for s in calls[0].splitlines() if "params:" in s]
    assert got[True] == got[False]
    assert got[True][-1].startswith("Optimizer params:")


def test_sparse_categorical_accuracy_of_a_one_unit_output_like_keras():
    # (N, 1) labels against a (N, 1) output: Keras squeezes the labels; pyseq compared (N, 1)
    # with (N,) and averaged an N x N table
    keras = import_keras()
    import torch
    from pyseq import metrics
    y_true = RNG.integers(0, 2, (11, 1)).astype(np.float32)
    y_pred = RNG.uniform(0, 1, (11, 1)).astype(np.float32)
    k = keras.metrics.SparseCategoricalAccuracy()
    k.update_state(torch.tensor(y_true), torch.tensor(y_pred))
    p = metrics.SparseCategoricalAccuracy()
    p.update_state(y_true, y_pred)
    assert p.result() == pytest.approx(float(k.result()), rel=1e-6)


def test_targets_in_a_one_item_list_and_missing_targets():
    k, p = _pair(optimizer="sgd", loss="mse", metrics=["mae"])
    _same_history(k, p, X, [YR], batch_size=4, epochs=1, shuffle=False)   # y=[y], as Keras
    # Keras cannot compute its loss without targets; pyseq trained on a zero loss
    for call in (lambda: p.fit(X, epochs=1, verbose=0), lambda: p.evaluate(X, verbose=0),
                 lambda: p.train_on_batch(X), lambda: p.test_on_batch(X)):
        with pytest.raises(ValueError, match="needs targets"):
            call()


@pytest.mark.parametrize("which", ["scheduler", "plateau", "checkpoint"])
def test_callback_messages_match_keras(which, tmp_path, capsys):
    # Keras's schedules see the rate read back from its float32 variable, and its checkpoint
    # says when it has finished saving
    keras = import_keras()
    xv, yv = X[:7] + 0.5, YR[:7] * 2.0
    out = {}
    for k, (L, Sequential, cbs, opts, ext) in enumerate(
            ((keras.layers, keras.Sequential, keras.callbacks, keras.optimizers, ".weights.h5"),
             (layers, pyseq.Sequential, pyseq.callbacks, pyseq.optimizers, ".npz"))):
        m = _dense(L, Sequential)
        if k == 0:
            w = keras_weights(m)
        else:
            m.set_weights(w)
        m.compile(opts.SGD(0.3), "mse")
        folder = tmp_path / str(k)
        cb = {"scheduler": lambda: cbs.LearningRateScheduler(lambda e, lr: lr * 0.9, verbose=1),
              "plateau": lambda: cbs.ReduceLROnPlateau(factor=0.1, patience=1, verbose=1),
              "checkpoint": lambda: cbs.ModelCheckpoint(str(folder / f"m{ext}"), verbose=1,
                                                        save_best_only=True,
                                                        save_weights_only=True)}[which]()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = m.fit(X, YR, batch_size=8, epochs=5, verbose=0, shuffle=False,
                      validation_data=(xv, yv), callbacks=[cb])
        out[k] = (capsys.readouterr().out.replace(str(folder), "D").replace(ext, ""),
                  h.history.get("learning_rate"))
    assert out[1][0] == out[0][0]
    if out[0][1] is not None:
        np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-7)


@pytest.mark.parametrize("name,kwargs", [
    ("R2Score", {}), ("R2Score", {"class_aggregation": None}),
    ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 3}),
    ("F1Score", {}), ("F1Score", {"average": "micro"}),
    ("F1Score", {"average": "weighted", "threshold": 0.4}),
    ("FBetaScore", {"beta": 2.0, "average": "macro"})])
def test_r2_and_f_scores_follow_keras(name, kwargs):
    keras = import_keras()
    import torch
    from pyseq import metrics
    k, p = getattr(keras.metrics, name)(**kwargs), getattr(metrics, name)(**kwargs)
    for step in range(3):
        if name == "R2Score":
            y_true = RNG.standard_normal((7, 3)).astype(np.float32)
            y_pred = (y_true + RNG.standard_normal((7, 3))).astype(np.float32)
        else:
            y_true = RNG.integers(0, 2, (7, 3)).astype(np.float32)
            y_pred = RNG.uniform(0, 1, (7, 3)).astype(np.float32)
        w = RNG.uniform(0, 2, 7).astype(np.float32) if step else None
        k.update_state(torch.tensor(y_true), torch.tensor(y_pred),
                       sample_weight=None if w is None else torch.tensor(w))
        p.update_state(y_true, y_pred, sample_weight=w)
    np.testing.assert_allclose(p.result(), k.result().detach().numpy(), rtol=1e-4, atol=1e-6)


def test_r2_and_f1_by_name_in_compile_like_keras():
    k, p = _pair(out=3, act="sigmoid", optimizer="sgd", loss="binary_crossentropy",
                 metrics=["r2_score", "f1_score"])
    y = RNG.integers(0, 2, (N, 3)).astype(np.float32)
    logs = [m.evaluate(X, y, batch_size=4, verbose=0, return_dict=True) for m in (k, p)]
    assert list(logs[1]) == list(logs[0])
    for key in logs[0]:
        np.testing.assert_allclose(logs[1][key], logs[0][key], rtol=1e-4, atol=1e-6)


_CONFIG_CASES = [
    ("losses", "BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("losses", "CategoricalCrossentropy", {}),
    ("losses", "SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2}),
    ("losses", "Huber", {}), ("metrics", "BinaryAccuracy", {"threshold": 0.3}),
    ("metrics", "AUC", {}), ("metrics", "AUC", {"curve": "PR", "thresholds": [0.2, 0.5]}),
    ("metrics", "Precision", {"thresholds": 0.3, "class_id": 1}), ("metrics", "Recall", {}),
    ("metrics", "SparseTopKCategoricalAccuracy", {"k": 2}), ("metrics", "CosineSimilarity", {}),
    ("metrics", "SparseCategoricalCrossentropy", {}), ("metrics", "F1Score", {"average": "macro"}),
    ("metrics", "R2Score", {}), ("metrics", "MeanSquaredError", {}), ("metrics", "Mean", {})]


@pytest.mark.parametrize("module,name,kwargs", _CONFIG_CASES)
def test_loss_and_metric_configs_match_keras_and_round_trip(module, name, kwargs):
    keras = import_keras()
    ours = getattr(getattr(pyseq, module), name)(**kwargs)
    theirs = getattr(getattr(keras, module), name)(**kwargs)
    config = ours.get_config()
    expected = theirs.get_config()
    config["name"] = expected["name"]       # the unique-name counters differ
    assert list(config) == list(expected)
    for key, value in expected.items():
        got = config[key]
        if isinstance(value, (list, tuple)):
            np.testing.assert_allclose(got, np.asarray(value, np.float64), err_msg=key)
        else:
            assert got == value, key
    again = type(ours).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()


def _dict_model(L, Model, Input):
    b, a = Input((3,), name="b"), Input((4,), name="a")
    zz = L.Dense(2, name="zz")(L.Concatenate(name="cat")([a, b]))
    aa = L.Dense(1, name="aa")(a)
    return Model({"b": b, "a": a}, {"zz": zz, "aa": aa})


def test_dict_models_order_inputs_outputs_and_weights_by_sorted_keys_like_keras():
    # Keras flattens dicts in sorted key order: a model built from {"zz": ..., "aa": ...}
    # lists aa first in its outputs, layers and weights, so get_weights/set_weights move
    # between Keras and pyseq unchanged
    keras = import_keras()
    k = _dict_model(keras.layers, keras.Model, keras.Input)
    p = _dict_model(layers, pyseq.Model, pyseq.Input)
    assert [la.name for la in p.layers] == [la.name for la in k.layers]
    assert [t.shape for t in p.inputs] == [tuple(t.shape) for t in k.inputs]
    assert [t.shape for t in p.outputs] == [tuple(t.shape) for t in k.outputs]
    assert p.output_names == k.output_names
    p.set_weights(keras_weights(k))
    x = {"a": XA["a"], "b": XA["b"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # NumPy 2's __array__ warning inside Keras
        pk = k.predict(x, verbose=0)
    pp = p.predict(x, verbose=0)
    assert list(pp) == list(pk)
    for name in pk:
        np.testing.assert_allclose(pp[name], pk[name], rtol=1e-5, atol=1e-6)
    y = {"zz": YR, "aa": YS[0]}
    for m in (k, p):
        m.compile("adam", {"zz": "mse", "aa": "mae"}, metrics={"aa": ["mse"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hk = k.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0).history
        hp = p.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0).history
    assert list(hp) == list(hk)
    for key in hk:
        np.testing.assert_allclose(hp[key], hk[key], rtol=1e-4, atol=1e-6, err_msg=key)
    # a custom loop's upstream gradients as a dict in any key order
    _, cache = p.forward_for_gradients(x)
    g1 = p.gradients_from(cache, {"zz": np.ones((N, 2), np.float32),
                                  "aa": np.zeros((N, 1), np.float32)})
    g2 = p.gradients_from(cache, {"aa": np.zeros((N, 1), np.float32),
                                  "zz": np.ones((N, 2), np.float32)})
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)


def _keyed_model(L, Model, Input):
    a = Input((4,), name="inp")
    return Model({"x_in": a}, {"score": L.Dense(1, name="d1")(a), "emb": L.Dense(2, name="d2")(a)})


def test_dict_models_take_data_losses_and_logs_by_their_keys_like_keras():
    # Keras keys compile's dicts, the data and the logs by the model's dict keys, not by the
    # layers' names (pyseq refused loss={"score": ...}: "names unknown outputs")
    keras = import_keras()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # Keras advises naming the Input as its key
        k = _keyed_model(keras.layers, keras.Model, keras.Input)
    p = _keyed_model(layers, pyseq.Model, pyseq.Input)
    p.set_weights(keras_weights(k))
    x = {"x_in": XA["a"]}
    y = {"score": YS[0], "emb": YR}
    for m in (k, p):
        m.compile("sgd", {"score": "mse", "emb": "mae"}, metrics={"score": ["mae"]})
    logs = [m.evaluate(x, y, batch_size=4, verbose=0, return_dict=True) for m in (k, p)]
    assert list(logs[1]) == list(logs[0]) == ["emb_loss", "loss", "score_loss", "score_mae"]
    for key in logs[0]:
        np.testing.assert_allclose(logs[1][key], logs[0][key], rtol=1e-5, err_msg=key)
    assert p.output_names == k.output_names == ["d2", "d1"]
    with pytest.raises(ValueError, match="unknown outputs"):
        p.evaluate(x, {"d1": YS[0], "d2": YR}, verbose=0)


@pytest.mark.parametrize("kwargs", [{}, {"from_logits": True, "gamma": 1.5, "alpha": 0.5},
                                    {"label_smoothing": 0.1, "gamma": 0.5},
                                    {"axis": 1, "reduction": "sum"}])
def test_categorical_focal_crossentropy_value_and_gradient_follow_keras(kwargs):
    keras = import_keras()
    import torch
    from pyseq import losses
    shape = (4, 3, 5) if kwargs.get("axis") == 1 else (6, 4)
    classes = np.eye(shape[-1] if kwargs.get("axis") != 1 else 3, dtype=np.float32)
    labels = RNG.integers(0, len(classes), shape[:-1] if kwargs.get("axis") != 1 else (4, 5))
    y_true = classes[labels] if kwargs.get("axis") != 1 else np.moveaxis(classes[labels], -1, 1)
    y_pred = (RNG.standard_normal(shape) if kwargs.get("from_logits") else
              RNG.dirichlet(np.ones(shape[kwargs.get("axis", -1)]),
                            shape[:1] + shape[2:] if kwargs.get("axis") == 1 else shape[:-1]))
    if kwargs.get("axis") == 1 and not kwargs.get("from_logits"):
        y_pred = np.moveaxis(y_pred, -1, 1)
    y_pred = y_pred.astype(np.float32)
    # (Keras cannot broadcast (N,) weights over (N, T) values, so none there)
    sw = None if kwargs.get("axis") == 1 else RNG.uniform(0.2, 2.0, shape[0]).astype(np.float32)
    t = torch.tensor(y_pred, requires_grad=True)
    k = keras.losses.CategoricalFocalCrossentropy(**kwargs)(
        torch.tensor(y_true), t, sample_weight=None if sw is None else torch.tensor(sw))
    k.backward()
    value, grad = losses.CategoricalFocalCrossentropy(**kwargs).value_and_grad(y_true, y_pred, sw)
    assert value == pytest.approx(k.detach().item(), rel=1e-5)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_categorical_focal_crossentropy_by_name_in_fit_like_keras():
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, N)]
    k, p = _pair(out=3, act="softmax", optimizer="adam", loss="categorical_focal_crossentropy",
                 metrics=["accuracy"])
    _same_history(k, p, X, y, batch_size=5, epochs=2, shuffle=False)


@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_focal_crossentropy_gradient_matches_finite_differences(from_logits):
    from layers_helpers import numeric_grad
    from pyseq import losses
    loss = losses.CategoricalFocalCrossentropy(from_logits=from_logits, gamma=1.5,
                                               label_smoothing=0.05)
    y_true = np.eye(4)[RNG.integers(0, 4, 5)]
    y_pred = RNG.standard_normal((5, 4)) if from_logits else RNG.uniform(0.1, 1.0, (5, 4))
    sw = RNG.uniform(0.5, 2.0, 5)
    _, grad = loss.value_and_grad(y_true, y_pred, sw)
    expected = numeric_grad(lambda: loss(y_true, y_pred, sample_weight=sw), y_pred)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


def test_no_loss_to_compute_raises_like_keras():
    # compile() without a loss: Keras refuses to train; pyseq stepped on a zero loss
    m = _dense(layers, pyseq.Sequential)
    m.compile("sgd")
    before = m.get_weights()
    for call in (lambda: m.fit(X, YR, verbose=0), lambda: m.evaluate(X, YR, verbose=0),
                 lambda: m.train_on_batch(X, YR)):
        with pytest.raises(ValueError, match="no loss to compute"):
            call()
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    # the regularization losses alone are a loss, as in Keras
    r = pyseq.Sequential([layers.Input((5,)), layers.Dense(2, kernel_regularizer="l2")])
    r.compile("sgd")
    assert r.fit(X, YR, verbose=0, epochs=1).history["loss"][0] > 0


def test_summary_connections_list_every_tensor_argument_like_keras():
    # mha(t, t) is connected to t twice, and keyword tensors follow in sorted key order
    keras = import_keras()
    got = {}
    for L, Model, Input in ((keras.layers, keras.Model, keras.Input),
                            (layers, pyseq.Model, pyseq.Input)):
        x, q = Input((5, 3), name="x"), Input((2, 3), name="q")
        t = L.Dense(3, name="t")(x)
        a = L.MultiHeadAttention(2, 3, name="self_mha")(t, t)
        b = L.MultiHeadAttention(2, 3, name="cross_mha")(q, value=a, key=x)
        m = Model([x, q], b)
        calls = []
        m.summary(print_fn=lambda text, *args, **kw: calls.append(text))
        rows = [[c.strip() for c in line.strip("\u2502").split("\u2502")]
                for line in calls[0].splitlines() if line.startswith("\u2502")]
        # Keras wraps long cells onto more lines: join each layer's connections
        conns = {}
        name = None
        for row in rows:
            if row[0] and not row[0].startswith("("):
                name = row[0].split(" ")[0]
            conns[name] = (conns.get(name, "") + " " + row[3]).strip()
        got[L is layers] = conns
    assert got[True] == got[False]


_HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
          "on_predict_batch_begin", "on_predict_batch_end"]


def _recorder(base):
    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.seen = []

    def hook(name):
        def record(self, *args, logs=None):
            logs = args[-1] if args and isinstance(args[-1], dict) else logs
            self.seen.append((name,) + tuple(a for a in args if not isinstance(a, dict)) +
                             ((sorted(logs) if isinstance(logs, dict) else None),))
        return record
    for name in _HOOKS:
        setattr(Recorder, name, hook(name))
    return Recorder()


def test_evaluate_predict_and_validation_call_test_and_predict_hooks_like_keras():
    # pyseq's evaluate and predict ignored their callbacks, and fit's validation called none
    keras = import_keras()
    seen = {}
    for L, Sequential, cbs in ((keras.layers, keras.Sequential, keras.callbacks),
                               (layers, pyseq.Sequential, pyseq.callbacks)):
        m = _dense(L, Sequential)
        m.compile("sgd", "mse", metrics=["mae"])
        runs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = _recorder(cbs.Callback)
            m.fit(X[:7], YR[:7], batch_size=4, epochs=1, verbose=0,
                  validation_data=(X[:7], YR[:7]), validation_batch_size=5, callbacks=[r])
            runs.append(r.seen)
            r = _recorder(cbs.Callback)
            m.evaluate(X[:7], YR[:7], batch_size=4, verbose=0, callbacks=[r])
            runs.append(r.seen + [r.params])
            r = _recorder(cbs.Callback)
            m.predict(X[:7], batch_size=4, verbose=0, callbacks=[r])
            runs.append(r.seen + [r.params])
        seen[L is layers] = runs
    assert seen[True] == seen[False]
