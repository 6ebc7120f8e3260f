"""Helpers for the sequence-layer tests: finite-difference checks of a layer's backward, Keras."""

import os

import numpy as np
import pytest

import pyseq


# Keras 3.15's Variable.numpy() calls np.array on an object whose __array__ lacks NumPy 2's copy
# keyword; NumPy warns, and the suite runs with warnings as errors.
KERAS_WARNINGS = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def keras_or_skip():
    """keras with the torch backend, or a visible skip."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is not installed: no Keras parity check")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on {keras.backend.backend()}, these checks expect torch")
    return keras


def to_numpy(t):
    """A Keras (torch) output, or a nesting of them, as NumPy."""
    if isinstance(t, (list, tuple)):
        return [to_numpy(a) for a in t]
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def _flatten(tree):
    if tree is None:
        return []
    if isinstance(tree, (list, tuple)):
        return [a for t in tree for a in _flatten(t)]
    return [tree]


def _loss(outputs, weights):
    return sum(float(np.sum(o * w)) for o, w in zip(_flatten(outputs), weights))


def _pick(size, rng, limit):
    return np.arange(size) if size <= limit else rng.choice(size, limit, replace=False)


def check_layer_gradients(layer, inputs, *, mask=None, training=False, seed=0, limit=12,
                          eps=1e-6, tol=1e-6, **call_kwargs):
    """Compare ``layer.backward`` with central differences of loss = sum(outputs * w).

    The layer must be float64. Checks the gradient of every float input (``inputs`` and the
    tensor call arguments that backward returns), and of every weight, on up to ``limit``
    entries each. Returns the analytic (d_args, grads) for further checks.
    """
    # Tiny shapes gain nothing from a thread team, and on a busy machine each of the many calls
    # below would wait on a spinning partner.
    threads = pyseq.get_num_threads()
    pyseq.set_num_threads(1)
    try:
        return _check(layer, inputs, mask, training, seed, limit, eps, tol, call_kwargs)
    finally:
        pyseq.set_num_threads(threads)


def _check(layer, inputs, mask, training, seed, limit, eps, tol, call_kwargs):
    rng = np.random.default_rng(seed)

    def run():
        out, cache = layer.forward(inputs, training=training, mask=mask, **call_kwargs)
        return out, cache

    out, cache = run()
    flat = _flatten(out)
    weights = [rng.standard_normal(np.shape(o)) for o in flat]
    # d_outputs with the nesting of the outputs
    it = iter(weights)

    def nest(tree):
        if isinstance(tree, (list, tuple)):
            return [nest(t) for t in tree]
        return next(it)
    d_outputs = nest(out)
    d_args, grads = layer.backward(cache, d_outputs)

    def numeric(array):
        est = {}
        flat_view = array.reshape(-1)
        for i in _pick(flat_view.size, rng, limit):
            keep = flat_view[i]
            flat_view[i] = keep + eps
            up = _loss(run()[0], weights)
            flat_view[i] = keep - eps
            down = _loss(run()[0], weights)
            flat_view[i] = keep
            est[int(i)] = (up - down) / (2 * eps)
        return est

    def compare(name, analytic, array):
        analytic = np.asarray(analytic, dtype=np.float64).reshape(-1)
        est = numeric(array)
        scale = max(1.0, float(np.max(np.abs(analytic))) if analytic.size else 1.0)
        for i, value in est.items():
            assert abs(analytic[i] - value) <= tol * scale + 1e-5 * abs(value), (
                f"{layer.name}: d{name}[{i}] analytic {analytic[i]!r} vs numeric {value!r}")

    # inputs (single array or list), then tensor keywords
    arg_arrays = {"inputs": inputs}
    arg_arrays.update(call_kwargs)
    for name, grad in d_args.items():
        value = arg_arrays[name]
        if isinstance(value, (list, tuple)):
            for j, (g, a) in enumerate(zip(grad, value)):
                if g is not None and np.issubdtype(np.asarray(a).dtype, np.floating):
                    compare(f"{name}[{j}]", g, a)
        elif grad is not None and np.issubdtype(np.asarray(value).dtype, np.floating):
            compare(name, grad, value)
    seen = set()
    for var, g in grads:
        seen.add(id(var))
        compare(var.name, g, var.value)
    missing = [v.name for v in layer.trainable_weights if id(v) not in seen]
    assert not missing, f"{layer.name}: no gradient for {missing}"
    return d_args, grads
