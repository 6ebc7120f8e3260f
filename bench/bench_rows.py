"""Row logic shared by the family benchmark files: the pyseq-vs-PyTorch agreement check and the
check-then-time dispatch on ``impl`` ("pyseq", "torch", "reference").

Each family file keeps its own shapes, FLOP count, problem data and PyTorch mapping, and hands
this module three callables; the row itself (which fixture, which ``measure`` flags) is the same
everywhere, so it lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest


@dataclass(frozen=True)
class ModeCase:
    """Base of every family's Case: subclasses add their shape fields and an ``id``."""

    mode: str  # "train" (forward + backward) or "infer" (forward only)

    @property
    def train(self) -> bool:
        return self.mode == "train"


def assert_close(name, got, want, rtol=2e-3):
    """max |got - want| <= rtol * max|want| + 1e-5 (pyseq float32 against PyTorch float32)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    scale = max(float(np.abs(want).max()), 1e-6)
    err = float(np.abs(got - want).max())
    assert err <= rtol * scale + 1e-5, f"{name}: max |pyseq - torch| = {err:.3g} (scale {scale:.3g})"


def optional_torch(request):
    """The torch module, or None when PyTorch is missing (the pyseq row then runs unchecked)."""
    try:
        return request.getfixturevalue("torch_mod")
    except pytest.skip.Exception:
        return None


def time_row(benchmark, request, measure, impl, *, flop, info, numpy_step, torch_step, check):
    """Time one row.

    numpy_step(mod, dtype=None) -> zero-argument callable (pyseq.ops, or pyseq.reference in float64);
    torch_step(torch) -> zero-argument callable; check(torch, pyseq_output) asserts agreement.
    The pyseq row is checked against PyTorch (when installed) before it is timed; the reference
    row is ``slow=True``: skipped when one call exceeds REFERENCE_MAX_CALL_S (conftest.py).
    """
    if impl == "pyseq":
        fn = numpy_step(request.getfixturevalue("pyseq_ops"))
        torch = optional_torch(request)
        if torch is not None:
            check(torch, fn())
        measure(benchmark, fn, flop=flop, impl=impl, info=info)
    elif impl == "torch":
        torch = request.getfixturevalue("torch_mod")
        measure(benchmark, torch_step(torch), flop=flop, impl=impl, info=info)
    elif impl == "reference":
        ref = request.getfixturevalue("pyseq_reference")
        measure(benchmark, numpy_step(ref, dtype=np.float64), flop=flop, impl=impl, info=info,
                slow=True)
    else:
        raise ValueError(f"unknown impl {impl!r}")


def one_case_at_a_time(make_problem):
    """problem_for(case): make_problem(case), memoised for the latest case only (consecutive rows
    of one case share the arrays; earlier cases' arrays are freed)."""
    cache: dict = {}

    def problem_for(case):
        if case not in cache:
            cache.clear()
            cache[case] = make_problem(case)
        return cache[case]

    return problem_for
