"""The regression, divergence and hinge losses Keras 3 has beyond the cross-entropies:
values by hand, gradients by finite differences (NumPy only), and both against Keras (torch
autograd through Keras's loss)."""

import numpy as np
import pytest

from layers_helpers import import_keras, numeric_grad, to_numpy
from pyseq import losses

RNG = np.random.default_rng(31)
SHAPE = (3, 4, 5)


def _pos():
    return RNG.uniform(0.05, 2.0, SHAPE)


def _normal():
    return RNG.standard_normal(SHAPE)


def _probs():
    p = RNG.uniform(0.05, 1.0, SHAPE)
    return p / p.sum(-1, keepdims=True)


def _binary():
    return RNG.integers(0, 2, SHAPE).astype(np.float64)


def _onehot():
    return np.eye(SHAPE[-1])[RNG.integers(0, SHAPE[-1], SHAPE[:-1])]


CASES = [
    ("MeanAbsolutePercentageError", {}, _normal, _normal),
    ("MeanSquaredLogarithmicError", {}, _pos, _pos),
    ("LogCosh", {}, _normal, lambda: 3 * _normal()),
    ("KLDivergence", {}, _probs, _probs),
    ("Poisson", {}, _pos, _pos),
    ("CosineSimilarity", {}, _normal, _normal),
    ("CosineSimilarity", {"axis": 1}, _normal, _normal),
    ("Hinge", {}, _binary, _normal),
    ("Hinge", {}, lambda: 2 * _binary() - 1, _normal),
    ("SquaredHinge", {}, _binary, _normal),
    ("CategoricalHinge", {}, _onehot, _normal),
]
IDS = [f"{c[0]}{'-axis1' if c[1] else ''}" for c in CASES]


@pytest.mark.parametrize("name,kwargs,make_true,make_pred", CASES, ids=IDS)
def test_gradients_by_finite_differences(name, kwargs, make_true, make_pred):
    y_true, y_pred = make_true(), make_pred()
    sw = RNG.uniform(0.5, 2.0, SHAPE[:-1] if kwargs.get("axis") is None else (3, 5))
    loss = getattr(losses, name)(**kwargs)
    value, grad = loss.value_and_grad(y_true, y_pred, sample_weight=sw)
    assert value == pytest.approx(loss(y_true, y_pred, sample_weight=sw))
    num = numeric_grad(lambda: loss(y_true, y_pred, sample_weight=sw), y_pred)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-8)


def test_values_by_hand():
    y = np.array([[1.0, 2.0], [0.5, -1.0]])
    p = np.array([[1.5, 1.0], [0.0, -2.0]])
    assert losses.MeanAbsolutePercentageError()(y, p) == pytest.approx(
        100 * np.mean([[0.5, 0.5], [1.0, 1.0]]))
    assert losses.LogCosh()(y, p) == pytest.approx(np.mean(np.log(np.cosh(p - y))))
    assert losses.Poisson(reduction=None)(y, np.ones_like(p)) == pytest.approx([1.0, 1.0])
    assert losses.CosineSimilarity()(np.array([[0.0, 1.0]]), np.array([[0.0, 3.0]])) == \
        pytest.approx(-1.0)
    # 0/1 labels become -1/1 for the hinges; other labels are used as given
    assert losses.Hinge(reduction=None)(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]])) == \
        pytest.approx([(1.5 + 0.5) / 2])
    assert losses.CategoricalHinge(reduction=None)(np.array([[0.0, 1.0, 0.0]]),
                                                   np.array([[0.3, 0.2, 0.6]])) == \
        pytest.approx([0.6 - 0.2 + 1])
    big = np.array([[1e30, 0.0]])
    assert np.isfinite(losses.LogCosh()(np.zeros_like(big), big))


@pytest.mark.parametrize("alias,cls", [("mape", "MeanAbsolutePercentageError"),
                                       ("msle", "MeanSquaredLogarithmicError"),
                                       ("log_cosh", "LogCosh"), ("kld", "KLDivergence"),
                                       ("poisson", "Poisson"),
                                       ("cosine_similarity", "CosineSimilarity"),
                                       ("hinge", "Hinge"), ("squared_hinge", "SquaredHinge"),
                                       ("categorical_hinge", "CategoricalHinge")])
def test_string_names(alias, cls):
    assert type(losses.get(alias)).__name__ == cls
    assert type(losses.get(cls)).__name__ == cls


@pytest.mark.parametrize("name,kwargs,make_true,make_pred", CASES, ids=IDS)
def test_values_and_gradients_match_keras(name, kwargs, make_true, make_pred):
    keras = import_keras()
    import torch
    y_true = make_true().astype(np.float32)
    y_pred = make_pred().astype(np.float32)
    sw = RNG.uniform(0.5, 2.0, SHAPE[:-1] if kwargs.get("axis") is None else (3, 5))
    sw = sw.astype(np.float32)
    value, grad = getattr(losses, name)(**kwargs).value_and_grad(y_true, y_pred,
                                                                 sample_weight=sw)
    t_pred = torch.tensor(y_pred, requires_grad=True)
    k = getattr(keras.losses, name)(**kwargs)(torch.as_tensor(y_true), t_pred,
                                              sample_weight=torch.tensor(sw))
    (k_grad,) = torch.autograd.grad(k, [t_pred])
    assert value == pytest.approx(float(k.detach()), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(grad, to_numpy(k_grad), rtol=1e-4, atol=1e-6)
    assert grad.dtype == np.float32
