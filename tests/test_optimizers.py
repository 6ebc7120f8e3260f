"""Optimizers against Keras 3 (same weights, same gradients -> same updated weights over several
steps), clipping, weight decay, schedules, string names, errors."""

import numpy as np
import pytest

from layers_helpers import import_keras, to_numpy
from pyseq import optimizers
from pyseq.layers import Variable
from pyseq.optimizers import schedules

RNG = np.random.default_rng(3)

CONFIGS = [
    ("SGD", {}), ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.8, "nesterov": True}),
    ("RMSprop", {}), ("RMSprop", {"momentum": 0.5, "centered": True, "rho": 0.8}),
    ("Adam", {}), ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.95,
                            "epsilon": 1e-4, "amsgrad": True}),
    ("AdamW", {}), ("AdamW", {"weight_decay": 0.1, "learning_rate": 0.01}),
    ("Adam", {"clipnorm": 0.5}), ("Adam", {"global_clipnorm": 0.5}),
    ("SGD", {"clipvalue": 0.1}), ("Adam", {"weight_decay": 0.05}),
]


def _run_both(keras, name, kwargs, steps=4, lr_schedule=None):
    shapes = [(3, 4), (4,)]
    init = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[RNG.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]
    ours = getattr(optimizers, name)(**kwargs)
    theirs = getattr(keras.optimizers, name)(**kwargs)
    pv = [Variable(w.copy(), f"v{i}") for i, w in enumerate(init)]
    kv = [keras.Variable(w.copy()) for w in init]
    for g in grads:
        ours.apply([x.copy() for x in g], pv)
        theirs.apply_gradients(zip([keras.ops.convert_to_tensor(x) for x in g], kv))
    assert ours.iterations == steps
    return pv, kv


@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_updates_match_keras(name, kwargs):
    keras = import_keras()
    pv, kv = _run_both(keras, name, kwargs)
    for p, k in zip(pv, kv):
        np.testing.assert_allclose(p.value, to_numpy(k.value), rtol=2e-5, atol=2e-6)
        assert p.value.dtype == np.float32


@pytest.mark.parametrize("make", [
    lambda m: m.ExponentialDecay(0.1, 3, 0.5),
    lambda m: m.ExponentialDecay(0.1, 3, 0.5, staircase=True),
    lambda m: m.PiecewiseConstantDecay([2, 5], [0.1, 0.05, 0.01]),
    lambda m: m.CosineDecay(0.1, 6, alpha=0.1),
    lambda m: m.CosineDecay(0.0, 6, warmup_target=0.1, warmup_steps=3),
    lambda m: m.InverseTimeDecay(0.1, 2, 0.5),
    lambda m: m.InverseTimeDecay(0.1, 2, 0.5, staircase=True),
])
def test_schedules_match_keras(make):
    keras = import_keras()
    ours, theirs = make(schedules), make(keras.optimizers.schedules)
    for step in range(12):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-6, abs=1e-9), step
    pv, kv = None, None
    keras_opt = keras.optimizers.SGD(learning_rate=make(keras.optimizers.schedules))
    ours_opt = optimizers.SGD(learning_rate=make(schedules))
    w = RNG.standard_normal(5).astype(np.float32)
    pv, kv = Variable(w.copy(), "w"), keras.Variable(w.copy())
    for _ in range(6):
        g = RNG.standard_normal(5).astype(np.float32)
        ours_opt.apply([g], [pv])
        keras_opt.apply_gradients([(keras.ops.convert_to_tensor(g), kv)])
    np.testing.assert_allclose(pv.value, to_numpy(kv.value), rtol=1e-5, atol=1e-6)


def test_names_defaults_and_errors():
    assert type(optimizers.get("adam")).__name__ == "Adam"
    assert type(optimizers.get("SGD")).__name__ == "SGD"
    assert type(optimizers.get("rmsprop")).__name__ == "RMSprop"
    assert type(optimizers.get("adamw")).__name__ == "AdamW"
    assert optimizers.SGD().learning_rate == 0.01
    a = optimizers.Adam()
    assert (a.learning_rate, a.beta_1, a.beta_2, a.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    r = optimizers.RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered) == (0.001, 0.9, 0.0,
                                                                         1e-7, False)
    assert optimizers.AdamW().weight_decay == 0.004
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimizers.get("adagrad2")
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.SGD(clipnorm=-1)
    v = Variable(np.zeros(3, np.float32), "v")
    with pytest.raises(ValueError, match="shape"):
        optimizers.SGD().apply([np.zeros(4)], [v])
    with pytest.raises(ValueError, match="1 variables"):
        optimizers.SGD().apply([np.zeros(3), np.zeros(3)], [v])


def test_apply_gradients_and_in_place_update():
    v = Variable(np.ones(3, np.float32), "v")
    ref = v.value
    opt = optimizers.SGD(0.5)
    opt.apply_gradients(zip([np.ones(3, np.float32)], [v]))
    assert v.value is ref
    np.testing.assert_allclose(ref, 0.5)
    opt.learning_rate = 0.25
    opt.apply([np.ones(3, np.float32)], [v])
    np.testing.assert_allclose(ref, 0.25)
