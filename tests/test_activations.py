"""Accuracy of the fast float32 activations the fused kernels inline, at every SIMD level, against
float64 NumPy: a few ulp over the whole range, and the right limits and special values."""

import numpy as np
import pytest

from pyseq import _core

LEVELS = _core.build_info()["simd_available"]
MAX_ULP = 4.0  # design.md: "accurate to a few ulp in float32"


def _grid():
    dense = np.linspace(-20, 20, 400_001)
    wide = np.concatenate([np.geomspace(1e-30, 100, 20_001), -np.geomspace(1e-30, 100, 20_001)])
    edges = np.array([0.0, -0.0, 0.625, -0.625, np.nextafter(0.625, 0), 87.0, -87.0, 88.7, -88.7,
                      200.0, -200.0, 1e-38, -1e-38])
    return np.concatenate([dense, wide, edges]).astype(np.float32)


def _ulp_error(actual, ref64):
    spacing = np.spacing(np.abs(ref64).astype(np.float32)).astype(np.float64)
    return np.abs(actual.astype(np.float64) - ref64) / spacing


def _sigmoid64(x):
    """Accurate in float64 over the whole range: exp of a non-positive argument only."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


REFERENCES = {"sigmoid": _sigmoid64, "tanh": np.tanh}


@pytest.fixture(params=LEVELS)
def level(request):
    previous = _core.get_simd()
    _core.set_simd(request.param)
    yield request.param
    _core.set_simd(previous)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_float32_within_a_few_ulp(level, name):
    x = _grid()
    y = _core.activation(name, x)
    assert y.dtype == np.float32
    ref = REFERENCES[name](x.astype(np.float64))
    # exp's argument is clamped to [-87.3, 87] (so that reciprocals stay normal numbers): sigmoid
    # of x < -87 is about exp(-87) = 1.6e-38 instead of smaller. Judged by absolute error there,
    # by ulp everywhere else.
    normal = np.abs(ref) >= np.exp(-87.0)
    ulp = _ulp_error(y[normal], ref[normal])
    worst = int(np.argmax(ulp))
    assert ulp[worst] <= MAX_ULP, (
        f"{name} at {level}: {ulp[worst]:.2f} ulp at x={x[normal][worst]!r} "
        f"(got {y[normal][worst]!r}, want {ref[normal][worst]!r})")
    assert np.all(np.abs(y[~normal] - ref[~normal]) <= 2e-38)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_limits_and_special_values(level, name):
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 1e4, -1e4], dtype=np.float32)
    y = _core.activation(name, x)
    lo = 0.0 if name == "sigmoid" else -1.0
    assert y[0] == 1.0
    assert abs(y[1] - lo) <= 2e-38
    assert np.isnan(y[2])
    assert y[3] == (0.5 if name == "sigmoid" else 0.0)
    assert y[4] == 1.0 and abs(y[5] - lo) <= 2e-38


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_float64_uses_the_accurate_functions(level, name):
    x = np.linspace(-30, 30, 10_001)
    np.testing.assert_allclose(_core.activation(name, x), REFERENCES[name](x), rtol=1e-15,
                               atol=1e-300)


def test_bad_input():
    with pytest.raises(ValueError, match=r"^\[activation\].*got 'relu'"):
        _core.activation("relu", np.zeros(3, np.float32))
    with pytest.raises(TypeError, match=r"^\[activation\] x must be a float32 or float64"):
        _core.activation("tanh", np.zeros(3, np.int32))
