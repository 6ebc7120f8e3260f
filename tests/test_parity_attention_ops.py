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
    pm, out = _mha_parity(keras, kw, q, v, k,
                          keras_call=dict(call, attention_mask=torch.tensor(am)),
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
    for other in (np.zeros((2, 2, 5, 4), "float32"), np.zeros((1, 1, 5, 4), "float32")):
        with pytest.raises(ValueError, match=r"\[Attention\] query, value and key must agree "
                                             r"on the batch axes"):
            layers.Attention()([q[:, None], other])
    with pytest.raises(ValueError, match=r"\[Attention\] query, value and key must agree"):
        layers.AdditiveAttention()([q, q[:1]])
    for axes in ((), (1, 1), 0, 3):
        with pytest.raises(ValueError, match=r"\[MultiHeadAttention\] attention_axes must be "
                                             r"distinct axes"):
            layers.MultiHeadAttention(2, 3, attention_axes=axes)(q[:, None], q[:, None])


# -- ops against PyTorch (CPU) -------------------------------------------------------------------
def _tol_close(actual, expected, what, dtype, scale=1.0):
    rtol, atol = (2e-4, 2e-5) if np.dtype(dtype) == np.float32 else (1e-10, 1e-11)
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=rtol, atol=atol * scale, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("Lq,Lk,D,Dv,causal,masked,scale", [
    (1, 1, 1, 1, False, False, None), (47, 129, 33, 5, False, True, 0.3),
    (48, 49, 64, 65, True, False, None), (65, 63, 16, 16, True, True, 1.0),
    (129, 64, 8, 31, True, False, -0.7), (64, 1, 3, 8, False, True, 0.0)])
def test_attention_op_matches_torch_sdpa(dtype, Lq, Lk, D, Dv, causal, masked, scale):
    """Tile edges (48, 64 +- 1), Lq != Lk (top-left causal as torch's is_causal), D != Dv, masks
    that leave each row a key (torch gives NaN on empty rows, pyseq zeros), any scale.
    float32 with a negative scale and is_causal makes torch's CPU sdpa return NaN (torch 2.13):
    there the float64 torch result is the reference."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(Lq * 1000 + Lk)
    B, N = (1, 3) if Lq > 64 else (2, 1)
    q = rng.standard_normal((B, Lq, N, D)).astype(dtype)
    k = rng.standard_normal((B, Lk, N, D)).astype(dtype)[:, ::-1]   # non-contiguous
    v = rng.standard_normal((B, Lk, N, Dv)).astype(dtype)
    do = rng.standard_normal((B, Lq, N, Dv)).astype(dtype)
    allowed = np.tril(np.ones((Lq, Lk), bool)) if causal else np.ones((Lq, Lk), bool)
    km = am = None
    if masked:
        km = rng.random((B, Lk)) > 0.3
        am = rng.random((B, Lq, Lk)) > 0.3
        km[:, 0] = am[:, :, 0] = True
        allowed = allowed & km[:, None, :] & am
    o, saved = ops.attention_forward(q, k, v, scale=scale, causal=causal, key_mask=km, attn_mask=am)
    grads = ops.attention_backward(do, saved)
    t = [torch.tensor(a.transpose(0, 2, 1, 3).astype(np.float64), requires_grad=True)
         for a in (q, k, v)]
    mask = torch.tensor(np.broadcast_to(allowed, (B, Lq, Lk))[:, None].copy()) if masked else None
    to = torch.nn.functional.scaled_dot_product_attention(*t, attn_mask=mask, scale=scale,
                                                          is_causal=causal and not masked)
    tg = torch.autograd.grad(to, t, torch.tensor(do.transpose(0, 2, 1, 3).astype(np.float64)))
    back = lambda a: a.detach().numpy().transpose(0, 2, 1, 3)  # noqa: E731
    _tol_close(o, back(to), "o", dtype)
    for name, g, ref in zip(("dq", "dk", "dv"), grads, tg):
        _tol_close(g, back(ref), name, dtype, 5)


def _torch_rnn(torch, kind, I, H):
    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    return mod(I, H, batch_first=True).double()


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("reverse", [False, True])
def test_recurrent_ops_on_padded_batches_match_torch_packed_sequences(kind, reverse):
    """Right-padded masks (zero_output_for_mask) are torch's packed sequences, reverse is the
    sequence read backwards within its length; with initial states; outputs, final states and
    every gradient (Keras gate orders mapped to torch's: GRU z, r, h -> r, z, n)."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    rng = np.random.default_rng(8)
    B, T, I, H = 4, 7, 3, 5
    G = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    lengths = np.array([7, 3, 1, 5])
    mask = np.arange(T)[None] < lengths[:, None]
    x = rng.standard_normal((B, T, I))
    W = 0.5 * rng.standard_normal((I, G * H))
    U = 0.5 * rng.standard_normal((H, G * H))
    b = 0.5 * rng.standard_normal((2, 3 * H) if kind == "gru" else (G * H,))
    h0, c0 = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    dy = rng.standard_normal((B, T, H)) * mask[..., None]
    dh, dc = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    opt = dict(mask=mask, reverse=reverse, zero_output_for_mask=True)
    if kind == "lstm":
        y, hT, cT, saved = ops.lstm_forward(x, W, U, b, h0, c0, **opt)
        grads = ops.lstm_backward(dy, dh, dc, saved)
    else:
        fwd, bwd = (ops.gru_forward, ops.gru_backward) if kind == "gru" else \
            (ops.rnn_forward, ops.rnn_backward)
        y, hT, saved = fwd(x, W, U, b, h0, **opt)
        grads = bwd(dy, dh, saved)
    tx, tW, tU, tb, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, W, U, b, h0, c0))

    def order(m):  # Keras z, r, h -> torch r, z, n
        return torch.cat([m[..., H:2 * H], m[..., :H], m[..., 2 * H:]], -1) if kind == "gru" else m
    zeros = torch.zeros(G * H, dtype=torch.float64)
    bi, bh = (order(tb[0]), order(tb[1])) if kind == "gru" else (tb, zeros)
    params = {"weight_ih_l0": order(tW).T, "weight_hh_l0": order(tU).T,
              "bias_ih_l0": bi, "bias_hh_l0": bh}
    idx = torch.tensor([[(n - 1 - t) if reverse and t < n else t for t in range(T)]
                        for n in lengths])
    xin = torch.gather(tx, 1, idx[..., None].expand(B, T, I))
    state = (th[None], tc[None]) if kind == "lstm" else th[None]
    packed = pack_padded_sequence(xin, torch.tensor(lengths), batch_first=True,
                                  enforce_sorted=False)
    out, st = torch.func.functional_call(_torch_rnn(torch, kind, I, H), params, (packed, state))
    yt = torch.gather(pad_packed_sequence(out, batch_first=True, total_length=T)[0], 1,
                      idx[..., None].expand(B, T, H))
    hTt = st[0][0] if kind == "lstm" else st[0]
    loss = (yt * torch.tensor(dy)).sum() + (hTt * torch.tensor(dh)).sum()
    leaves = [tx, tW, tU, tb, th]
    if kind == "lstm":
        loss = loss + (st[1][0] * torch.tensor(dc)).sum()
        leaves.append(tc)
        _tol_close(cT, st[1][0].detach().numpy(), "c_T", np.float64)
    _tol_close(y, yt.detach().numpy(), "y", np.float64)
    _tol_close(hT, hTt.detach().numpy(), "h_T", np.float64)
    for i, (g, ref) in enumerate(zip(grads, torch.autograd.grad(loss, leaves))):
        _tol_close(g, ref.numpy(), f"gradient {i}", np.float64, 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T,K,stride,dilation,padding,groups", [
    (1, 1, 1, 1, "same", 1), (31, 5, 3, 2, "same", 3), (16, 3, 2, 4, "causal", 2),
    (64, 7, 1, 2, "valid", 1), (5, 2, 3, 1, "same", 1)])
def test_conv1d_and_pool_ops_match_torch(dtype, T, K, stride, dilation, padding, groups):
    """TensorFlow's "same" split (odd pad on the right), causal as left padding, stride and
    dilation together, groups; max/avg pooling with "same" windows clipped at the edges."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(T * 10 + K)
    B, C, Fo = 2, 2 * groups, 3 * groups
    x = rng.standard_normal((B, T, C)).astype(dtype)
    w = rng.standard_normal((K, C // groups, Fo)).astype(dtype)
    bias = rng.standard_normal(Fo).astype(dtype)
    span = dilation * (K - 1) + 1
    if padding == "valid":
        pads = (0, 0)
    elif padding == "causal":
        pads = (span - 1, 0)
    else:
        total = max((-(-T // stride) - 1) * stride + span - T, 0)
        pads = (total // 2, total - total // 2)
    y, saved = ops.conv1d_forward(x, w, bias, stride=stride, padding=padding, dilation=dilation,
                                  groups=groups)
    dy = rng.standard_normal(y.shape).astype(dtype)
    grads = ops.conv1d_backward(dy, saved)
    t = [torch.tensor(a, requires_grad=True) for a in
         (x.transpose(0, 2, 1).copy(), w.transpose(2, 1, 0).copy(), bias)]
    yt = F.conv1d(F.pad(t[0], pads), t[1], t[2], stride=stride, dilation=dilation, groups=groups)
    _tol_close(y, yt.detach().numpy().transpose(0, 2, 1), "conv y", dtype, 10)
    tg = torch.autograd.grad(yt, t, torch.tensor(dy.transpose(0, 2, 1).copy()))
    for name, g, ref in zip(("dx", "dkernel", "dbias"), grads,
                            (tg[0].numpy().transpose(0, 2, 1), tg[1].numpy().transpose(2, 1, 0),
                             tg[2].numpy())):
        _tol_close(g, ref, name, dtype, 10)
    # pooling, pool_size K and the same strides
    tx = torch.tensor(x.transpose(0, 2, 1).copy(), requires_grad=True)
    total = max((-(-T // stride) - 1) * stride + K - T, 0)
    pads = (total // 2, total - total // 2)
    ones = torch.ones((1, 1, T), dtype=tx.dtype)
    for kind in ("max", "avg"):
        y, saved = getattr(ops, f"{kind}_pool1d_forward")(x, K, strides=stride, padding="same")
        dy = rng.standard_normal(y.shape).astype(dtype)
        (dx,) = getattr(ops, f"{kind}_pool1d_backward")(dy, saved)
        if kind == "max":
            yt = F.max_pool1d(F.pad(tx, pads, value=-np.inf), K, stride)
        else:  # TensorFlow averages over the real steps of a clipped window
            yt = F.avg_pool1d(F.pad(tx, pads), K, stride) / F.avg_pool1d(F.pad(ones, pads), K,
                                                                          stride)
        _tol_close(y, yt.detach().numpy().transpose(0, 2, 1), f"{kind} pool y", dtype)
        (g,) = torch.autograd.grad(yt, tx, torch.tensor(dy.transpose(0, 2, 1).copy()))
        _tol_close(dx, g.numpy().transpose(0, 2, 1), f"{kind} pool dx", dtype)
