"""Helpers for the layer / model tests: Keras (torch backend) as an optional oracle, and float64
finite-difference checks of a layer's backward."""

import os

import numpy as np
import pytest


def import_keras():
    """keras 3 on the torch backend, or skip the test with the reason."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if os.environ["KERAS_BACKEND"] != "torch":
        pytest.skip(f"KERAS_BACKEND={os.environ['KERAS_BACKEND']}; these comparisons use torch")
    try:
        import keras
    except Exception as exc:  # ImportError, or a backend that fails to load
        pytest.skip(f"keras is not importable ({type(exc).__name__}: {exc}); Keras comparisons "
                    "skipped")
    return keras


def to_numpy(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def keras_weights(obj):
    """A Keras layer's or model's weights as NumPy arrays (Keras's own get_weights() trips a
    NumPy 2 DeprecationWarning in keras 3.15, an error under this suite's warning filter)."""
    return [to_numpy(v.value).copy() for v in obj.weights]


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to the float64 array x, perturbed in
    place entry by entry (through its own strides: a reshape of a non-contiguous x would be a
    copy, and f() would never see the perturbation)."""
    g = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def _assert_grad(actual, expected, what, rtol=1e-5, atol=1e-7):
    actual = np.asarray(actual, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    err = np.max(np.abs(actual - expected)) if expected.size else 0.0
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert err <= atol * scale + rtol * np.max(np.abs(expected), initial=0), \
        f"{what}: max error {err:.3g} (scale {scale:.3g})\nactual={actual}\nexpected={expected}"


def check_layer_gradients(layer, inputs, seed=0, training=False, mask=None, input_keys=None,
                          **call_kwargs):
    """Compare ``layer.backward`` against central differences of sum(outputs * d_outputs) for
    the float inputs (``inputs`` may be a list) and every weight. The layer must be float64."""
    rng = np.random.default_rng(seed)
    layer._maybe_build(_shapes(inputs))
    outputs, cache = layer.forward(inputs, training=training, mask=mask, **call_kwargs)
    flat_out = outputs if isinstance(outputs, list) else [outputs]
    d_out = [rng.standard_normal(o.shape) for o in flat_out]

    def f():
        out, _ = layer.forward(inputs, training=training, mask=mask, **call_kwargs)
        out = out if isinstance(out, list) else [out]
        return float(sum(np.sum(o * d) for o, d in zip(out, d_out)))

    d_args, grads = layer.backward(cache, d_out if isinstance(outputs, list) else d_out[0])
    dx = d_args.get("inputs")
    xs = inputs if isinstance(inputs, list) else [inputs]
    dxs = dx if isinstance(inputs, list) else [dx]
    for i, x in enumerate(xs):
        if isinstance(x, np.ndarray) and x.dtype == np.float64:
            expected = numeric_grad(f, x)
            got = dxs[i] if dxs is not None and dxs[i] is not None else np.zeros_like(x)
            _assert_grad(got, expected, f"{layer.name} d_inputs[{i}]")
    for key, value in call_kwargs.items():
        vals = value if isinstance(value, list) else [value]
        if not all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in vals):
            continue
        got = d_args.get(key)
        got = got if isinstance(value, list) else [got]
        for j, v in enumerate(vals):
            _assert_grad(got[j] if got is not None and got[j] is not None else np.zeros_like(v),
                         numeric_grad(f, v), f"{layer.name} d_{key}[{j}]")
    by_var = {id(v): g for v, g in grads}
    for var in layer.trainable_weights:
        expected = numeric_grad(f, var.value)
        got = by_var.get(id(var), np.zeros_like(var.value))
        _assert_grad(got, expected, f"{layer.name} d{var.name}")
    return outputs


def _shapes(inputs):
    if isinstance(inputs, list):
        return [tuple(np.shape(x)) for x in inputs]
    return tuple(np.shape(inputs))
