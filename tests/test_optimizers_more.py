"""Adagrad, Adadelta, Adamax, Nadam, Lion and the PolynomialDecay / CosineDecayRestarts
schedules: hand-computed first steps (NumPy only) and Keras 3 parity over several steps;
Keras's rule that only one gradient clipping option may be set."""

import math

import numpy as np
import pytest

from layers_helpers import import_keras, to_numpy
from pyseq import optimizers
from pyseq.layers import Variable
from pyseq.optimizers import schedules

RNG = np.random.default_rng(11)

CONFIGS = [
    ("Adagrad", {}), ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5,
                                  "epsilon": 1e-3, "clipnorm": 1.0}),
    ("Adadelta", {}), ("Adadelta", {"learning_rate": 1.0, "rho": 0.5, "epsilon": 1e-4,
                                    "weight_decay": 0.1}),
    ("Adamax", {}), ("Adamax", {"learning_rate": 0.1, "beta_1": 0.5, "beta_2": 0.8,
                                "global_clipnorm": 0.5}),
    ("Nadam", {}), ("Nadam", {"learning_rate": 0.1, "beta_1": 0.5, "beta_2": 0.8,
                              "epsilon": 1e-3, "clipvalue": 0.3}),
    ("Lion", {}), ("Lion", {"learning_rate": 0.1, "beta_1": 0.5, "beta_2": 0.8,
                            "weight_decay": 0.05}),
]


def _keras_run(keras, name, kwargs, init, grads):
    opt = getattr(keras.optimizers, name)(**kwargs)
    kv = [keras.Variable(w.copy()) for w in init]
    for g in grads:
        opt.apply_gradients(zip([keras.ops.convert_to_tensor(x) for x in g], kv))
    return [to_numpy(v.value) for v in kv]


# Keras's Nadam converts its momentum-product Variable with a NumPy-2-deprecated __array__.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_new_optimizers_match_keras(name, kwargs):
    keras = import_keras()
    shapes = [(3, 4), (4,)]
    init = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[RNG.standard_normal(s).astype(np.float32) * scale for s in shapes]
             for scale in (1.0, 4.0, 0.1, 2.0, 1.0)]
    opt = optimizers.get(name.lower()) if not kwargs else getattr(optimizers, name)(**kwargs)
    pv = [Variable(w.copy(), f"v{i}") for i, w in enumerate(init)]
    for g in grads:
        opt.apply([x.copy() for x in g], pv)
    for p, k in zip(pv, _keras_run(keras, name, kwargs, init, grads)):
        np.testing.assert_allclose(p.value, k, rtol=2e-5, atol=2e-6)
        assert p.value.dtype == np.float32


def _two_steps(opt, g1, g2, w0=1.0):
    v = Variable(np.array([w0], np.float64), "w")
    opt.apply([np.array([g1])], [v])
    first = float(v.value[0])
    opt.apply([np.array([g2])], [v])
    return first, float(v.value[0])


def test_first_steps_by_hand():
    # Adagrad: acc = 0.1 + g^2; w -= lr g / sqrt(acc + eps)
    first, second = _two_steps(optimizers.Adagrad(learning_rate=0.5, epsilon=0.0), 2.0, 1.0)
    assert first == pytest.approx(1 - 0.5 * 2 / math.sqrt(4.1))
    assert second == pytest.approx(first - 0.5 * 1 / math.sqrt(5.1))
    # Adadelta: acc_g = (1-rho) g^2, delta = -sqrt(eps) g / sqrt(acc_g + eps)
    rho, eps = 0.5, 1e-2
    first, _ = _two_steps(optimizers.Adadelta(learning_rate=1.0, rho=rho, epsilon=eps), 2.0, 1.0)
    assert first == pytest.approx(1 - math.sqrt(eps) * 2 / math.sqrt(0.5 * 4 + eps))
    # Adamax step 1: m = (1-b1) g, u = |g|, w -= lr m / ((1 - b1)(u + eps)) = lr sign(g)
    first, _ = _two_steps(optimizers.Adamax(learning_rate=0.1, epsilon=0.0), -3.0, 1.0)
    assert first == pytest.approx(1.1)
    # Lion: w -= lr sign((1-b1) g) at step 1; m = (1-b2) g; step 2 sign(b1 m + (1-b1) g2)
    first, second = _two_steps(optimizers.Lion(learning_rate=0.1), 2.0, -0.01)
    assert first == pytest.approx(0.9)
    assert second == pytest.approx(0.8)  # 0.9*0.02 - 0.1*0.01 > 0
    # Nadam step 1: u1 = b1(1 - .5*.96), u2 = b1(1 - .5*.96^2), m_hat from both
    b1, b2, g = 0.9, 0.999, 2.0
    u1, u2 = b1 * (1 - 0.5 * 0.96), b1 * (1 - 0.5 * 0.96 ** 2)
    m_hat = u2 * (1 - b1) * g / (1 - u1 * u2) + (1 - u1) * g / (1 - u1)
    v_hat = (1 - b2) * g * g / (1 - b2)
    first, _ = _two_steps(optimizers.Nadam(learning_rate=0.1, epsilon=0.0), g, 1.0)
    assert first == pytest.approx(1 - 0.1 * m_hat / math.sqrt(v_hat))


def test_names_and_defaults():
    for name in ("adagrad", "adadelta", "adamax", "nadam", "lion"):
        assert type(optimizers.get(name)).__name__.lower() == name
    a = optimizers.Adagrad()
    assert (a.learning_rate, a.initial_accumulator_value, a.epsilon) == (0.001, 0.1, 1e-7)
    d = optimizers.Adadelta()
    assert (d.learning_rate, d.rho, d.epsilon) == (0.001, 0.95, 1e-7)
    lion = optimizers.Lion()
    assert (lion.learning_rate, lion.beta_1, lion.beta_2) == (0.001, 0.9, 0.99)
    with pytest.raises(ValueError, match=r"\[Lion\] beta_1"):
        optimizers.Lion(beta_1=0.0)


@pytest.mark.parametrize("kwargs", [{"clipnorm": 1.0, "clipvalue": 0.5},
                                    {"clipvalue": 0.5, "global_clipnorm": 1.0},
                                    {"clipnorm": 1.0, "global_clipnorm": 1.0}])
def test_only_one_clipping_option(kwargs):
    with pytest.raises(ValueError, match=r"\[Adam\] only one of clipnorm"):
        optimizers.Adam(**kwargs)


SCHEDULES = [
    lambda m: m.PolynomialDecay(0.1, 3, 0.01, power=2.0),
    lambda m: m.PolynomialDecay(0.1, 2, 0.01, power=0.5, cycle=True),
    lambda m: m.CosineDecayRestarts(0.1, 2),
    lambda m: m.CosineDecayRestarts(0.1, 1, t_mul=1.0, m_mul=0.5, alpha=0.1),
    lambda m: m.CosineDecayRestarts(0.1, 2, t_mul=1.5, m_mul=0.7, alpha=0.05),
]


def test_schedules_by_hand():
    p = schedules.PolynomialDecay(1.0, 4, end_learning_rate=0.0, power=2.0)
    assert [p(s) for s in (0, 2, 4, 9)] == pytest.approx([1.0, 0.25, 0.0, 0.0])
    c = schedules.PolynomialDecay(1.0, 4, end_learning_rate=0.0, cycle=True)
    assert [c(s) for s in (0, 4, 6)] == pytest.approx([1.0, 0.0, 0.25])  # horizon 8 at step 6
    r = schedules.CosineDecayRestarts(1.0, 2, t_mul=1.0, m_mul=0.5)
    assert [r(s) for s in (0, 1, 2, 3, 4)] == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25])
    r2 = schedules.CosineDecayRestarts(1.0, 2)  # periods 2, 4, 8 ...
    assert [r2(s) for s in (2, 4, 6)] == pytest.approx([1.0, 0.5, 1.0])


@pytest.mark.parametrize("make", SCHEDULES)
def test_new_schedules_match_keras(make):
    keras = import_keras()
    ours, theirs = make(schedules), make(keras.optimizers.schedules)
    for step in range(14):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-5, abs=1e-8), step
