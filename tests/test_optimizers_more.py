"""Adagrad, Adadelta, Adamax, Nadam, Lion, Ftrl, Adafactor and the base options (gradient
accumulation, EMA, clipping, weight decay, schedules): closed-form first steps, trajectories
against float64 references written here from the published rules, Keras 3 on the same
gradients, config round trips and bad arguments."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layers_helpers import import_keras, to_numpy
from pyseq import optimizers
from pyseq.layers import Variable
from pyseq.optimizers import schedules

NEW = ["Adagrad", "Adadelta", "Adamax", "Nadam", "Lion", "Ftrl", "Adafactor"]
ALL = ["SGD", "RMSprop", "Adam", "AdamW"] + NEW


# -- float64 references: one function per rule, state in a dict, written from the formulas ----
def ref_adagrad(w, gs, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    acc = np.full_like(w, initial_accumulator_value)
    for g in gs:
        acc = acc + g * g
        w = w - learning_rate * g / np.sqrt(acc + epsilon)
    return w


def ref_adadelta(w, gs, learning_rate=0.001, rho=0.95, epsilon=1e-7):
    eg, ex = np.zeros_like(w), np.zeros_like(w)
    for g in gs:
        eg = rho * eg + (1 - rho) * g * g
        dx = -np.sqrt(ex + epsilon) / np.sqrt(eg + epsilon) * g
        ex = rho * ex + (1 - rho) * dx * dx
        w = w + learning_rate * dx
    return w


def ref_adamax(w, gs, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m, u = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(gs, 1):
        m = beta_1 * m + (1 - beta_1) * g
        u = np.maximum(beta_2 * u, np.abs(g))
        w = w - learning_rate / (1 - beta_1 ** t) * m / (u + epsilon)
    return w


def ref_nadam(w, gs, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m, v, prod = np.zeros_like(w), np.zeros_like(w), 1.0
    mu = [beta_1 * (1 - 0.5 * 0.96 ** t) for t in range(len(gs) + 2)]
    for t, g in enumerate(gs, 1):
        prod *= mu[t]
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        m_hat = mu[t + 1] * m / (1 - prod * mu[t + 1]) + (1 - mu[t]) * g / (1 - prod)
        w = w - learning_rate * m_hat / (np.sqrt(v / (1 - beta_2 ** t)) + epsilon)
    return w


def ref_lion(w, gs, learning_rate=0.001, beta_1=0.9, beta_2=0.99):
    m = np.zeros_like(w)
    for g in gs:
        w = w - learning_rate * np.sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g
    return w


def ref_ftrl(w, gs, learning_rate=0.001, learning_rate_power=-0.5,
             initial_accumulator_value=0.1, l1_regularization_strength=0.0,
             l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
             beta=0.0):
    n = np.full_like(w, initial_accumulator_value)
    z = np.zeros_like(w)
    p = -learning_rate_power
    for g in gs:
        n_new = n + g * g
        sigma = (n_new ** p - n ** p) / learning_rate
        z = z + g + 2 * l2_shrinkage_regularization_strength * w - sigma * w
        denom = n_new ** p / learning_rate + 2 * l2_regularization_strength + \
            beta / learning_rate
        l1 = l1_regularization_strength
        w = np.where(np.abs(z) <= l1, 0.0, -(z - np.sign(z) * l1) / denom)
        n = n_new
    return w


def ref_adafactor(w, gs, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30,
                  epsilon_2=1e-3, clip_threshold=1.0, relative_step=True):
    rms = lambda x: math.sqrt(float(np.mean(x * x)))  # noqa: E731
    r = c = v = None
    for t, g in enumerate(gs, 1):
        step = min(learning_rate, 1 / math.sqrt(t)) * max(epsilon_2, rms(w))
        b = 1 - t ** beta_2_decay
        sq = g * g + epsilon_1
        if w.ndim >= 2:
            r = (1 - b) * sq.mean(-1) if r is None else b * r + (1 - b) * sq.mean(-1)
            c = (1 - b) * sq.mean(-2) if c is None else b * c + (1 - b) * sq.mean(-2)
            v = np.einsum("...i,...j->...ij", r / r.mean(-1, keepdims=True), c)
        else:
            v = (1 - b) * sq if v is None else b * v + (1 - b) * sq
        u = g / np.sqrt(v)
        w = w - step * u / max(1.0, rms(u) / clip_threshold)
    return w


REFS = {"Adagrad": ref_adagrad, "Adadelta": ref_adadelta, "Adamax": ref_adamax,
        "Nadam": ref_nadam, "Lion": ref_lion, "Ftrl": ref_ftrl, "Adafactor": ref_adafactor}

OPTIONS = {
    "Adagrad": [{}, {"learning_rate": 0.3, "initial_accumulator_value": 0.0, "epsilon": 1e-3}],
    "Adadelta": [{}, {"learning_rate": 1.0, "rho": 0.7, "epsilon": 1e-4}],
    "Adamax": [{}, {"learning_rate": 0.05, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 1e-3}],
    "Nadam": [{}, {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-4}],
    "Lion": [{}, {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.9}],
    "Ftrl": [{}, {"learning_rate": 0.2, "learning_rate_power": -0.7,
                  "initial_accumulator_value": 0.5, "l1_regularization_strength": 0.05,
                  "l2_regularization_strength": 0.1,
                  "l2_shrinkage_regularization_strength": 0.05, "beta": 0.3}],
    "Adafactor": [{}, {"learning_rate": 0.1, "beta_2_decay": -0.5, "epsilon_2": 0.05,
                       "clip_threshold": 0.5, "relative_step": False}],
}
SHAPES = [(5,), (3, 4), (2, 3, 5), (1, 1)]
RNG = np.random.default_rng(11)


def _trajectory(opt, init, grads):
    vs = [Variable(w.copy(), f"v{i}") for i, w in enumerate(init)]
    for step in grads:
        opt.apply([g.copy() for g in step], vs)
    return [v.value for v in vs]


def _data(dtype, steps=6, shapes=SHAPES, rng=RNG):
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return init, grads


def _tol(dtype):
    return (1e-12, 1e-12) if dtype == np.float64 else (2e-5, 5e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kwargs", [(n, kw) for n in NEW for kw in OPTIONS[n]])
def test_trajectory_matches_float64_reference(name, kwargs, dtype):
    init, grads = _data(dtype)
    ours = _trajectory(getattr(optimizers, name)(**kwargs), init, grads)
    rtol, atol = _tol(dtype)
    for i, w in enumerate(init):
        ref = REFS[name](w.astype(np.float64), [g[i].astype(np.float64) for g in grads],
                         **kwargs)
        assert ours[i].dtype == dtype
        np.testing.assert_allclose(ours[i], ref, rtol=rtol, atol=atol, err_msg=f"variable {i}")


@settings(max_examples=30)
@given(name=st.sampled_from(NEW), steps=st.integers(1, 5), seed=st.integers(0, 2 ** 16),
       lr=st.sampled_from([1e-3, 0.1, 1.0]), size=st.sampled_from([1, 2, 7, 16, 17]))
def test_trajectory_property(name, steps, seed, lr, size):
    rng = np.random.default_rng(seed)
    init, grads = _data(np.float64, steps, [(size,), (2, size)], rng)
    opt = getattr(optimizers, name)(learning_rate=lr)
    ours = _trajectory(opt, init, grads)
    assert opt.iterations == steps
    for i, w in enumerate(init):
        ref = REFS[name](w, [g[i] for g in grads], learning_rate=lr)
        np.testing.assert_allclose(ours[i], ref, rtol=1e-11, atol=1e-12)


def test_first_steps_in_closed_form():
    w, g = np.array([0.5, -1.0, 2.0]), np.array([0.3, -0.2, 0.0])

    def one(name, **kw):
        v = Variable(w.copy(), "w")
        getattr(optimizers, name)(**kw).apply([g.copy()], [v])
        return v.value

    # Adagrad: the accumulator starts at 0.1
    np.testing.assert_allclose(one("Adagrad", learning_rate=0.1),
                               w - 0.1 * g / np.sqrt(0.1 + g * g + 1e-7), rtol=1e-14)
    # Adamax step 1: m = (1-b1) g, u = |g|, so w - lr * g / (|g| + eps)
    np.testing.assert_allclose(one("Adamax", learning_rate=0.1),
                               w - 0.1 * g / (np.abs(g) + 1e-7), rtol=1e-12)
    # Lion step 1: w - lr * sign(g) (zero where g is zero)
    np.testing.assert_array_equal(one("Lion", learning_rate=0.25), w - 0.25 * np.sign(g))
    # Adadelta step 1: delta = -sqrt(eps) / sqrt((1-rho) g^2 + eps) * g
    np.testing.assert_allclose(
        one("Adadelta", learning_rate=1.0),
        w - math.sqrt(1e-7) * g / np.sqrt(0.05 * g * g + 1e-7), rtol=1e-12)
    # Nadam step 1: mu1 = 0.9 * (1 - 0.5*0.96), mu2 = 0.9 * (1 - 0.5*0.96^2); v_hat = g^2
    mu1, mu2 = 0.9 * (1 - 0.48), 0.9 * (1 - 0.5 * 0.96 ** 2)
    m_hat = mu2 * 0.1 * g / (1 - mu1 * mu2) + (1 - mu1) * g / (1 - mu1)
    np.testing.assert_allclose(one("Nadam", learning_rate=0.1),
                               w - 0.1 * m_hat / (np.abs(g) + 1e-7), rtol=1e-12)
    # Ftrl with no regularisation, step 1: w = -z / (sqrt(n')/lr), z = g - (sqrt(n')-sqrt(n))/lr w
    n1 = 0.1 + g * g
    z = g - (np.sqrt(n1) - np.sqrt(0.1)) / 0.1 * w
    np.testing.assert_allclose(one("Ftrl", learning_rate=0.1), -z / (np.sqrt(n1) / 0.1),
                               rtol=1e-12)
    # Adafactor on a vector, step 1: beta = 0 so v = g^2 + eps1, u = sign(g) (0 where g = 0)
    u = g / np.sqrt(g * g + 1e-30)
    alpha = max(1e-3, math.sqrt(np.mean(w * w))) * min(0.1, 1.0)
    np.testing.assert_allclose(one("Adafactor", learning_rate=0.1),
                               w - alpha * u / max(1.0, math.sqrt(np.mean(u * u))), rtol=1e-12)


def test_inputs_not_modified_and_variables_updated_in_place():
    for name in NEW:
        v = Variable(np.ones((2, 3)), "w")
        ref = v.value
        g = np.full((2, 3), 0.5)
        g0 = g.copy()
        getattr(optimizers, name)(learning_rate=0.1).apply([g], [v])
        assert v.value is ref, name
        np.testing.assert_array_equal(g, g0, err_msg=name)
        assert not np.allclose(ref, 1.0), name


# -- base options ------------------------------------------------------------------------------
def test_gradient_accumulation_averages_then_updates():
    init, grads = _data(np.float64, steps=6, shapes=[(4,)])
    acc = optimizers.SGD(0.1, momentum=0.5, gradient_accumulation_steps=3)
    plain = optimizers.SGD(0.1, momentum=0.5)
    v = Variable(init[0].copy(), "v")
    ref = Variable(init[0].copy(), "v")
    for k in range(2):
        before = v.value.copy()
        for j in range(3):
            acc.apply([grads[3 * k + j][0]], [v])
            if j < 2:   # no update before the third gradient
                np.testing.assert_array_equal(v.value, before)
        assert acc.iterations == k + 1 and acc._iterations == 3 * (k + 1)
        plain.apply([sum(grads[3 * k + j][0] for j in range(3)) / 3], [ref])
        np.testing.assert_allclose(v.value, ref.value, rtol=1e-13)


def test_ema_tracks_and_overwrites():
    init, grads = _data(np.float64, steps=5, shapes=[(3,)])
    opt = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.8)
    v = Variable(init[0].copy(), "v")
    w, avg = init[0].copy(), None
    for (g,) in grads:
        opt.apply([g], [v])
        w = w - 0.1 * g
        avg = w.copy() if avg is None else 0.8 * avg + 0.2 * w
        np.testing.assert_allclose(v.value, w, rtol=1e-13)
    opt.finalize_variable_values([v])
    np.testing.assert_allclose(v.value, avg, rtol=1e-13)
    opt = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    v = Variable(np.zeros(3), "v")
    opt.apply([np.ones(3)], [v])           # w = -0.1, avg = -0.1
    opt.apply([np.ones(3)], [v])           # w = -0.2, avg = -0.15, overwritten
    np.testing.assert_allclose(v.value, -0.15)


def test_empty_and_missing_gradients():
    opt = optimizers.Lion(0.1)
    v, w = Variable(np.ones(2), "v"), Variable(np.ones(2), "w")
    opt.apply([], [])
    assert opt.iterations == 0
    opt.apply([None, np.ones(2)], [v, w])       # a variable without gradient is left alone
    np.testing.assert_array_equal(v.value, 1.0)
    np.testing.assert_allclose(w.value, 0.9)
    with pytest.raises(ValueError, match="Lion.apply.*no gradient"):
        opt.apply([None, None], [v, w])


def test_learning_rate_attribute_and_iterations():
    opt = optimizers.Adam(0.01)
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    sched = schedules.ExponentialDecay(0.1, 1, 0.5)
    opt = optimizers.Nadam(learning_rate=sched)
    v = Variable(np.ones(2), "v")
    for step in range(3):
        assert opt.learning_rate == pytest.approx(0.1 * 0.5 ** step)
        opt.apply([np.ones(2)], [v])
    assert opt.iterations == 3
    with pytest.raises(TypeError, match="Nadam.*LearningRateSchedule"):
        opt.learning_rate = 0.1
    opt.learning_rate = schedules.PolynomialDecay(0.2, 10)   # a schedule replaces a schedule
    assert opt.learning_rate == pytest.approx(schedules.PolynomialDecay(0.2, 10)(3))
    calls = []
    opt = optimizers.SGD(lambda: calls.append(1) or 0.25)     # Keras: called with no argument
    assert opt.learning_rate == 0.25 and calls
    with pytest.raises(TypeError, match="Lion.*learning_rate"):
        optimizers.Lion(learning_rate="fast")


@pytest.mark.parametrize("name", ALL)
def test_config_round_trip(name):
    kwargs = {"learning_rate": schedules.CosineDecayRestarts(0.1, 5, m_mul=0.5),
              "clipnorm": 1.5, "weight_decay": 0.01, "use_ema": True, "ema_momentum": 0.9,
              "gradient_accumulation_steps": 2}
    opt = getattr(optimizers, name)(**kwargs)
    config = opt.get_config()
    again = type(opt).from_config(config)
    assert again.get_config() == config
    assert isinstance(again._learning_rate, schedules.CosineDecayRestarts)
    assert type(optimizers.deserialize(optimizers.serialize(opt))) is type(opt)
    assert type(optimizers.get(optimizers.serialize(opt))) is type(opt)
    assert type(optimizers.get(name.lower())) is type(opt)
    assert type(optimizers.get(name.upper())) is type(opt)


@pytest.mark.parametrize("name", ALL)
def test_defaults_and_config_keys_match_keras(name):
    keras = import_keras()
    ours, theirs = getattr(optimizers, name)(), getattr(keras.optimizers, name)()
    with warnings.catch_warnings():   # keras 3.15's Variable.numpy() trips a NumPy 2 warning
        warnings.simplefilter("ignore", DeprecationWarning)
        b = theirs.get_config()
    a = ours.get_config()
    assert set(a) == set(b)
    for key in set(a) - {"name"}:
        assert a[key] == pytest.approx(b[key], rel=1e-6) if isinstance(b[key], float) \
            else a[key] == b[key], key


@pytest.mark.parametrize("make,match", [
    (lambda: optimizers.Adagrad(initial_accumulator_value=-1), "Adagrad.*initial_accumulator"),
    (lambda: optimizers.Adadelta(rho=1.5), "Adadelta.*rho"),
    (lambda: optimizers.Adamax(beta_1=-0.1), "Adamax.*beta_1"),
    (lambda: optimizers.Nadam(beta_2=2), "Nadam.*beta_2"),
    (lambda: optimizers.Lion(beta_1=0.0), "Lion.*beta_1"),
    (lambda: optimizers.Ftrl(learning_rate_power=0.5), "Ftrl.*learning_rate_power"),
    (lambda: optimizers.Ftrl(l1_regularization_strength=-1), "Ftrl.*l1"),
    (lambda: optimizers.Ftrl(l2_shrinkage_regularization_strength=-1), "Ftrl.*shrinkage"),
    (lambda: optimizers.Adafactor(clip_threshold=0), "Adafactor.*clip_threshold"),
    (lambda: optimizers.Nadam(clipnorm=1.0, clipvalue=1.0), "Nadam.*only one"),
    (lambda: optimizers.Lion(clipvalue=1.0, global_clipnorm=1.0), "Lion.*only one"),
    (lambda: optimizers.Adamax(gradient_accumulation_steps=1), "Adamax.*accumulation"),
    (lambda: optimizers.Ftrl(ema_momentum=1.5, use_ema=True), "Ftrl.*ema_momentum"),
    (lambda: optimizers.Adagrad(use_ema=True, ema_overwrite_frequency=0),
     "Adagrad.*ema_overwrite"),
    (lambda: optimizers.Adam(loss_scale_factor=128.0), "Adam.*loss_scale_factor"),
    (lambda: optimizers.get("nadamw"), "unknown optimizer"),
    (lambda: optimizers.deserialize({"class_name": "Foo", "config": {}}), "unknown optimizer"),
    (lambda: schedules.PolynomialDecay(0.1, 0), "PolynomialDecay.*decay_steps"),
    (lambda: schedules.CosineDecayRestarts(0.1, -2), "CosineDecayRestarts.*first_decay"),
    (lambda: schedules.deserialize({"class_name": "Nope"}), "schedules.deserialize"),
])
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make,match", [
    (lambda: optimizers.Adadelta(rho="high"), "Adadelta.*rho"),
    (lambda: optimizers.Nadam(momentum=0.9), "Nadam.*unexpected"),
    (lambda: optimizers.Adam(gradient_accumulation_steps=2.0), None),
    (lambda: optimizers.serialize("adam"), "serialize"),
    (lambda: schedules.serialize(lambda s: 0.1), "schedules.serialize"),
])
def test_bad_argument_types(make, match):
    with pytest.raises((TypeError, ValueError), match=match) as info:
        make()
    if match is not None:
        assert info.type is TypeError


# -- schedules ---------------------------------------------------------------------------------
def test_new_schedules_closed_form():
    p = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.1, power=2.0)
    assert p(0) == 1.0 and p(10) == pytest.approx(0.1) and p(25) == pytest.approx(0.1)
    assert p(5) == pytest.approx(0.9 * 0.25 + 0.1)
    c = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True)
    assert c(0) == 1.0 and c(10) == pytest.approx(0.0)
    assert c(15) == pytest.approx(1 - 15 / 20)       # the period grows to 20
    r = schedules.CosineDecayRestarts(1.0, 4, t_mul=1.0, m_mul=0.5, alpha=0.0)
    assert r(2) == pytest.approx(0.5) and r(4) == pytest.approx(0.5) and r(6) == pytest.approx(
        0.25)
    g = schedules.CosineDecayRestarts(1.0, 2, t_mul=2.0)  # periods 2, 4, 8 from steps 0, 2, 6
    assert g(2) == pytest.approx(1.0) and g(4) == pytest.approx(0.5)
    assert g(6) == pytest.approx(1.0) and g(10) == pytest.approx(0.5)


def test_schedule_configs_round_trip():
    for s in [schedules.ExponentialDecay(0.1, 3, 0.5, staircase=True),
              schedules.PiecewiseConstantDecay([2, 5], [0.1, 0.05, 0.01]),
              schedules.CosineDecay(0.0, 6, warmup_target=0.1, warmup_steps=3),
              schedules.InverseTimeDecay(0.1, 2, 0.5),
              schedules.PolynomialDecay(0.1, 7, 0.01, power=0.5, cycle=True),
              schedules.CosineDecayRestarts(0.1, 5, t_mul=1.5, m_mul=0.7, alpha=0.1)]:
        again = schedules.deserialize(schedules.serialize(s))
        assert type(again) is type(s) and again.get_config() == s.get_config()
        assert [again(i) for i in range(20)] == [s(i) for i in range(20)]


SCHEDULES = [
    lambda m: m.PolynomialDecay(0.1, 6),
    lambda m: m.PolynomialDecay(0.1, 4, end_learning_rate=0.01, power=0.5, cycle=True),
    lambda m: m.PolynomialDecay(0.2, 5, end_learning_rate=0.05, power=2.0),
    lambda m: m.CosineDecayRestarts(0.1, 3),
    lambda m: m.CosineDecayRestarts(0.1, 4, t_mul=1.0, m_mul=0.5, alpha=0.1),
    lambda m: m.CosineDecayRestarts(0.1, 2, t_mul=1.5, m_mul=0.8),
    lambda m: m.CosineDecay(0.1, 5, warmup_target=0.5, warmup_steps=4, alpha=0.2),
]


@pytest.mark.parametrize("make", SCHEDULES)
def test_new_schedules_match_keras(make):
    keras = import_keras()
    ours, theirs = make(schedules), make(keras.optimizers.schedules)
    for step in range(30):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=2e-6, abs=1e-9), step
    assert ours.get_config() == theirs.get_config()
    assert type(schedules.deserialize(keras.optimizers.schedules.serialize(theirs))) is \
        type(ours)


# -- Keras on the same gradients -------------------------------------------------------------
KERAS_CASES = [(n, kw) for n in NEW for kw in OPTIONS[n]] + [
    ("Nadam", {"clipnorm": 0.5, "weight_decay": 0.05}),
    ("Lion", {"global_clipnorm": 0.7, "learning_rate": 0.01}),
    ("Adamax", {"clipvalue": 0.2}),
    ("Ftrl", {"learning_rate": 0.1, "weight_decay": 0.1}),
    ("Adagrad", {"learning_rate": 0.1, "gradient_accumulation_steps": 2}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "gradient_accumulation_steps": 3,
              "clipnorm": 0.5}),
    ("SGD", {"momentum": 0.9, "nesterov": True, "use_ema": True, "ema_momentum": 0.7,
             "ema_overwrite_frequency": 3}),
    ("RMSprop", {"centered": True, "momentum": 0.3, "use_ema": True,
                 "gradient_accumulation_steps": 2}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.2, "use_ema": True}),
    ("Adafactor", {"learning_rate": 0.5, "weight_decay": 0.01, "clipvalue": 0.5}),
    ("Nadam", {"learning_rate": "schedule"}),
    ("Adadelta", {"learning_rate": "schedule", "gradient_accumulation_steps": 2}),
]


@pytest.mark.parametrize("name,kwargs", KERAS_CASES)
def test_updates_match_keras(name, kwargs):
    keras = import_keras()
    rng = np.random.default_rng(5)
    init, grads = _data(np.float32, steps=7, shapes=[(3, 4), (4,), (2, 3, 5)], rng=rng)

    def make(mod, sched_mod):
        kw = dict(kwargs)
        if kw.get("learning_rate") == "schedule":
            kw["learning_rate"] = sched_mod.PiecewiseConstantDecay([1, 3], [0.1, 0.03, 0.01])
        return getattr(mod, name)(**kw)

    ours = make(optimizers, schedules)
    theirs = make(keras.optimizers, keras.optimizers.schedules)
    pv = [Variable(w.copy(), f"v{i}") for i, w in enumerate(init)]
    kv = [keras.Variable(w.copy()) for w in init]
    for g in grads:
        ours.apply([x.copy() for x in g], pv)
        with warnings.catch_warnings():   # keras's torch Nadam converts a Variable to NumPy
            warnings.simplefilter("ignore", DeprecationWarning)
            theirs.apply_gradients(zip([keras.ops.convert_to_tensor(x) for x in g], kv))
        for p, k in zip(pv, kv):
            np.testing.assert_allclose(p.value, to_numpy(k.value), rtol=2e-5, atol=1e-5)
    iterations = theirs.iterations
    assert ours.iterations == int(getattr(iterations, "value", iterations).item())
    if ours.use_ema:
        ours.finalize_variable_values(pv)
        theirs.finalize_variable_values(kv)
        for p, k in zip(pv, kv):
            np.testing.assert_allclose(p.value, to_numpy(k.value), rtol=2e-5, atol=1e-5)


def test_exclude_from_weight_decay_matches_keras():
    keras = import_keras()
    rng = np.random.default_rng(8)
    names = ["dense_kernel", "dense_bias", "norm_gamma", "norm_beta"]
    init = [rng.standard_normal(4).astype(np.float32) for _ in names]
    grads = [rng.standard_normal(4).astype(np.float32) for _ in names]
    pv = [Variable(w.copy(), n) for w, n in zip(init, names)]
    kv = [keras.Variable(w.copy(), name=n) for w, n in zip(init, names)]
    ours, theirs = optimizers.AdamW(0.1, weight_decay=0.5), keras.optimizers.AdamW(
        0.1, weight_decay=0.5)
    for opt, vs in ((ours, pv), (theirs, kv)):
        opt.exclude_from_weight_decay(var_list=[vs[0]], var_names=["ker"])   # replaced below
        opt.exclude_from_weight_decay(var_list=[vs[2]], var_names=["_b[ie]", "^x"])
    ours.apply([g.copy() for g in grads], pv)
    theirs.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], kv))
    for p, k in zip(pv, kv):
        np.testing.assert_allclose(p.value, to_numpy(k.value), rtol=2e-5, atol=1e-6,
                                   err_msg=p.name)
    decayed = optimizers.SGD(0.1, weight_decay=0.5)
    w = Variable(np.ones(2), "w")
    decayed.apply([np.zeros(2)], [w])
    np.testing.assert_allclose(w.value, 0.95)   # var -= var * weight_decay * lr
