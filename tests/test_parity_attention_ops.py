"""Independent parity probes, locked in: the attention layers against Keras 3 (torch backend) and
the attention, recurrent, conv and pool ops against PyTorch (CPU), outputs and gradients."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

from pyseq import layers, ops

from layer_checks import KERAS_WARNINGS, keras_or_skip

pytestmark = [KERAS_WARNINGS]


def _close(actual, expected, what, dtype, scale=1.0):
    # Keras computes parts of its float64 attention in float32: a float32-level bar for both
    rtol, atol = (1e-4, 1e-5) if np.dtype(dtype) == np.float32 else (2e-6, 2e-6)
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def _mha_pair(keras, kw, q, v, k=None, seed=0):
    """A Keras and a pyseq MultiHeadAttention with the same random weights."""
    km = keras.layers.MultiHeadAttention(**kw, dtype=q.dtype.name)
    pm = layers.MultiHeadAttention(**kw, dtype=q.dtype.name)
    km(q, v) if k is None else km(q, v, k)
    pm(q, v) if k is None else pm(q, v, k)
    assert [tuple(w.shape) for w in km.weights] == [tuple(w.shape) for w in pm.weights]
    assert km.count_params() == pm.count_params()
    rng = np.random.default_rng(seed)
    w = [(0.5 * rng.standard_normal(a.shape)).astype(q.dtype) for a in km.get_weights()]
    km.set_weights(w)
    pm.set_weights(w)
    return km, pm


def _mha_parity(keras, kw, q, v, k=None, *, keras_call=None, pyseq_call=None, seed=0):
    """Outputs, input gradients and weight gradients of one call, Keras against pyseq."""
    import torch
    km, pm = _mha_pair(keras, kw, q, v, k, seed)
    ts = [torch.tensor(a, requires_grad=True) for a in ([q, v] if k is None else [q, v, k])]
    ko = km(*ts, **(keras_call or {}))
    kwargs = dict(pyseq_call or {}, value=v)
    if k is not None:
        kwargs["key"] = k
    po, cache = pm.forward(q, **kwargs)
    kos, pos = (list(ko), list(po)) if isinstance(po, (list, tuple)) else ([ko], [po])
    rng = np.random.default_rng(seed + 1)
    douts = []
    for j, (a, b) in enumerate(zip(pos, kos)):
        _close(a, b.detach().numpy(), f"{kw} output {j}", q.dtype)
        douts.append(rng.standard_normal(np.shape(a)).astype(q.dtype))
    sum((o * torch.tensor(d)).sum() for o, d in zip(kos, douts)).backward()
    d_args, grads = pm.backward(cache, douts if len(douts) > 1 else douts[0])
    names = ["inputs", "value", "key"]
    for name, t in zip(names, ts):
        _close(d_args[name], t.grad.numpy(), f"{kw} d{name}", q.dtype, 10)
    by_var = {id(var): g for var, g in grads}
    for pv, kv in zip(pm.trainable_weights, km.trainable_weights):
        _close(by_var[id(pv)], kv.value.grad.numpy(), f"{kw} d{kv.path}", q.dtype, 10)
    return pm, po


# -- MultiHeadAttention --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scores", [False, True])
def test_mha_attention_mask_with_a_head_axis_matches_keras(dtype, scores):
    """A (B, 1, T, S) attention_mask (one mask for all heads, the usual 4-D form) is what Keras
    takes as is; pyseq refused it."""
    keras = keras_or_skip()
    import torch
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 5, 8)).astype(dtype)
    v = rng.standard_normal((2, 6, 7)).astype(dtype)
    am = rng.random((2, 1, 5, 6)) > 0.3
    am[..., 0] = True
    call = dict(return_attention_scores=scores, use_causal_mask=scores)
    _mha_parity(keras, dict(num_heads=2, key_dim=4), q, v,
                keras_call=dict(call, attention_mask=torch.tensor(am)),
                pyseq_call=dict(call, attention_mask=am))


@pytest.mark.parametrize("output_shape", [0, (), []])
def test_mha_false_output_shape_is_the_query_size_as_in_keras(output_shape):
    keras = keras_or_skip()
    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 3, 6)).astype("float32")
    v = rng.standard_normal((2, 4, 5)).astype("float32")
    pm, y = _mha_parity(keras, dict(num_heads=2, key_dim=3, output_shape=output_shape), q, v)
    assert y.shape == (2, 3, 6)
    layers.MultiHeadAttention.from_config(pm.get_config())(q, v)


def test_mha_step_masks_of_the_wrong_shape_name_the_layer():
    x = np.zeros((2, 5, 4), "float32")
    mha = layers.MultiHeadAttention(2, 3)
    for name, m in (("query_mask", np.ones((2, 6), bool)), ("value_mask", np.ones((2, 4), bool)),
                    ("key_mask", np.ones((1, 5), bool))):
        with pytest.raises(ValueError, match=rf"\[MultiHeadAttention\] {name} must be \(batch, "
                                             rf"steps\) = \(2, 5\), got"):
            mha(x, x, **{name: m})


@pytest.mark.parametrize("axes", [None, (1,), (2,), (2, 1), -3])
@pytest.mark.parametrize("scores", [False, True])
def test_mha_rank4_inputs_and_attention_axes_match_keras(axes, scores):
    """Keras attends over any axes of rank-4 (and higher) inputs; pyseq took rank 3 only. The
    key differs from the query on the attention axes; the attention_mask has Keras's layout."""
    keras = keras_or_skip()
    import torch
    rng = np.random.default_rng(2)
    ax = (1, 2) if axes is None else tuple(a + 4 if a < 0 else a for a in
                                           ((axes,) if isinstance(axes, int) else axes))
    q = rng.standard_normal((2, 3, 4, 5)).astype("float64")
    vs = [2, 3, 4, 6]
    for a in ax:
        vs[a] += 2
    v = rng.standard_normal(vs).astype("float64")
    k = rng.standard_normal(vs[:-1] + [7]).astype("float64")
    other = [q.shape[a] for a in (1, 2) if a not in ax]
    am = rng.random((2, *other, *(q.shape[a] for a in ax), *(vs[a] for a in ax))) > 0.3
    kw = dict(num_heads=2, key_dim=3, value_dim=2, output_shape=(2, 3), attention_axes=axes)
    call = dict(return_attention_scores=scores)
    pm, out = _mha_parity(keras, kw, q, v, k, keras_call=dict(call, attention_mask=torch.tensor(am)),
                          pyseq_call=dict(call, attention_mask=am))
    shapes = pm.compute_output_shape((None, *q.shape[1:]), value=(None, *v.shape[1:]),
                                     key=(None, *k.shape[1:]), return_attention_scores=scores)
    outs = out if scores else [out]
    shapes = shapes if scores else [shapes]
    assert [tuple(s[1:]) for s in shapes] == [a.shape[1:] for a in outs]


def test_mha_rank4_step_masks_and_gate_match_keras():
    """Attention over the last axis before the features: the query's Keras mask and
    value_mask act per row of the other axes, as in Keras."""
    keras = keras_or_skip()
    import torch
    from keras.src import backend as kb
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 3, 4, 5)).astype("float32")
    v = rng.standard_normal((2, 3, 6, 6)).astype("float32")
    qm = rng.random((2, 3, 4)) > 0.3
    vm = rng.random((2, 3, 6)) > 0.3
    vm[..., 0] = True
    km, pm = _mha_pair(keras, dict(num_heads=2, key_dim=3, attention_axes=(2,), use_gate=True),
                       q, v)
    tq = torch.tensor(q)
    kb.set_keras_mask(tq, torch.tensor(qm))
    ko = km(tq, torch.tensor(v), value_mask=torch.tensor(vm)).detach().numpy()
    po = pm(q, v, query_mask=qm, value_mask=vm)
    _close(po, ko, "rank-4 masked output", "float32")


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("scores", [False, True])
def test_mha_per_head_attention_mask_matches_keras(causal, scores):
    """A (B, N, T, S) attention_mask, one mask per head (Keras hands it to its softmax or to
    torch's sdpa as is); pyseq refused it."""
    keras = keras_or_skip()
    import torch
    rng = np.random.default_rng(4)
    q = rng.standard_normal((2, 5, 8)).astype("float32")
    v = rng.standard_normal((2, 6, 7)).astype("float32")
    am = rng.random((2, 3, 5, 6)) > 0.3
    am[..., 0] = True
    if scores:
        # a row without keys in one head only (Keras's explicit softmax; its fused path is the
        # known difference in gradients listed in test_mha_rows_without_keys_keras_gradient)
        am[1, 2, 3] = False
    call = dict(return_attention_scores=scores, use_causal_mask=causal)
    _mha_parity(keras, dict(num_heads=3, key_dim=2), q, v,
                keras_call=dict(call, attention_mask=torch.tensor(am)),
                pyseq_call=dict(call, attention_mask=am))


def test_mha_rank4_gradients_match_finite_differences():
    from layer_checks import check_layer_gradients
    rng = np.random.default_rng(5)
    q = rng.standard_normal((2, 2, 3, 4))
    v = rng.standard_normal((2, 2, 4, 3))
    layer = layers.MultiHeadAttention(2, 2, attention_axes=(2,), dtype="float64")
    layer(q, v)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    am = rng.random((2, 2, 3, 4)) > 0.3
    check_layer_gradients(layer, q, value=v, attention_mask=am, return_attention_scores=True)
    with pytest.raises(ValueError, match=r"\[MultiHeadAttention\] use_causal_mask and "
                                         r"sliding_window need rank-3 inputs"):
        layer(q, v, use_causal_mask=True)
    with pytest.raises(ValueError, match=r"\[MultiHeadAttention\] attention_mask must broadcast"):
        layer(q, v, attention_mask=np.ones((2, 2, 3, 5), bool))


@pytest.mark.xfail(strict=True, reason=(
    "Keras (torch backend, CPU) on a row whose keys are all masked: its forward is the mean of "
    "the values (pyseq matches), but torch's fused sdpa backward loses log(Lk) in the "
    "log-sum-exp of the finite large negative, takes each weight as 1, and returns Lk times the "
    "softmax gradient; pyseq keeps the derivative of its forward (tests/test_compat_layers.py "
    "checks it against finite differences)"))
def test_mha_rows_without_keys_keras_gradient():
    keras = keras_or_skip()
    import torch
    rng = np.random.default_rng(6)
    q = rng.standard_normal((2, 4, 6)).astype("float64")
    v = rng.standard_normal((2, 5, 6)).astype("float64")
    vm = np.ones((2, 5), bool)
    vm[1] = False
    _mha_parity(keras, dict(num_heads=2, key_dim=3), q, v,
                keras_call=dict(value_mask=torch.tensor(vm)), pyseq_call=dict(value_mask=vm))


# -- Attention, AdditiveAttention ----------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs", [("Attention", dict(use_scale=True)),
                                         ("Attention", dict(score_mode="concat")),
                                         ("AdditiveAttention", dict())])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_with_more_batch_axes_matches_keras(name, kwargs, masked):
    """(batch, heads, steps, dim) inputs: Keras's matmuls take the extra batch axis; pyseq took
    rank 3 only. (Keras fails on a value mask there unless use_causal_mask expands it.)"""
    from keras_parity import keras_parity
    rng = np.random.default_rng(7)
    q = rng.standard_normal((2, 3, 5, 4)).astype("float32")
    v = rng.standard_normal((2, 3, 6, 4)).astype("float32")
    k = rng.standard_normal((2, 3, 6, 4)).astype("float32")
    masks = None
    if masked:
        qm = rng.random((2, 3, 5)) > 0.3
        vm = rng.random((2, 3, 6)) > 0.3
        vm[..., 0] = True
        masks = [qm, vm, vm]
    out = keras_parity(name, kwargs, [q, v, k], masks=masks,
                       keras_kwargs=dict(use_causal_mask=True, return_attention_scores=True))
    assert out[0].shape == (2, 3, 5, 4) and out[1].shape == (2, 3, 5, 6)


def test_attention_mask_shapes_are_checked():
    q = np.zeros((2, 5, 4), "float32")
    with pytest.raises(ValueError, match=r"\[Attention\] query_mask must be \(batch, steps\)"):
        layers.Attention()([q, q], mask=[np.ones((2, 4), bool), None])
    with pytest.raises(ValueError, match=r"\[Attention\] query, value and key must agree"):
        layers.Attention()([q[:, None], np.zeros((2, 2, 5, 4), "float32")])
