"""The float32 attention kernels' AMX score products (split-bfloat16 tiles) against their FMA
ones and the float64 oracle. tests/test_attention.py runs every property on both paths."""

import numpy as np
import pytest

from pyseq import _core, ops, reference

from helpers import assert_all_close

GRAD_NAMES = ("dq", "dk", "dv")


def test_amx_switch():
    available = _core.attention_amx_available()
    assert isinstance(available, bool)
    try:
        _core.set_attention_amx(False)
        assert _core.get_attention_amx() is False
        _core.set_attention_amx(True)
        assert _core.get_attention_amx() is available
    finally:
        _core.set_attention_amx(True)


@pytest.mark.skipif(not _core.attention_amx_available(),
                    reason="this CPU has no AMX-BF16 tiles (or the OS does not grant them)")
@pytest.mark.parametrize("causal", [False, True])
def test_amx_score_products_keep_float32_accuracy(causal):
    # The split-bfloat16 tile products must be as accurate as the FMA ones, and forward and
    # backward must round the scores alike: keys sharing a large component make any difference
    # between the two visible in dq (rows of P that no longer sum to 1 leak that component).
    rng = np.random.default_rng(5 + causal)
    B, L, N, D = 1, 230, 2, 64
    q, k, v, do = (rng.standard_normal((B, L, N, D)).astype(np.float32) for _ in range(4))
    k += (4.0 * rng.standard_normal((1, 1, N, D))).astype(np.float32)
    o_r, cache = reference.attention_forward(q, k, v, causal=causal)
    refs = (o_r,) + tuple(reference.attention_backward(do, cache))
    errors, results = {}, {}
    try:
        for path in ("amx", "fma"):
            _core.set_attention_amx(path == "amx")
            o, saved = ops.attention_forward(q, k, v, causal=causal)
            results[path] = (o,) + tuple(ops.attention_backward(do, saved))
            errors[path] = [float(np.abs(a - r).max()) for a, r in zip(results[path], refs)]
    finally:
        _core.set_attention_amx(True)  # the default
    assert_all_close(results["amx"], refs, np.float32, ("o",) + GRAD_NAMES)
    for name, e_amx, e_fma in zip(("o",) + GRAD_NAMES, errors["amx"], errors["fma"]):
        assert e_amx <= 2 * e_fma + 1e-6, f"{name}: amx error {e_amx:.3g} against fma {e_fma:.3g}"
    # the tiles were used: their rounding differs from the FMAs'
    assert not all(np.array_equal(a, b) for a, b in zip(results["amx"], results["fma"]))
