"""The Keras 3 losses added after the first six (MAPE, MSLE, log-cosh, KL divergence, Poisson,
cosine similarity, hinges, binary focal cross-entropy): closed-form values, float64
finite-difference gradients, reductions and weights, string aliases, bad arguments (NumPy only);
then values and gradients against Keras 3 (torch backend) when it is installed."""

import numpy as np
import pytest

from layers_helpers import import_keras, numeric_grad, to_numpy
from pyseq import losses

RNG = np.random.default_rng(11)


def _away_from_zero(*shape, lo=0.3, hi=2.0):
    return RNG.uniform(lo, hi, shape) * RNG.choice([-1.0, 1.0], shape)


def _probs(*shape):
    e = np.exp(RNG.standard_normal(shape))
    return e / e.sum(-1, keepdims=True)


def _onehot(n, k):
    return np.eye(k)[RNG.integers(0, k, n)]


# (class name, kwargs, y_true maker, y_pred maker): predictions kept away from kinks and clips so
# that central differences see a smooth function.
CASES = [
    ("MeanAbsolutePercentageError", {}, lambda s: _away_from_zero(*s),
     lambda s: _away_from_zero(*s) * 3),
    ("MeanSquaredLogarithmicError", {}, lambda s: RNG.uniform(0, 3, s),
     lambda s: RNG.uniform(0.1, 3, s)),
    ("LogCosh", {}, lambda s: RNG.standard_normal(s), lambda s: 3 * RNG.standard_normal(s)),
    ("KLDivergence", {}, lambda s: _probs(*s), lambda s: _probs(*s)),
    ("Poisson", {}, lambda s: RNG.poisson(2.0, s).astype(float), lambda s: RNG.uniform(0.2, 4, s)),
    ("CosineSimilarity", {}, lambda s: RNG.standard_normal(s), lambda s: RNG.standard_normal(s)),
    ("CosineSimilarity", {"axis": 0}, lambda s: RNG.standard_normal(s),
     lambda s: RNG.standard_normal(s)),
    ("Hinge", {}, lambda s: RNG.integers(0, 2, s).astype(float),
     lambda s: _away_from_zero(*s, lo=0.05)),
    ("Hinge", {}, lambda s: RNG.choice([-1.0, 1.0], s), lambda s: _away_from_zero(*s, lo=0.05)),
    ("SquaredHinge", {}, lambda s: RNG.integers(0, 2, s).astype(float),
     lambda s: RNG.standard_normal(s)),
    ("CategoricalHinge", {}, lambda s: _onehot(s[0], s[1]), lambda s: RNG.standard_normal(s)),
    ("BinaryFocalCrossentropy", {}, lambda s: RNG.integers(0, 2, s).astype(float),
     lambda s: RNG.uniform(0.05, 0.95, s)),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5,
                                 "label_smoothing": 0.1},
     lambda s: RNG.integers(0, 2, s).astype(float), lambda s: RNG.uniform(0.05, 0.95, s)),
    ("BinaryFocalCrossentropy", {"from_logits": True, "gamma": 3.0},
     lambda s: RNG.integers(0, 2, s).astype(float), lambda s: 2 * RNG.standard_normal(s)),
    ("BinaryFocalCrossentropy", {"from_logits": True, "axis": 0, "gamma": 0.0},
     lambda s: RNG.integers(0, 2, s).astype(float), lambda s: 2 * RNG.standard_normal(s)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("name,kwargs,make_true,make_pred", CASES, ids=IDS)
@pytest.mark.parametrize("reduction,weighted", [("sum_over_batch_size", False),
                                                ("sum_over_batch_size", True), ("sum", True)])
def test_gradient_matches_finite_differences(name, kwargs, make_true, make_pred, reduction,
                                             weighted):
    shape = (5, 4)
    y_true, y_pred = make_true(shape), make_pred(shape)
    loss = getattr(losses, name)(reduction=reduction, **kwargs)
    n_values = shape[1] if kwargs.get("axis") == 0 else shape[0]
    sw = RNG.uniform(0.2, 2.0, n_values) if weighted else None
    value, grad = loss.value_and_grad(y_true, y_pred, sample_weight=sw)
    assert grad.shape == y_pred.shape and grad.dtype == np.float64
    assert value == pytest.approx(loss(y_true, y_pred, sample_weight=sw), rel=1e-12)
    x = y_pred.copy()
    numeric = numeric_grad(lambda: loss(y_true, x, sample_weight=sw), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_closed_form_values():
    y, p = np.array([[1.0, -2.0]]), np.array([[1.5, -1.0]])
    assert losses.MeanAbsolutePercentageError()(y, p) == pytest.approx(100 * (0.5 + 0.5) / 2)
    # |y_true| floored at 1e-7: a zero target gives a huge but finite percentage
    assert losses.mean_absolute_percentage_error([[0.0]], [[1e-7]])[0] == pytest.approx(100.0)
    assert losses.MeanSquaredLogarithmicError()([[np.e - 1]], [[0.0]]) == pytest.approx(1.0)
    assert losses.MeanSquaredLogarithmicError()([[-5.0]], [[-3.0]]) == pytest.approx(0.0, abs=1e-12)
    x = np.array([[0.3, -4.0, 30.0]])
    np.testing.assert_allclose(losses.log_cosh(np.zeros_like(x), x),
                               np.mean([np.log(np.cosh(0.3)), np.log(np.cosh(4.0)),
                                        30 - np.log(2)]))
    t, q = np.array([[0.2, 0.8, 0.0]]), np.array([[0.5, 0.25, 0.25]])
    np.testing.assert_allclose(losses.kl_divergence(t, q),
                               [0.2 * np.log(0.4) + 0.8 * np.log(3.2) + 1e-7 * np.log(1e-7 / 0.25)])
    np.testing.assert_allclose(losses.poisson([[2.0, 0.0]], [[1.0, 3.0]]),
                               [(1.0 - 2 * np.log(1 + 1e-7) + 3.0) / 2])
    np.testing.assert_allclose(losses.cosine_similarity([[1.0, 2.0], [0.0, 0.0], [1, 0]],
                                                        [[2.0, 4.0], [1.0, 1.0], [-3, 0]]),
                               [-1.0, 0.0, 1.0], atol=1e-12)
    # {0, 1} labels become {-1, 1}; {-1, 1} labels are used as they are
    np.testing.assert_allclose(losses.hinge([[0.0, 1.0]], [[0.5, 0.5]]), [(1.5 + 0.5) / 2])
    np.testing.assert_allclose(losses.hinge([[-1.0, 1.0]], [[0.5, 0.5]]), [(1.5 + 0.5) / 2])
    np.testing.assert_allclose(losses.squared_hinge([[0.0, 1.0]], [[0.5, 2.0]]), [1.5 ** 2 / 2])
    np.testing.assert_allclose(losses.categorical_hinge([[0.0, 1.0, 0.0]], [[0.2, 0.5, 0.9]]),
                               [0.9 - 0.5 + 1.0])
    np.testing.assert_allclose(losses.categorical_hinge([[0.0, 1.0, 0.0]], [[0.2, 3.5, 0.9]]), [0])
    y, p = np.array([[1.0, 0.0, 1.0]]), np.array([[0.9, 0.2, 0.3]])
    bce = losses.binary_crossentropy(y, p)
    np.testing.assert_allclose(losses.binary_focal_crossentropy(y, p, gamma=0.0), bce)
    per = -np.log([0.9, 0.8, 0.3]) * np.array([0.1, 0.2, 0.7]) ** 2 * np.array([0.25, 0.75, 0.25])
    np.testing.assert_allclose(losses.binary_focal_crossentropy(y, p, apply_class_balancing=True),
                               [per.mean()])


def test_reductions_weights_and_dtype():
    y, p = RNG.uniform(0.5, 2, (4, 3)), RNG.uniform(0.5, 2, (4, 3))
    per = losses.poisson(y, p)
    sw = np.array([1.0, 0.0, 2.0, 0.5])
    assert losses.Poisson(reduction="sum")(y, p, sample_weight=sw) == \
        pytest.approx((per * sw).sum())
    assert losses.Poisson()(y, p, sample_weight=sw) == pytest.approx((per * sw).sum() / 4)
    np.testing.assert_allclose(losses.Poisson(reduction=None)(y, p), per)
    for name in ("LogCosh", "CategoricalHinge", "BinaryFocalCrossentropy", "CosineSimilarity"):
        value, grad = getattr(losses, name)().value_and_grad(y.astype(np.float32),
                                                             p.astype(np.float32))
        assert grad.dtype == np.float32, name
        assert losses.get(name)(y.astype(np.float32), p.astype(np.float32)) == \
            pytest.approx(value, rel=1e-6)


def test_configs_round_trip():
    loss = losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.0,
                                          from_logits=True, label_smoothing=0.1, axis=-1)
    again = losses.BinaryFocalCrossentropy(**loss.get_config())
    y, p = RNG.integers(0, 2, (3, 4)).astype(float), RNG.standard_normal((3, 4))
    assert again(y, p) == loss(y, p) and again.get_config() == loss.get_config()
    assert losses.CosineSimilarity(axis=0).get_config()["axis"] == 0


def test_mask_weighs_valid_steps_like_the_existing_losses():
    y, p = RNG.standard_normal((2, 5, 3)), RNG.standard_normal((2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    per = losses.log_cosh(y, p)
    value, grad = losses.LogCosh().value_and_grad(y, p, mask=mask)
    assert value == pytest.approx(per[mask].mean())
    assert np.all(grad[~mask] == 0)


@pytest.mark.parametrize("alias,cls,name", [
    ("mape", "MeanAbsolutePercentageError", "mape"),
    ("MAPE", "MeanAbsolutePercentageError", "MAPE"),
    ("mean_absolute_percentage_error", "MeanAbsolutePercentageError",
     "mean_absolute_percentage_error"),
    ("msle", "MeanSquaredLogarithmicError", "msle"),
    ("MSLE", "MeanSquaredLogarithmicError", "MSLE"),
    ("log_cosh", "LogCosh", "log_cosh"), ("LogCosh", "LogCosh", "log_cosh"),
    ("kl_divergence", "KLDivergence", "kl_divergence"), ("kld", "KLDivergence", "kld"),
    ("KLD", "KLDivergence", "KLD"), ("poisson", "Poisson", "poisson"),
    ("cosine_similarity", "CosineSimilarity", "cosine_similarity"), ("hinge", "Hinge", "hinge"),
    ("squared_hinge", "SquaredHinge", "squared_hinge"),
    ("categorical_hinge", "CategoricalHinge", "categorical_hinge"),
    ("binary_focal_crossentropy", "BinaryFocalCrossentropy", "binary_focal_crossentropy"),
    ("BinaryFocalCrossentropy", "BinaryFocalCrossentropy", "binary_focal_crossentropy"),
    ("BCE", "BinaryCrossentropy", "BCE")])
def test_string_aliases_and_names(alias, cls, name):
    loss = losses.get(alias)
    assert type(loss).__name__ == cls and loss.name == name


@pytest.mark.parametrize("fn,cls", [
    (losses.mean_absolute_percentage_error, "MeanAbsolutePercentageError"),
    (losses.mean_squared_logarithmic_error, "MeanSquaredLogarithmicError"),
    (losses.log_cosh, "LogCosh"), (losses.kl_divergence, "KLDivergence"),
    (losses.poisson, "Poisson"), (losses.cosine_similarity, "CosineSimilarity"),
    (losses.hinge, "Hinge"), (losses.squared_hinge, "SquaredHinge"),
    (losses.categorical_hinge, "CategoricalHinge"),
    (losses.binary_focal_crossentropy, "BinaryFocalCrossentropy")])
def test_functions_resolve_to_their_class(fn, cls):
    assert type(losses.get(fn)).__name__ == cls


def test_bad_arguments_name_the_loss():
    with pytest.raises(ValueError, match=r"\[BinaryFocalCrossentropy\] gamma"):
        losses.BinaryFocalCrossentropy(gamma=-1)
    with pytest.raises(ValueError, match=r"\[BinaryFocalCrossentropy\] label_smoothing"):
        losses.BinaryFocalCrossentropy(label_smoothing=1.5)
    with pytest.raises(TypeError, match=r"\[BinaryFocalCrossentropy\] alpha"):
        losses.BinaryFocalCrossentropy(alpha="big")
    with pytest.raises(TypeError, match=r"\[CosineSimilarity\] axis"):
        losses.CosineSimilarity(axis=1.5)
    with pytest.raises(ValueError, match=r"\[cosine_similarity\] axis 2 is out of range"):
        losses.CosineSimilarity(axis=2)(np.ones((2, 3)), np.ones((2, 3)))
    # (axis for the cross-entropies is tested in test_losses_options.py)
    with pytest.raises(TypeError, match=r"\[binary_crossentropy\] axis must be an int"):
        losses.BinaryCrossentropy(axis=0.5)
    with pytest.raises(ValueError, match=r"\[Poisson\] reduction"):
        losses.Poisson(reduction="avg")
    with pytest.raises(ValueError, match=r"\[log_cosh\] y_true must have y_pred's shape"):
        losses.LogCosh()(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\[hinge\] a loss with reduction=None"):
        losses.Hinge(reduction=None).value_and_grad(np.zeros((2, 1)), np.zeros((2, 1)))


# -- against Keras 3 -------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs,make_true,make_pred", CASES, ids=IDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_values_and_gradients_match_keras(name, kwargs, make_true, make_pred, weighted):
    keras = import_keras()
    import torch
    shape = (6, 5)
    y_true, y_pred = make_true(shape).astype(np.float32), make_pred(shape).astype(np.float32)
    n_values = shape[1] if kwargs.get("axis") == 0 else shape[0]
    sw = RNG.uniform(0.2, 2.0, n_values).astype(np.float32) if weighted else None
    value, grad = getattr(losses, name)(**kwargs).value_and_grad(y_true, y_pred, sample_weight=sw)
    t_pred = torch.tensor(y_pred, requires_grad=True)
    k = getattr(keras.losses, name)(**kwargs)(
        torch.as_tensor(y_true), t_pred, sample_weight=None if sw is None else torch.as_tensor(sw))
    (k_grad,) = torch.autograd.grad(k, [t_pred])
    assert value == pytest.approx(float(k.detach()), rel=2e-5, abs=1e-6)
    np.testing.assert_allclose(grad, to_numpy(k_grad), rtol=2e-4, atol=1e-6)
    assert grad.dtype == np.float32


@pytest.mark.parametrize("fn", ["mean_absolute_percentage_error", "mean_squared_logarithmic_error",
                                "log_cosh", "kl_divergence", "poisson", "cosine_similarity",
                                "hinge", "squared_hinge", "categorical_hinge",
                                "binary_focal_crossentropy"])
def test_functions_match_keras(fn):
    keras = import_keras()
    import torch
    y_true = RNG.integers(0, 2, (3, 4, 5)).astype(np.float32)
    y_pred = RNG.uniform(0.05, 0.95, (3, 4, 5)).astype(np.float32)
    ours = getattr(losses, fn)(y_true, y_pred)
    theirs = to_numpy(getattr(keras.losses, fn)(torch.as_tensor(y_true), torch.as_tensor(y_pred)))
    assert ours.shape == theirs.shape == (3, 4)
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=1e-6)


def test_mask_matches_keras():
    keras = import_keras()
    import torch
    y_true, y_pred = RNG.standard_normal((3, 5, 2)), RNG.standard_normal((3, 5, 2))
    y_true, y_pred = y_true.astype(np.float32), y_pred.astype(np.float32)
    mask = RNG.random((3, 5)) > 0.4
    value, _ = losses.LogCosh().value_and_grad(y_true, y_pred, mask=mask)
    t = torch.as_tensor(y_pred)
    t._keras_mask = torch.as_tensor(mask)
    assert value == pytest.approx(float(keras.losses.LogCosh()(torch.as_tensor(y_true), t)),
                                  rel=1e-5)
