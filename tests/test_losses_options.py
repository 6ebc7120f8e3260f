"""Loss options beyond the defaults, as Keras 3 defines them: the reductions ("mean" is
sum_over_batch_size; "mean_with_sample_weight" divides by the weights' sum; masks rescale only
the averaging reductions), ``axis`` for the cross-entropies, and ``ignore_class``. NumPy-only
checks by hand and by finite differences, and values and gradients against Keras."""

import numpy as np
import pytest

from layers_helpers import import_keras, numeric_grad, to_numpy
from pyseq import losses

RNG = np.random.default_rng(17)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_reductions_by_hand():
    y, p = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    per = np.mean((p - y) ** 2, axis=-1)
    sw = np.array([1.0, 0.0, 2.0, 0.5])
    mse = losses.MeanSquaredError
    assert mse(reduction="mean")(y, p, sample_weight=sw) == pytest.approx((per * sw).sum() / 4)
    assert mse(reduction="mean_with_sample_weight")(y, p, sample_weight=sw) == \
        pytest.approx((per * sw).sum() / sw.sum())
    assert mse(reduction="mean_with_sample_weight")(y, p) == pytest.approx(per.mean())
    mask = np.array([True, False, True, True])
    # masks: the averaging reductions average over valid entries; "sum" just drops the rest
    assert mse()(y, p, mask=mask) == pytest.approx(per[mask].mean())
    assert mse(reduction="mean")(y, p, mask=mask) == pytest.approx(per[mask].mean())
    assert mse(reduction="sum")(y, p, mask=mask) == pytest.approx(per[mask].sum())
    assert mse(reduction="mean_with_sample_weight")(y, p, sample_weight=sw, mask=mask) == \
        pytest.approx((per * sw * mask).sum() / (sw * mask).sum())
    with pytest.raises(ValueError, match=r"\[MeanSquaredError\] reduction must be one of"):
        mse(reduction="average")


@pytest.mark.parametrize("reduction", ["sum", "mean", "mean_with_sample_weight"])
def test_reduction_gradients_by_finite_differences(reduction):
    y = RNG.standard_normal((3, 4))
    p = RNG.standard_normal((3, 4))
    sw = RNG.uniform(0.5, 2.0, 3)
    mask = np.array([True, False, True])
    loss = losses.Huber(delta=0.8, reduction=reduction)
    _, grad = loss.value_and_grad(y, p, sample_weight=sw, mask=mask)
    num = numeric_grad(lambda: loss(y, p, sample_weight=sw, mask=mask), p)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)


def test_axis_moves_the_class_axis():
    logits = RNG.standard_normal((2, 5, 3))          # classes on axis 1
    labels = RNG.integers(0, 5, (2, 3))
    onehot = np.moveaxis(np.eye(5)[labels], -1, 1)
    expected = -np.log(np.take_along_axis(_softmax(logits, 1), labels[:, None], 1)).mean()
    cce = losses.CategoricalCrossentropy(from_logits=True, axis=1)
    scce = losses.SparseCategoricalCrossentropy(from_logits=True, axis=1)
    assert cce(onehot, logits) == pytest.approx(expected)
    assert scce(labels, logits) == pytest.approx(expected)
    for loss, y in ((cce, onehot), (scce, labels)):
        _, grad = loss.value_and_grad(y, logits)
        np.testing.assert_allclose(grad, numeric_grad(lambda: loss(y, logits), logits),
                                   rtol=1e-6, atol=1e-8)
    # BCE averages over its axis
    y = RNG.integers(0, 2, (2, 4, 3)).astype(np.float64)
    q = RNG.uniform(0.1, 0.9, (2, 4, 3))
    bce = losses.BinaryCrossentropy(axis=1, reduction=None)
    per = -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=1)
    np.testing.assert_allclose(bce(y, q), per, rtol=1e-6)
    bce = losses.BinaryCrossentropy(axis=1)
    _, grad = bce.value_and_grad(y, q)
    np.testing.assert_allclose(grad, numeric_grad(lambda: bce(y, q), q), rtol=1e-5, atol=1e-8)
    with pytest.raises(TypeError, match=r"\[categorical_crossentropy\] axis must be an int"):
        losses.CategoricalCrossentropy(axis=(1,))
    with pytest.raises(ValueError, match=r"axis 3 is out of range"):
        losses.CategoricalCrossentropy(axis=3)(onehot, logits)


def test_ignore_class_masks_those_labels():
    logits = RNG.standard_normal((3, 4, 5))
    labels = RNG.integers(0, 5, (3, 4))
    labels[0, :2] = -1
    labels[2, 3] = -1
    keep = labels != -1
    per = -np.log(np.take_along_axis(_softmax(logits), np.where(keep, labels, 0)[..., None],
                                     -1)[..., 0])
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    assert loss(labels, logits) == pytest.approx(per[keep].mean())
    _, grad = loss.value_and_grad(labels, logits)
    assert not grad[~keep].any()
    np.testing.assert_allclose(grad, numeric_grad(lambda: loss(labels, logits), logits),
                               rtol=1e-6, atol=1e-8)
    none = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1,
                                                reduction=None)
    np.testing.assert_allclose(none(labels, logits), np.where(keep, per, 0), rtol=1e-6)
    with pytest.raises(TypeError, match="ignore_class must be an int"):
        losses.SparseCategoricalCrossentropy(ignore_class=0.5)


KERAS_CASES = [
    ("MeanSquaredError", {"reduction": "mean"}, "reg"),
    ("MeanAbsoluteError", {"reduction": "mean_with_sample_weight"}, "reg"),
    ("Huber", {"reduction": "sum"}, "reg"),
    ("CategoricalCrossentropy", {"from_logits": True, "axis": 1}, "onehot_axis1"),
    # (label_smoothing with axis != -1 is left out: Keras counts the classes on the last axis)
    ("CategoricalCrossentropy", {"axis": 1, "reduction": "mean_with_sample_weight"},
     "probs_axis1"),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2}, "sparse"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 0, "reduction": "sum"}, "sparse_probs"),
    ("BinaryCrossentropy", {"axis": 1, "from_logits": True}, "binary"),
    ("BinaryCrossentropy", {"axis": 1, "label_smoothing": 0.2,
                            "reduction": "mean_with_sample_weight"}, "binary_probs"),
]


def _data(kind):
    B, C, T = 3, 5, 4
    logits = RNG.standard_normal((B, C, T)).astype(np.float32)
    if kind == "reg":
        return RNG.standard_normal((B, T)).astype(np.float32), logits[:, 0]
    if kind in ("onehot_axis1", "probs_axis1"):
        y = np.moveaxis(np.eye(C, dtype=np.float32)[RNG.integers(0, C, (B, T))], -1, 1)
        return y, (logits if kind == "onehot_axis1" else _softmax(logits, 1))
    if kind in ("sparse", "sparse_probs"):
        x = np.moveaxis(logits, 1, -1).copy()
        return RNG.integers(0, C, (B, T)), (x if kind == "sparse" else _softmax(x))
    y = RNG.integers(0, 2, (B, C, T)).astype(np.float32)
    return y, (logits if kind == "binary" else 1 / (1 + np.exp(-logits)))


@pytest.mark.parametrize("name,kwargs,kind", KERAS_CASES)
def test_options_match_keras(name, kwargs, kind):
    keras = import_keras()
    import torch
    y_true, y_pred = _data(kind)
    values_shape = y_pred.shape[:1] + y_pred.shape[2:] if kwargs.get("axis") == 1 else \
        y_pred.shape[:-1]
    sw = RNG.uniform(0.2, 2.0, values_shape).astype(np.float32)
    ours = getattr(losses, name)(**kwargs)
    value, grad = ours.value_and_grad(y_true, y_pred, sample_weight=sw)
    t_pred = torch.tensor(y_pred, requires_grad=True)
    # a copy: with a mask (ignore_class) Keras scales the weights tensor in place
    k = getattr(keras.losses, name)(**kwargs)(torch.as_tensor(y_true), t_pred,
                                              sample_weight=torch.tensor(sw))
    (k_grad,) = torch.autograd.grad(k, [t_pred])
    assert value == pytest.approx(float(k.detach()), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(grad, to_numpy(k_grad), rtol=1e-4, atol=1e-6)
