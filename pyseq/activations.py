"""Activations by Keras name, each with the derivative the layers' backward passes need.

``get(identifier)`` returns an :class:`Activation`: call it on an array for the forward value;
``backward(x, y, dy)`` gives dL/dx from the input x, the output y = f(x) and dL/dy. The module
functions (``relu``, ``softmax`` ...) are the forward values alone, as in ``keras.activations``.
"""

import math

import numpy as np


def _sigmoid(x):
    # Split by sign so that exp never overflows.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _softplus(x):
    return np.logaddexp(0.0, x).astype(x.dtype, copy=False)


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805
_erf_exact = np.vectorize(math.erf, otypes=[np.float64])


def _erf_as(x):
    # Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7: within float32's resolution, vectorised.
    a = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 +
                                                                           t * 1.061405429))))
    return np.copysign(1.0 - poly * np.exp(-a * a), x)


_erf_scipy = False  # not looked up yet


def _scipy_erf():
    # SciPy's erf when it is installed (not a dependency), imported at the first exact gelu only:
    # importing SciPy loads its own OpenBLAS, whose thread pool pyseq has no use for.
    global _erf_scipy
    if _erf_scipy is False:
        try:
            from scipy.special import erf as _erf_scipy
        except ImportError:  # pragma: no cover - depends on the environment
            _erf_scipy = None
    return _erf_scipy


def _erf(x):
    """erf without per-element Python: SciPy's when present, else a float32-accurate
    approximation for float32 inputs (float64 inputs keep math.erf's exact values)."""
    if _scipy_erf() is not None:
        return _erf_scipy(x)
    if x.dtype == np.float32:
        return _erf_as(x)
    return _erf_exact(x)


class Activation:
    """A named element-wise (or last-axis, for softmax) function with its derivative."""

    def __init__(self, name, forward, backward):
        self.__name__ = self.name = name
        self._forward = forward
        self._backward = backward

    def __call__(self, x):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype("float32")
        return self._forward(x)

    def backward(self, x, y, dy):
        """dL/dx from the input ``x``, the output ``y`` and dL/dy."""
        return self._backward(x, y, dy)

    def __repr__(self):
        return f"<activation {self.name}>"


def _gelu_forward(x):
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype, copy=False)


def _gelu_backward(x, y, dy):
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return (dy * (cdf + x * pdf)).astype(x.dtype, copy=False)


def _softmax_backward(x, y, dy):
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def _elu_forward(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def _selu_forward(x):
    return (_SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))
            ).astype(x.dtype, copy=False)


def _hard_sigmoid_forward(x):
    # Keras 3: relu6(x + 3) / 6
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0).astype(x.dtype, copy=False)


_TABLE = {
    "linear": Activation("linear", lambda x: x, lambda x, y, dy: dy),
    "relu": Activation("relu", lambda x: np.maximum(x, 0),
                       lambda x, y, dy: dy * (x > 0)),
    "sigmoid": Activation("sigmoid", _sigmoid, lambda x, y, dy: dy * y * (1 - y)),
    "tanh": Activation("tanh", np.tanh, lambda x, y, dy: dy * (1 - y * y)),
    "softmax": Activation("softmax", _softmax, _softmax_backward),
    "log_softmax": Activation(
        "log_softmax", lambda x: x - np.max(x, -1, keepdims=True) - np.log(
            np.sum(np.exp(x - np.max(x, -1, keepdims=True)), -1, keepdims=True)),
        lambda x, y, dy: dy - np.exp(y) * np.sum(dy, -1, keepdims=True)),
    "softplus": Activation("softplus", _softplus, lambda x, y, dy: dy * _sigmoid(x)),
    "softsign": Activation("softsign", lambda x: x / (1 + np.abs(x)),
                           lambda x, y, dy: dy / (1 + np.abs(x)) ** 2),
    "swish": Activation("silu", lambda x: x * _sigmoid(x),
                        lambda x, y, dy: dy * (_sigmoid(x) * (1 + x * (1 - _sigmoid(x))))),
    "elu": Activation("elu", _elu_forward,
                      lambda x, y, dy: dy * np.where(x > 0, 1, y + 1)),
    "selu": Activation("selu", _selu_forward,
                       lambda x, y, dy: dy * np.where(x > 0, _SELU_SCALE, y + _SELU_SCALE *
                                                      _SELU_ALPHA)),
    "gelu": Activation("gelu", _gelu_forward, _gelu_backward),
    "exponential": Activation("exponential", np.exp, lambda x, y, dy: dy * y),
    "hard_sigmoid": Activation("hard_sigmoid", _hard_sigmoid_forward,
                               lambda x, y, dy: dy * ((x > -3) & (x < 3)) / 6.0),
}
_TABLE["silu"] = _TABLE["swish"]


def _relu6(x):
    return np.clip(x, 0, 6).astype(x.dtype, copy=False)


def _mish_backward(x, y, dy):
    t = np.tanh(_softplus(x))
    return dy * (t + x * (1 - t * t) * _sigmoid(x))


def _squareplus(x, b=4.0):
    return ((x + np.sqrt(x * x + b)) / 2).astype(x.dtype, copy=False)


# Keras 3's other element-wise activations, with Keras's default parameters.
_TABLE.update({
    "relu6": Activation("relu6", _relu6, lambda x, y, dy: dy * ((x > 0) & (x < 6))),
    "leaky_relu": Activation("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x).astype(x.dtype),
                             lambda x, y, dy: dy * np.where(x > 0, 1.0, 0.2).astype(x.dtype)),
    "hard_silu": Activation("hard_silu", lambda x: x * _relu6(x + 3) / 6,
                            lambda x, y, dy: dy * np.where(x <= -3, 0.0, np.where(
                                x >= 3, 1.0, (2 * x + 3) / 6)).astype(x.dtype)),
    "mish": Activation("mish", lambda x: x * np.tanh(_softplus(x)), _mish_backward),
    "log_sigmoid": Activation("log_sigmoid", lambda x: -_softplus(-x),
                              lambda x, y, dy: dy * _sigmoid(-x)),
    "celu": Activation("celu", _elu_forward, lambda x, y, dy: dy * np.where(x > 0, 1, y + 1)),
    "hard_tanh": Activation("hard_tanh", lambda x: np.clip(x, -1, 1).astype(x.dtype, copy=False),
                            lambda x, y, dy: dy * ((x > -1) & (x < 1))),
    "tanh_shrink": Activation("tanh_shrink", lambda x: x - np.tanh(x),
                              lambda x, y, dy: dy * np.tanh(x) ** 2),
    "soft_shrink": Activation("soft_shrink",
                              lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0))
                              .astype(x.dtype), lambda x, y, dy: dy * (np.abs(x) > 0.5)),
    "hard_shrink": Activation("hard_shrink", lambda x: np.where(np.abs(x) > 0.5, x, 0).astype(
        x.dtype), lambda x, y, dy: dy * (np.abs(x) > 0.5)),
    "squareplus": Activation("squareplus", _squareplus,
                             lambda x, y, dy: dy * (1 + x / np.sqrt(x * x + 4)) / 2),
    "sparse_plus": Activation("sparse_plus", lambda x: np.where(
        x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)).astype(x.dtype),
        lambda x, y, dy: dy * np.where(x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2)).astype(
            x.dtype)),
})
_TABLE["hard_swish"] = _TABLE["hard_silu"]


def _sparsemax(x, axis=-1):
    # the Euclidean projection onto the simplex along ``axis`` (Martins & Astudillo, 2016)
    z = np.moveaxis(x, axis, -1)
    zs = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1, dtype=x.dtype)
    cum = np.cumsum(zs, axis=-1)
    support = 1 + k * zs > cum
    n = np.sum(support, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cum, n - 1, axis=-1) - 1) / n.astype(x.dtype)
    return np.moveaxis(np.maximum(z - tau, 0), -1, axis).astype(x.dtype, copy=False)


_TABLE.update({
    "sparse_sigmoid": Activation(
        "sparse_sigmoid", lambda x: np.clip(0.5 * (x + 1), 0, 1).astype(x.dtype, copy=False),
        lambda x, y, dy: dy * np.where(np.abs(x) < 1, 0.5, 0.0).astype(x.dtype)),
})


def get(identifier):
    """An :class:`Activation` from a name, None (linear) or an Activation; else ValueError."""
    if identifier is None:
        return _TABLE["linear"]
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str) and identifier in _TABLE:
        return _TABLE[identifier]
    if callable(identifier) and getattr(identifier, "__name__", None) in _TABLE:
        return _TABLE[identifier.__name__]
    raise ValueError(f"[activations.get] unknown activation {identifier!r}; expected one of "
                     f"{sorted(_TABLE)} or None")


def serialize(activation):
    return get(activation).name


def _module_function(name):
    act = _TABLE[name]

    def f(x):
        return act(x)
    f.__name__ = name
    f.__doc__ = f"The {name} activation (forward value), as keras.activations.{name}."
    return f


def _float(x):
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype("float32")


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras.activations.relu: x above ``threshold`` (else 0), clipped to [0, max_value], minus
    ``negative_slope`` * max(threshold - x, 0)."""
    x = _float(x)
    t = x.dtype.type
    if negative_slope == 0 and max_value is None and threshold == 0:
        return _TABLE["relu"](x)
    if negative_slope != 0 and max_value is None and threshold == 0:
        return leaky_relu(x, negative_slope)
    y = np.where(x > t(threshold), x, t(0)) if threshold != 0 else np.maximum(x, t(0))
    if max_value is not None:
        y = np.clip(y, t(0), t(max_value))
    if negative_slope != 0:
        y = y - t(negative_slope) * np.maximum(t(threshold) - x, t(0))
    return y


def leaky_relu(x, negative_slope=0.2):
    x = _float(x)
    return np.where(x > 0, x, x.dtype.type(negative_slope) * x)


def softmax(x, axis=-1):
    x = _float(x)
    return _softmax(x, axis=tuple(axis) if isinstance(axis, list) else axis)


def log_softmax(x, axis=-1):
    x = _float(x)
    axis = tuple(axis) if isinstance(axis, list) else axis
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def elu(x, alpha=1.0):
    x = _float(x)
    return np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)))


def celu(x, alpha=1.0):
    x = _float(x)
    t = x.dtype.type
    return np.where(x > 0, x, t(alpha) * np.expm1(np.minimum(x, 0) / t(alpha)))


def gelu(x, approximate=False):
    x = _float(x)
    if not approximate:
        return _TABLE["gelu"](x)
    t = x.dtype.type
    return t(0.5) * x * (1 + np.tanh(t(math.sqrt(2 / math.pi)) * (x + t(0.044715) * x ** 3)))


def hard_shrink(x, threshold=0.5):
    x = _float(x)
    return np.where(np.abs(x) > threshold, x, x.dtype.type(0))


def soft_shrink(x, threshold=0.5):
    x = _float(x)
    t = x.dtype.type
    return np.where(x > threshold, x - t(threshold),
                    np.where(x < -threshold, x + t(threshold), t(0)))


def squareplus(x, b=4):
    x = _float(x)
    return _squareplus(x, x.dtype.type(b))


def glu(x, axis=-1):
    """keras.activations.glu: a * sigmoid(b), a and b the halves of ``x`` along ``axis``."""
    x = _float(x)
    if x.shape[axis] % 2:
        raise ValueError(f"[activations.glu] axis {axis} must have an even size, got shape "
                         f"{x.shape}")
    a, b = np.split(x, 2, axis=axis)
    return a * _sigmoid(b)


def sparsemax(x, axis=-1):
    """The projection of ``x`` onto the probability simplex along ``axis`` (it sums to 1).
    Keras 3.15 computes its threshold from the sum of the cumulative sums over the support,
    wrong whenever two or more entries stay positive (keras-team/keras#23425, fixed upstream
    in #23469); pyseq keeps the correct value. Not a layer activation: glu and sparsemax are
    functions only here."""
    return _sparsemax(_float(x), axis)


def threshold(x, threshold, default_value):
    """keras.activations.threshold: x where x > threshold, else ``default_value``."""
    x = _float(x)
    return np.where(x > threshold, x, x.dtype.type(default_value))


linear = _module_function("linear")
sigmoid = _module_function("sigmoid")
tanh = _module_function("tanh")
softplus = _module_function("softplus")
softsign = _module_function("softsign")
swish = silu = _module_function("swish")
selu = _module_function("selu")
exponential = _module_function("exponential")
hard_sigmoid = _module_function("hard_sigmoid")
relu6 = _module_function("relu6")
hard_silu = hard_swish = _module_function("hard_silu")
mish = _module_function("mish")
log_sigmoid = _module_function("log_sigmoid")
hard_tanh = _module_function("hard_tanh")
tanh_shrink = _module_function("tanh_shrink")
sparse_plus = _module_function("sparse_plus")
sparse_sigmoid = _module_function("sparse_sigmoid")
