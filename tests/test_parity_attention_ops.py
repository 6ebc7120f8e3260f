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
