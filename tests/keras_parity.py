"""Keras parity for one layer call: outputs, input and weight gradients (torch autograd through
Keras's torch backend against pyseq's backward), weight names, shapes and count, the output
shape with a None batch axis, and the output mask."""

import numpy as np

from layer_checks import keras_or_skip, to_numpy


def _tol(dtype):
    # Keras computes some float64 layers partly in float32 (Maximum returns float32, normalize
    # clips with a float32 constant), so float64 parity is held to a float32-level tolerance;
    # float64 accuracy itself is checked by the finite-difference tests.
    return (2e-5, 2e-5) if np.dtype(dtype) == np.float32 else (1e-6, 1e-6)


def _close(actual, expected, what, dtype, scale=1.0):
    rtol, atol = _tol(dtype)
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def keras_parity(name, kwargs, inputs, *, masks=None, keras_kwargs=None, seed=0,
                 weight_scale=0.5, grad_scale=1.0, p_layer=None, k_layer=None):
    """Build ``layers.<name>(**kwargs)`` in pyseq and Keras, give both the same random weights,
    run them on ``inputs`` (an array or a list of arrays, all of one float dtype) with the Keras
    masks ``masks`` attached, and compare everything; returns the pyseq output."""
    keras = keras_or_skip()
    import torch
    from keras.src import backend as kb

    from pyseq import layers

    listed = isinstance(inputs, list)
    xs = inputs if listed else [inputs]
    dtype = xs[0].dtype.name
    ms = masks if isinstance(masks, list) else [masks] * len(xs) if masks is not None else \
        [None] * len(xs)
    kw = dict(kwargs, dtype=dtype)
    p = p_layer or getattr(layers, name)(**kw)
    k = k_layer or getattr(keras.layers, name)(**kw)

    def keras_inputs():
        ts = [torch.tensor(x, requires_grad=True) for x in xs]
        for t, m in zip(ts, ms):
            if m is not None:
                kb.set_keras_mask(t, torch.tensor(m))
        return ts

    call_kw = keras_kwargs or {}
    k(keras_inputs() if listed else keras_inputs()[0], **call_kw)
    p_mask = ms if listed else ms[0]
    p_mask = None if all(m is None for m in ms) else p_mask
    p(inputs, mask=p_mask, **call_kw)
    # weights: names, shapes, order, count; then the same random values in both
    assert [v.name.split("/")[-1] for v in p.weights] == [v.name for v in k.weights], name
    assert [tuple(v.shape) for v in p.weights] == [tuple(v.shape) for v in k.weights], name
    assert p.count_params() == k.count_params(), name
    rng = np.random.default_rng(seed)
    w = [(weight_scale * rng.standard_normal(v.shape)).astype(dtype) for v in p.weights]
    p.set_weights(w)
    for v, a in zip(k.weights, w):
        v.assign(a)
    # forward and backward
    ts = keras_inputs()
    k_out = k(ts if listed else ts[0], **call_kw)
    p_out, cache = p.forward(inputs, training=False, mask=p_mask, **call_kw)
    what = f"{name}({kwargs})"
    several = isinstance(p_out, (list, tuple))  # (outputs, attention scores)
    k_outs, p_outs = (list(k_out), list(p_out)) if several else ([k_out], [p_out])
    d_outs = []
    for j, (po, ko) in enumerate(zip(p_outs, k_outs)):
        _close(po, to_numpy(ko), f"{what} outputs[{j}]", dtype)
        d_outs.append(rng.standard_normal(np.shape(po)).astype(dtype))
    sum(torch.sum(ko * torch.tensor(d)) for ko, d in zip(k_outs, d_outs)).backward()
    d_args, grads = p.backward(cache, d_outs if several else d_outs[0])
    dx = d_args.get("inputs")
    dxs = dx if listed else [dx]
    for i, t in enumerate(ts):
        expected = np.zeros(xs[i].shape) if t.grad is None else to_numpy(t.grad)
        got = np.zeros(xs[i].shape) if dxs is None or dxs[i] is None else dxs[i]
        _close(got, expected, f"{what} d_inputs[{i}]", dtype, grad_scale)
    by_var = {id(v): g for v, g in grads}
    for pv, kv in zip(p.trainable_weights, k.trainable_weights):
        expected = kv.value.grad
        expected = np.zeros(pv.shape) if expected is None else to_numpy(expected)
        _close(by_var[id(pv)], expected, f"{what} d{pv.name}", dtype, grad_scale)
    # symbolic output shape (None batch) and mask
    shapes = [(None,) + x.shape[1:] for x in xs]
    shape_in = shapes if listed else shapes[0]
    p_shape = p.compute_output_shape(shape_in, **call_kw)
    p_shapes = [tuple(a) for a in p_shape] if several else [tuple(p_shape)]
    assert p_shapes == [(None,) + tuple(ko.shape[1:]) for ko in k_outs], what
    if not several:
        assert tuple(p_shape) == tuple(k.compute_output_shape(shape_in)), what
    p_masks = p.compute_mask(inputs, p_mask, **call_kw)
    p_masks = list(p_masks) if several and p_masks is not None else \
        [p_masks] * len(k_outs) if several else [p_masks]
    for j, (ko, pm) in enumerate(zip(k_outs, p_masks)):
        km = kb.get_keras_mask(ko)
        if km is None:
            assert pm is None, f"{what}: pyseq passes a mask on output {j}, Keras does not"
        else:
            assert pm is not None, f"{what}: Keras passes a mask on output {j}, pyseq does not"
            np.testing.assert_array_equal(np.broadcast_to(pm, km.shape), to_numpy(km),
                                          err_msg=f"{what} mask")
    return p_out
