"""Regularizers: Keras 3's penalties in closed form and their gradients, get/config, errors; in
layers and models: layer.losses, the penalised loss of fit/evaluate/compute_gradients against
float64 finite differences, the custom loop, and Keras's fit with the same weights."""

import numpy as np
import pytest

import pyseq
from layers_helpers import import_keras, keras_weights, numeric_grad, to_numpy
from pyseq import Input, Model, Sequential, layers
from pyseq import regularizers as R

pytestmark = pytest.mark.filterwarnings(  # keras 3.15's Variable.numpy() under NumPy 2
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

RNG = np.random.default_rng(11)
F64 = dict(dtype="float64")


def randn(*shape):
    return RNG.standard_normal(shape)


def _orthogonal_by_pairs(x, factor, mode):
    """Keras's OrthogonalRegularizer written pair by pair: factor * mean |cos(v_i, v_j)| over
    the pairs i < j (Keras's 0.5 * sum over i != j / the number of pairs)."""
    vs = x if mode == "rows" else x.T
    cos = [abs(vs[i] @ vs[j]) / (np.linalg.norm(vs[i]) * np.linalg.norm(vs[j]))
           for i in range(len(vs)) for j in range(i + 1, len(vs))]
    return factor * np.mean(cos)


# -- penalties and gradients --------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4)])
def test_l1_l2_closed_forms(shape):
    x = randn(*shape)
    assert R.L1(0.3)(x) == pytest.approx(0.3 * np.abs(x).sum(), rel=1e-12)
    assert R.L2(0.3)(x) == pytest.approx(0.3 * (x ** 2).sum(), rel=1e-12)  # no 1/2
    assert R.L1L2(0.1, 0.2)(x) == pytest.approx(0.1 * np.abs(x).sum() + 0.2 * (x ** 2).sum(),
                                                 rel=1e-12)
    assert R.L1L2()(x) == 0 and R.Regularizer()(x) == 0
    assert R.L2()(np.ones((5, 5))) == pytest.approx(0.25)  # default 0.01
    assert R.L2(2.0)(np.ones((5, 5), np.float32)).dtype == np.float32


@pytest.mark.parametrize("mode", ["rows", "columns"])
@pytest.mark.parametrize("shape", [(2, 3), (4, 3), (5, 5)])
def test_orthogonal_closed_form(mode, shape):
    x = randn(*shape)
    assert R.OrthogonalRegularizer(0.2, mode)(x) == pytest.approx(
        _orthogonal_by_pairs(x, 0.2, mode), rel=1e-12)
    q, _ = np.linalg.qr(randn(5, 5))
    assert R.OrthogonalRegularizer(1.0, "columns")(q) == pytest.approx(0, abs=1e-12)
    assert R.OrthogonalRegularizer(0.5, "rows")(np.ones((3, 2))) == pytest.approx(0.5)
    assert R.OrthogonalRegularizer(1.0, mode)(np.ones((1, 1))) == 0  # no pairs (Keras: NaN)


@pytest.mark.parametrize("reg", [R.L1(0.3), R.L2(0.7), R.L1L2(0.2, 0.5),
                                 R.OrthogonalRegularizer(0.4, "rows"),
                                 R.OrthogonalRegularizer(0.4, "columns"), R.Regularizer()],
                         ids=lambda r: repr(r))
def test_gradients_against_finite_differences(reg):
    x = randn(4, 3)
    x[np.abs(x) < 0.05] = 0.3  # keep |x| differentiable where the differences probe it
    expected = numeric_grad(lambda: float(reg(x)), x)
    np.testing.assert_allclose(reg.gradient(x), expected, rtol=1e-6, atol=1e-8)


def test_gradient_of_a_vanishing_row():
    # Keras normalises by max(norm, 1e-7): below that the penalty is linear in the row
    x = randn(3, 4)
    x[1] = 1e-9 * np.array([1.0, -2.0, 0.5, 1.5])
    reg = R.OrthogonalRegularizer(1.0)
    g = reg.gradient(x)
    expected = numeric_grad(lambda: float(reg(x)), x, eps=1e-12)
    np.testing.assert_allclose(g[1], expected[1], rtol=1e-4)
    assert np.abs(g[1]).max() > 1e5  # the 1/eps slope


def test_penalties_and_gradients_match_keras_autograd():
    keras = import_keras()
    import torch
    x = randn(5, 4)
    x[2] = 1e-9  # a row below Keras's 1e-7 normalisation floor
    pairs = [(R.L1(0.3), keras.regularizers.L1(0.3)), (R.L2(0.7), keras.regularizers.L2(0.7)),
             (R.L1L2(0.2, 0.5), keras.regularizers.L1L2(0.2, 0.5))]
    for mode in ("rows", "columns"):  # 0.5: Keras keeps the factor as a float32 tensor
        pairs.append((R.OrthogonalRegularizer(0.5, mode),
                      keras.regularizers.OrthogonalRegularizer(0.5, mode)))
    for ours, theirs in pairs:
        t = torch.tensor(x, requires_grad=True)
        value = theirs(t)
        value.backward()
        assert float(ours(x)) == pytest.approx(value.item(), rel=1e-6), ours
        # scale-aware per row (the tiny row's gradient is ~1e6): Keras's torch path rounds at
        # ~1e-8 of the row's scale; ours matches float64 finite differences (test above)
        expected = t.grad.numpy()
        scale = np.abs(expected).max(axis=1, keepdims=True)
        err = np.abs(ours.gradient(x) - expected)
        assert np.all(err <= 1e-6 * np.abs(expected) + 1e-7 * scale), (ours, err / scale)


# -- get, aliases, config -----------------------------------------------------------------------
def test_get_names_dicts_classes_instances_callables():
    assert type(R.get("l1")) is R.L1 and R.get("l1").l1 == 0.01
    assert type(R.get("L2")) is R.L2 and R.get("l2").l2 == 0.01
    assert R.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}  # the string Keras documents
    assert R.get("L1L2").get_config() == {"l1": 0.0, "l2": 0.0} == R.get("l1l2").get_config()
    assert R.get("orthogonal_regularizer").get_config() == {"factor": 0.01, "mode": "rows"}
    assert R.get(None) is None
    reg = R.L2(0.5)
    assert R.get(reg) is reg
    assert type(R.get(R.L1)) is R.L1
    fn = lambda w: 0.0  # noqa: E731
    assert R.get(fn) is fn
    assert R.l1 is R.L1 and R.l2 is R.L2 and R.l1_l2 is R.L1L2
    assert R.orthogonal_regularizer is R.OrthogonalRegularizer
    for reg in (R.L1(0.2), R.L2(0.3), R.L1L2(0.1, 0.4), R.OrthogonalRegularizer(0.5, "columns")):
        again = type(reg).from_config(reg.get_config())
        assert again.get_config() == reg.get_config()
        config = R.serialize(reg)
        assert config == {"module": "keras.regularizers", "class_name": type(reg).__name__,
                          "config": reg.get_config(), "registered_name": None}
        assert R.get(config).get_config() == reg.get_config()
    assert R.get({"class_name": "L2", "config": {"l2": 0.3}}).l2 == 0.3


def test_bad_arguments_name_the_regularizer():
    with pytest.raises(ValueError, match=r"\[L2\] l2 must be a non-negative"):
        R.L2(-1)
    with pytest.raises(ValueError, match=r"\[L1L2\] l1 must be a non-negative finite"):
        R.L1L2(l1=float("nan"))
    with pytest.raises(TypeError, match=r"\[L1\] l1 must be a non-negative number"):
        R.L1("big")
    with pytest.raises(ValueError, match=r"\[OrthogonalRegularizer\] mode must be"):
        R.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ValueError, match=r"\[OrthogonalRegularizer\] expects a 2-D array"):
        R.OrthogonalRegularizer()(np.ones((2, 3, 4)))
    with pytest.raises(TypeError, match=r"\[L2\] expects a float array"):
        R.L2()(np.ones(3, int))
    with pytest.raises(ValueError, match=r"\[regularizers.get\] unknown regularizer 'l3'"):
        R.get("l3")
    with pytest.raises(TypeError, match=r"\[regularizers.get\] expects a name"):
        R.get(5)
    with pytest.raises(TypeError, match=r"must subclass Regularizer"):
        R.get(dict)
    with pytest.raises(ValueError, match=r"unknown regularizer 'L9'"):
        R.get({"class_name": "L9", "config": {}})
    with pytest.raises(ValueError, match=r"\[Dense\] kernel_regularizer: .*unknown regularizer"):
        layers.Dense(3, kernel_regularizer="l3")
    with pytest.raises(TypeError, match=r"\[LSTM\] recurrent_regularizer: .*expects a name"):
        layers.LSTM(3, recurrent_regularizer=0.01)
    with pytest.raises(ValueError, match=r"\[Embedding\] embeddings_regularizer"):
        layers.Embedding(5, 3, embeddings_regularizer="nope")
    with pytest.raises(ValueError, match=r"\[Conv1D\] activity_regularizer"):
        layers.Conv1D(2, 3, activity_regularizer="nope")
    with pytest.raises(TypeError, match=r"\[Dense\] unexpected argument\(s\): gamma_regularizer"):
        layers.Dense(3, gamma_regularizer="l2")


# -- layers store them ------------------------------------------------------------------------
LAYERS = [
    (lambda **kw: layers.Dense(3, **kw), ("kernel", "bias"), (5, 4)),
    (lambda **kw: layers.Embedding(6, 3, **kw), ("embeddings",), None),
    (lambda **kw: layers.SimpleRNN(3, **kw), ("kernel", "recurrent", "bias"), (2, 5, 4)),
    (lambda **kw: layers.LSTM(3, **kw), ("kernel", "recurrent", "bias"), (2, 5, 4)),
    (lambda **kw: layers.GRU(3, **kw), ("kernel", "recurrent", "bias"), (2, 5, 4)),
    (lambda **kw: layers.Conv1D(3, 2, **kw), ("kernel", "bias"), (2, 5, 4)),
    (lambda **kw: layers.LayerNormalization(**kw), ("beta", "gamma"), (2, 5, 4)),
    (lambda **kw: layers.BatchNormalization(**kw), ("beta", "gamma"), (2, 5, 4)),
]


@pytest.mark.parametrize("make, names, shape", LAYERS)
def test_layers_store_regularizers_and_constraints(make, names, shape):
    kw = {f"{n}_regularizer": R.L2(0.1 * (i + 1)) for i, n in enumerate(names)}
    kw.update({f"{n}_constraint": "non_neg" for n in names})
    layer = make(**kw, activity_regularizer="l1")
    x = RNG.integers(0, 6, (2, 5)) if shape is None else randn(*shape).astype("float32")
    layer(x)
    config = layer.get_config()
    assert config["activity_regularizer"]["class_name"] == "L1"
    for i, n in enumerate(names):
        assert config[f"{n}_regularizer"] == R.serialize(kw[f"{n}_regularizer"])
        assert config[f"{n}_constraint"]["class_name"] == "NonNeg"
    regularized = [v for v in layer.trainable_weights if v.regularizer is not None]
    assert len(regularized) == len(names) and all(v.constraint for v in regularized)
    # the activity penalty of the call, then one penalty per regularized weight
    assert len(layer.losses) == 1 + len(names)
    # the serialized forms are valid arguments again
    options = {k: v for k, v in config.items() if "regularizer" in k or "constraint" in k}
    assert {k: v for k, v in make(**options).get_config().items() if k in options} == options


def test_multi_head_attention_and_bidirectional_store_them():
    mha = layers.MultiHeadAttention(2, 3, kernel_regularizer="l2", bias_regularizer="l1",
                                    activity_regularizer="l2", kernel_constraint="max_norm")
    q = randn(2, 4, 5).astype("float32")
    mha(q, q)
    assert mha.activity_regularizer is None  # Keras hands it to the four projections
    assert mha.get_config()["activity_regularizer"]["class_name"] == "L2"
    assert len(mha.losses) == 4 + 8  # Q, K, V, output; 4 kernels + 4 biases
    assert all(v.constraint is not None for v in mha.weights if "kernel" in v.name)
    custom = lambda w: 0.5  # noqa: E731
    bi = layers.Bidirectional(layers.LSTM(3, kernel_regularizer=custom,
                                          activity_regularizer="l1"), activity_regularizer="l2")
    bi(q)
    assert bi.forward_layer.kernel_regularizer is custom  # a function survives the clone
    assert bi.backward_layer.activity_regularizer.get_config() == {"l1": 0.01}
    # Bidirectional's own, then each direction's (Keras's order), then the two kernels
    assert len(bi.losses) == 1 + 2 + 2


def test_layer_configs_match_keras():
    keras = import_keras()

    def both(name, *args, kw):
        ours = getattr(layers, name)(*args, **kw(R, pyseq.constraints)).get_config()
        theirs = getattr(keras.layers, name)(
            *args, **kw(keras.regularizers, keras.constraints)).get_config()
        for key in theirs:
            if "regularizer" in key or "constraint" in key:
                assert key in ours, (name, key)
                a, b = ours[key], theirs[key]
                if a is None or b is None:
                    assert a is b, (name, key)
                    continue
                assert a["class_name"] == b["class_name"] and a["module"] == b["module"]
                assert a["config"] == pytest.approx(b["config"], rel=1e-6), (name, key)
        assert {k for k in ours if "regulariz" in k or "constraint" in k} == \
            {k for k in theirs if "regulariz" in k or "constraint" in k}, name

    both("Dense", 3, kw=lambda reg, con: dict(
        kernel_regularizer=reg.l2(1e-4), activity_regularizer="l1",
        kernel_constraint=con.max_norm(3), bias_regularizer=reg.L1L2(0.1, 0.2)))
    both("Dense", 3, kw=lambda reg, con: {})
    both("LSTM", 3, kw=lambda reg, con: dict(
        recurrent_regularizer="l1l2", bias_constraint="non_neg",
        kernel_constraint=con.MinMaxNorm(0.1, 2.0, 0.5, axis=[0, 1])))
    both("GRU", 3, kw=lambda reg, con: dict(kernel_regularizer="orthogonal_regularizer"))
    both("Conv1D", 3, 2, kw=lambda reg, con: dict(bias_regularizer="l2",
                                                  kernel_constraint="unit_norm"))
    both("Embedding", 5, 3, kw=lambda reg, con: dict(embeddings_regularizer="l2",
                                                     embeddings_constraint="non_neg"))
    both("LayerNormalization", kw=lambda reg, con: dict(gamma_regularizer="l2",
                                                        beta_constraint="max_norm"))
    both("BatchNormalization", kw=lambda reg, con: dict(beta_regularizer="l1"))
    both("MultiHeadAttention", 2, 3, kw=lambda reg, con: dict(activity_regularizer="l2",
                                                              bias_constraint="non_neg"))


# -- layer.losses -------------------------------------------------------------------------------
def test_layer_losses_follow_keras_docstring_example():
    layer = layers.Dense(5, input_dim=5, kernel_initializer="ones", kernel_regularizer=R.L1(0.01),
                         activity_regularizer=R.L2(0.01))
    assert layer.losses == []
    layer(np.ones((5, 5), np.float32) * 2.0)
    # the kernel's 0.25 and the activity's 5.0 (output 20 everywhere, / batch size 5)
    assert sum(layer.losses) == pytest.approx(5.25)
    layer(np.ones((10, 5), np.float32))  # a new call replaces the activity loss
    assert layer.losses[0] == pytest.approx(0.01 * 5 ** 2 * 10 * 5 / 10)  # outputs are 5
    layer.trainable = False  # Keras: only trainable weights are regularized
    assert len(layer.losses) == 1


def test_shared_layer_reports_each_call():
    dense = layers.Dense(2, activity_regularizer="l2", **F64)
    a, b = Input((3,), **F64), Input((3,), **F64)
    model = Model([a, b], layers.Add(**F64)([dense(a), dense(b)]))
    xa, xb = randn(4, 3), randn(4, 3)
    model.predict([xa, xb], verbose=0)
    W, bias = dense.kernel.value, dense.bias.value
    expected = [0.01 * np.sum((x @ W + bias) ** 2) / 4 for x in (xa, xb)]
    np.testing.assert_allclose(model.losses, expected, rtol=1e-12)


# -- the penalised loss and its gradients ---------------------------------------------------------
def _dense_model():
    inp = Input((4,), **F64)
    out = layers.Dense(3, kernel_regularizer=R.L2(0.3), bias_regularizer=R.L1(0.2),
                       activity_regularizer=R.L1L2(0.1, 0.05), **F64)(inp)
    model = Model(inp, out)
    model.layers[1].bias.assign(randn(3))
    model.compile(pyseq.optimizers.SGD(0.1), "mse")
    return model


def test_loss_is_the_compiled_loss_plus_the_penalties():
    model = _dense_model()
    x, y = randn(6, 4), randn(6, 3)
    W, b = (v.value.copy() for v in model.layers[1].weights)
    out = x @ W + b
    expected = (np.mean((out - y) ** 2) + 0.3 * np.sum(W ** 2) + 0.2 * np.sum(np.abs(b))
                + (0.1 * np.abs(out).sum() + 0.05 * (out ** 2).sum()) / 6)
    loss, _ = model.compute_gradients(x, y)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-12)
    assert model.test_on_batch(x, y) == pytest.approx(expected, rel=1e-12)
    assert model.train_on_batch(x, y) == pytest.approx(expected, rel=1e-12)  # before the update


def _check_penalised_gradients(model, x, y, limit=5):
    loss, grads = model.compute_gradients(x, y, training=False)
    f = lambda: model.compute_gradients(x, y, training=False)[0]  # noqa: E731
    for var, g in zip(model.trainable_weights, grads):
        flat = var.value.reshape(-1)
        idx = RNG.choice(flat.size, min(limit, flat.size), replace=False)
        for i in idx:
            old = flat[i]
            flat[i] = old + 1e-6
            fp = f()
            flat[i] = old - 1e-6
            fm = f()
            flat[i] = old
            expected = (fp - fm) / 2e-6
            assert g.reshape(-1)[i] == pytest.approx(expected, rel=1e-5, abs=1e-7), \
                (var.name, i)


def test_penalised_gradients_of_a_sequence_model():
    inp = Input((6, 3), **F64)
    h = layers.LSTM(4, kernel_regularizer=R.L2(0.05), recurrent_regularizer=R.L1(0.02),
                    bias_regularizer=R.L1L2(0.01, 0.03), activity_regularizer=R.L2(0.1),
                    return_sequences=True, **F64)(inp)
    h = layers.Conv1D(4, 3, kernel_regularizer=R.L2(0.1), activity_regularizer=R.L1(0.05),
                      **F64)(h)
    h = layers.Bidirectional(layers.GRU(3, recurrent_regularizer=R.L2(0.2),
                                        activity_regularizer=R.L2(0.3), **F64),
                             activity_regularizer=R.L1(0.1))(h)
    out = layers.Dense(3, activation="softmax", kernel_regularizer=R.OrthogonalRegularizer(0.4),
                       activity_regularizer=R.L2(0.2), **F64)(h)
    model = Model(inp, out)
    for v in model.trainable_weights:  # no weight at a kink of |w|
        v.assign(v.value + 0.05 * np.sign(v.value + 1e-3))
    model.compile("sgd", "sparse_categorical_crossentropy")
    _check_penalised_gradients(model, randn(5, 6, 3), RNG.integers(0, 3, 5))


def test_penalised_gradients_of_embedding_attention_normalization():
    inp = Input((5,), dtype="int32")
    e = layers.Embedding(7, 4, embeddings_regularizer=R.L2(0.1), activity_regularizer=R.L1(0.1),
                         **F64)(inp)
    a = layers.MultiHeadAttention(2, 3, kernel_regularizer=R.L2(0.05), bias_regularizer=R.L1(0.1),
                                  activity_regularizer=R.L2(0.02), **F64)(e, e)
    n = layers.LayerNormalization(gamma_regularizer=R.L2(0.3), beta_regularizer=R.L1(0.2),
                                  activity_regularizer=R.L2(0.05), **F64)(a)
    out = layers.LSTM(2, bias_regularizer=R.L2(0.1), **F64)(n)
    model = Model(inp, out)
    for v in model.trainable_weights:
        v.assign(v.value + 0.05 * np.sign(v.value + 1e-3))
    model.compile("sgd", "mse")
    _check_penalised_gradients(model, RNG.integers(0, 7, (4, 5)), randn(4, 2), limit=4)


def test_folded_embedding_keeps_its_weight_penalty():
    # An Embedding feeding an LSTM is folded into it (no gathered rows); its table's penalty
    # and gradient do not depend on that.
    inp = Input((12,), dtype="int32")
    out = layers.LSTM(2, **F64)(layers.Embedding(3, 4, embeddings_regularizer=R.L2(0.5),
                                                 **F64)(inp))
    model = Model(inp, out)
    model.compile("sgd", "mse")
    _check_penalised_gradients(model, RNG.integers(0, 3, (4, 12)), randn(4, 2))


def test_custom_loop_gets_penalties_and_their_gradients():
    model = _dense_model()
    x, y = randn(6, 4), randn(6, 3)
    out, cache = model.forward_for_gradients(x, training=False)
    penalty = float(sum(model.losses))
    d_out = 2 * (out - y) / out.size  # mse
    grads = model.gradients_from(cache, d_out)
    loss, expected = model.compute_gradients(x, y, training=False)
    assert np.mean((out - y) ** 2) + penalty == pytest.approx(loss, rel=1e-12)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    pyseq.optimizers.SGD(0.1).apply(grads, model.trainable_weights)


def test_custom_regularizers():
    class Cubic(R.Regularizer):
        def __call__(self, x):
            return np.sum(x ** 3)

        def gradient(self, x):
            return 3 * x ** 2

    class NoGradient(R.Regularizer):
        def __call__(self, x):
            return np.sum(x ** 4)

    inp = Input((3,), **F64)
    model = Model(inp, layers.Dense(2, kernel_regularizer=Cubic(), **F64)(inp))
    model.compile("sgd", "mse")
    _check_penalised_gradients(model, randn(4, 3), randn(4, 2))
    for reg in (lambda w: float(np.sum(w ** 4)), NoGradient()):
        inp = Input((3,), **F64)
        model = Model(inp, layers.Dense(2, kernel_regularizer=reg, **F64)(inp))
        model.compile("sgd", "mse")
        x, y = randn(4, 3), randn(4, 2)
        W = model.layers[1].kernel.value
        loss = model.evaluate(x, y, verbose=0)  # the value needs no gradient
        assert loss == pytest.approx(np.mean((x @ W - y) ** 2) + np.sum(W ** 4), rel=1e-12)
        with pytest.raises(TypeError, match=r"\[dense_\d+/kernel\] .*gradient"):
            model.train_on_batch(x, y)


# -- Keras ----------------------------------------------------------------------------------------
def _sequence_model(L, I, M, reg, con):
    inp = I((7, 3))
    h = L.LSTM(5, kernel_regularizer=reg.L2(0.01), recurrent_regularizer=reg.L1(0.01),
               bias_regularizer=reg.L1L2(0.01, 0.02), activity_regularizer=reg.L2(0.05),
               kernel_constraint=con.MaxNorm(0.6), return_sequences=True)(inp)
    h = L.Conv1D(4, 3, kernel_regularizer=reg.L2(0.01), activity_regularizer=reg.L1(0.01),
                 bias_constraint=con.NonNeg())(h)
    h = L.Bidirectional(L.GRU(3, recurrent_regularizer=reg.L2(0.02),
                              activity_regularizer=reg.L1(0.01),
                              recurrent_constraint=con.UnitNorm()))(h)
    out = L.Dense(2, kernel_regularizer=reg.OrthogonalRegularizer(0.1),
                  activity_regularizer=reg.L2(0.1),
                  kernel_constraint=con.MinMaxNorm(0.2, 0.5, 0.7))(h)
    return M(inp, out)


def _attention_model(L, I, M, reg, con):
    inp = I((6,), dtype="int32")
    e = L.Embedding(9, 4, embeddings_regularizer=reg.L2(0.01), activity_regularizer=reg.L1(0.01),
                    embeddings_constraint=con.MaxNorm(0.2, axis=1))(inp)
    a = L.MultiHeadAttention(2, 3, kernel_regularizer=reg.L2(0.02), bias_regularizer=reg.L1(0.01),
                             activity_regularizer=reg.L2(0.01),
                             kernel_constraint=con.MaxNorm(0.5))(e, e)
    n = L.LayerNormalization(gamma_regularizer=reg.L2(0.1), beta_constraint=con.NonNeg())(a + e)
    pooled = L.GlobalAveragePooling1D()(n)
    out = L.Dense(3, activation="softmax", activity_regularizer=reg.L2(0.1))(pooled)
    return M(inp, out)


@pytest.mark.parametrize("build, kind", [(_sequence_model, "seq"), (_attention_model, "int")])
def test_fit_and_evaluate_follow_keras(build, kind):
    keras = import_keras()
    k = build(keras.layers, keras.Input, keras.Model, keras.regularizers, keras.constraints)
    p = build(layers, Input, Model, R, pyseq.constraints)
    p.set_weights(keras_weights(k))
    rng = np.random.default_rng(3)
    if kind == "seq":
        x = rng.standard_normal((20, 7, 3)).astype(np.float32)
        y, loss = rng.standard_normal((20, 2)).astype(np.float32), "mse"
    else:
        x = rng.integers(0, 9, (20, 6)).astype(np.int32)
        y, loss = rng.integers(0, 3, 20), "sparse_categorical_crossentropy"
    # SGD: Adam's normalised steps would magnify float32 rounding into the weights
    k.compile(keras.optimizers.SGD(0.3), loss)
    p.compile(pyseq.optimizers.SGD(0.3), loss)
    kh = k.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    ph = p.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(ph["loss"], kh["loss"], rtol=1e-5)
    for ours, theirs in zip(p.weights, k.weights):
        np.testing.assert_allclose(ours.value, to_numpy(theirs.value), rtol=1e-5, atol=2e-6,
                                   err_msg=ours.name)
    assert p.evaluate(x, y, verbose=0) == pytest.approx(k.evaluate(x, y, verbose=0), rel=1e-5)
    # model.losses after a call: the same penalties in Keras's order
    k(x[:5])
    p.predict(x[:5], verbose=0)
    np.testing.assert_allclose([float(v) for v in p.losses],
                               [float(to_numpy(v)) for v in k.losses], rtol=1e-4, atol=1e-8)


def test_sequential_with_regularizers_trains():
    model = Sequential([Input((4,)), layers.Dense(8, activation="tanh", kernel_regularizer="l2"),
                        layers.Dense(1, activity_regularizer="l1")])
    model.compile(pyseq.optimizers.SGD(0.05), "mse")
    x = randn(32, 4).astype(np.float32)
    y = (x[:, :1] * 2).astype(np.float32)
    h = model.fit(x, y, epochs=5, batch_size=8, verbose=0).history["loss"]
    assert h[-1] < h[0]
    assert len(model.losses) == 2


@pytest.mark.parametrize("name, args, kw, shape", [
    ("LSTM", (2,), dict(return_state=True, kernel_regularizer="l1"), (4, 5, 3)),
    ("GRU", (3,), dict(return_sequences=True, recurrent_regularizer="l2"), (4, 5, 3)),
    ("SimpleRNN", (3,), dict(bias_regularizer="l2"), (4, 5, 3)),
    ("Conv1D", (2, 3), dict(kernel_regularizer="l1", bias_regularizer="l2"), (4, 5, 3)),
    ("Embedding", (6, 3), dict(embeddings_regularizer="l1"), None),
])
def test_eager_layer_losses_follow_keras(name, args, kw, shape):
    # an eager call: the activity penalty of every output (states too), then the weights'
    keras = import_keras()
    rng = np.random.default_rng(4)
    x = rng.integers(0, 6, (4, 5)) if shape is None else rng.standard_normal(shape).astype(
        np.float32)
    k = getattr(keras.layers, name)(*args, activity_regularizer="l2", **kw)
    p = getattr(layers, name)(*args, activity_regularizer="l2", **kw)
    k(x)
    p(x)
    p.set_weights([w + 0.1 for w in keras_weights(k)])  # biases away from 0
    for v, w in zip(k.weights, p.get_weights()):
        v.assign(w)
    k(x)
    out = p(x)
    ours = [float(v) for v in p.losses]
    if name == "SimpleRNN":
        # Keras 3.15's SimpleRNN takes activity_regularizer and drops it (passes it neither to
        # its cell nor to RNN); pyseq applies it, as Keras documents
        assert ours[0] == pytest.approx(0.01 * np.sum(np.square(out)) / 4, rel=1e-5)
        ours = ours[1:]
    np.testing.assert_allclose(ours, [float(to_numpy(v)) for v in k.losses], rtol=1e-5)
