"""Shared set-up for the pyseq benchmarks (pytest-benchmark), one file per op family.

Run from the repository root against the *installed* package, e.g.

    pytest bench/test_lstm.py --benchmark-json=bench/lstm.json
    python bench/report.py bench/lstm.json

(use the ``pytest`` script, not ``python -m pytest``: the latter puts the source tree's
``pyseq/`` without a built ``_core`` in front of the installed package).

What lives here:

* thread policy: 2 threads on every side (pyseq's OpenMP + BLAS, PyTorch, the BLAS peak row),
  set once per session; override with ``PYSEQ_BENCH_THREADS``;
* optional imports: ``torch_mod``, ``pyseq_ops`` and ``pyseq_reference`` fixtures skip the row with
  a reason when the package is missing, so a machine without PyTorch still benchmarks pyseq;
* ``flops``: FLOP counts, the same formulas for every family (design.md, "Benchmarks");
* ``measure``: warm-up, choice of rounds, ``benchmark.pedantic`` and the ``extra_info`` record
  (implementation, FLOP, GFLOP/s) that ``bench/report.py`` turns into the results table;
* ``blas_sgemm_peak``: the GFLOP/s of a 2048^3 float32 product with the BLAS pyseq links
  (scipy-openblas32), the yardstick for "% of peak". Each family file adds the two-line row
  ``test_blas_sgemm_peak`` so that every family's JSON carries its own peak.
"""

from __future__ import annotations

import ctypes
import math
import os
import time

BENCH_THREADS = int(os.environ.get("PYSEQ_BENCH_THREADS", "2"))

# Before NumPy / PyTorch / OpenBLAS start their pools: libraries that only read the environment
# (NumPy's own OpenBLAS, used by the float64 reference) get the same thread count as the rest.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(BENCH_THREADS))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

try:  # PyTorch is optional: its rows are skipped with a reason when it is missing
    import torch as _torch
except ImportError as _exc:  # pragma: no cover - depends on the machine
    _torch = None
    _TORCH_MISSING = f"PyTorch is not installed ({_exc}); comparison rows skipped"
else:
    _TORCH_MISSING = ""

# How long one call of the float64 NumPy reference may take before its row is skipped.
REFERENCE_MAX_CALL_S = float(os.environ.get("PYSEQ_BENCH_REFERENCE_MAX_S", "3.0"))


# --------------------------------------------------------------------------------------------
# collection
# --------------------------------------------------------------------------------------------

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    """A row that fails before timing (e.g. pyseq disagrees with PyTorch) should report that one
    failure, not a second teardown error from pytest-benchmark's "fixture was not used" warning
    (the project's pytest settings turn warnings into errors)."""
    ignore = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")
    for item in items:
        if str(item.path).startswith(_BENCH_DIR + os.sep):
            item.add_marker(ignore)


# --------------------------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------------------------


def _import_pyseq(module):
    """(pyseq.<module> or None, why it could not be imported); importing pyseq also pins its
    threads to BENCH_THREADS."""
    try:
        import importlib

        import pyseq
        mod = importlib.import_module(f"pyseq.{module}")
    except Exception as exc:  # ImportError, or a missing _core / BLAS library
        return None, f"pyseq.{module} cannot be imported ({type(exc).__name__}: {exc})"
    pyseq.set_num_threads(BENCH_THREADS)
    return mod, ""


def _pyseq_or_skip(module):
    mod, reason = _import_pyseq(module)
    if mod is None:
        pytest.skip(reason)
    return mod


@pytest.fixture(scope="session", autouse=True)
def bench_threads():
    """Pin every side to BENCH_THREADS threads for the whole session; returns the count."""
    _import_pyseq("ops")  # pins pyseq's threads when pyseq is importable
    if _torch is not None:
        _torch.set_num_threads(BENCH_THREADS)
    return BENCH_THREADS


# --------------------------------------------------------------------------------------------
# optional implementations
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def torch_mod():
    """The torch module, or skip the row: PyTorch is optional."""
    if _torch is None:
        pytest.skip(_TORCH_MISSING)
    _torch.set_num_threads(BENCH_THREADS)
    return _torch


@pytest.fixture(scope="session")
def pyseq_ops():
    """pyseq.ops with pyseq.set_num_threads(BENCH_THREADS) applied, or skip the row."""
    return _pyseq_or_skip("ops")


@pytest.fixture(scope="session")
def pyseq_reference():
    """pyseq.reference (the float64 NumPy oracle), or skip the row."""
    return _pyseq_or_skip("reference")


@pytest.fixture(scope="session")
def versions():
    """Versions recorded in every row's extra_info."""
    out = {"numpy": np.__version__, "threads": BENCH_THREADS}
    if _torch is not None:
        out["torch"] = _torch.__version__
    try:
        import pyseq

        out["pyseq"] = getattr(pyseq, "__version__", "?")
    except Exception:
        pass
    return out


# --------------------------------------------------------------------------------------------
# FLOP counts (design.md, "Benchmarks": the same formulas in every family)
# --------------------------------------------------------------------------------------------


class FlopCount:
    """Forward FLOP of each op family; a training step (forward + backward) counts 3x forward
    (attention 3.5x). Use ``step(forward_flop, train)``."""

    RNN_GATES = {"lstm": 4, "gru": 3, "rnn": 1}

    @staticmethod
    def rnn(family: str, B: int, T: int, I: int, H: int, directions: int = 1) -> float:
        G = FlopCount.RNN_GATES[family]
        return 2.0 * B * T * (I + H) * G * H * directions

    @staticmethod
    def conv1d(B: int, T_out: int, C: int, F: int, K: int, groups: int = 1) -> float:
        return 2.0 * B * T_out * F * (C // groups) * K

    @staticmethod
    def attention(B: int, N: int, Lq: int, Lk: int, D: int, causal: bool = False) -> float:
        f = 4.0 * B * N * Lq * Lk * D
        return f / 2 if causal else f

    @staticmethod
    def gemm(M: int, N: int, K: int) -> float:
        return 2.0 * M * N * K

    @staticmethod
    def step(forward_flop: float, train: bool, family: str = "") -> float:
        if not train:
            return forward_flop
        return forward_flop * (3.5 if family == "attention" else 3.0)


@pytest.fixture(scope="session")
def flops():
    return FlopCount


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------


def add_gflops(benchmark, flop: float) -> None:
    """Record FLOP and GFLOP/s (from the mean and from the best round) in benchmark.extra_info.

    Call after the benchmark has run; with --benchmark-disable there are no stats and only the
    FLOP count is recorded."""
    benchmark.extra_info["flop"] = flop
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return
    s = stats.stats
    if s.mean > 0:
        benchmark.extra_info["gflops"] = round(flop / s.mean / 1e9, 3)
    if s.min > 0:
        benchmark.extra_info["gflops_best"] = round(flop / s.min / 1e9, 3)


class Measure:
    """Time ``fn()`` with benchmark.pedantic after a warm-up, choose the rounds from one
    calibration call, and record GFLOP/s.

    rounds = clamp(ceil(--benchmark-max-time / t_call), min_rounds, max_rounds); min_rounds defaults
    to --benchmark-min-rounds (5). ``slow=True`` (the NumPy reference) uses one warm-up call, at most
    3 rounds, and skips the row when one call exceeds REFERENCE_MAX_CALL_S.
    """

    def __init__(self, config, versions):
        self.max_time = float(config.getoption("benchmark_max_time", 1.0) or 1.0)
        self.min_rounds = int(config.getoption("benchmark_min_rounds", 5) or 5)
        self.versions = versions

    def __call__(self, benchmark, fn, *, flop, impl, info=None, slow=False, warmup_rounds=None,
                 max_rounds=1000, max_call_s=None):
        benchmark.extra_info.update(self.versions)
        benchmark.extra_info["impl"] = impl
        if info:
            benchmark.extra_info.update(info)

        def timed_call():
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

        # first call: warm-up (allocators, thread pools, page faults) and, for the slow reference,
        # the estimate that decides whether the row runs at all; fast rows calibrate on a 2nd call
        t_call = timed_call()
        if not slow and t_call < 1.0:
            t_call = timed_call()

        limit = REFERENCE_MAX_CALL_S if (slow and max_call_s is None) else max_call_s
        if limit is not None and t_call > limit:
            pytest.skip(f"{impl}: one call took {t_call:.1f} s > {limit:g} s; row skipped for this shape")

        if slow:
            rounds = max(1, min(3, math.ceil(self.max_time / t_call)))
            warmup = 0 if warmup_rounds is None else warmup_rounds
        else:
            rounds = max(self.min_rounds, min(max_rounds, math.ceil(self.max_time / t_call)))
            # about 0.2 s of further warm-up, at least one call, at most 10
            warmup = warmup_rounds if warmup_rounds is not None else max(1, min(10, math.ceil(0.2 / t_call)))
        benchmark.extra_info["rounds"] = rounds
        result = benchmark.pedantic(fn, rounds=rounds, warmup_rounds=warmup, iterations=1)
        add_gflops(benchmark, flop)
        return result


@pytest.fixture
def measure(request, versions):
    """measure(benchmark, fn, flop=..., impl="pyseq"|"torch"|"reference", info={...}, slow=False)"""
    return Measure(request.config, versions)


# --------------------------------------------------------------------------------------------
# BLAS peak: float32 GEMM with the BLAS pyseq links (scipy-openblas32)
# --------------------------------------------------------------------------------------------

_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS = 101, 111


def load_scipy_openblas32():
    """ctypes handle on libscipy_openblas.so from the installed scipy_openblas32 wheel (the very
    file pyseq's _core links; dlopen returns the same library if it is already loaded)."""
    import scipy_openblas32

    path = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(True))
    lib = ctypes.CDLL(path)
    lib.scipy_cblas_sgemm.restype = None
    lib.scipy_cblas_sgemm.argtypes = [
        ctypes.c_int, ctypes.c_int, ctypes.c_int,           # order, transA, transB
        ctypes.c_int, ctypes.c_int, ctypes.c_int,           # M, N, K (LP64: 32-bit ints)
        ctypes.c_float, ctypes.c_void_p, ctypes.c_int,      # alpha, A, lda
        ctypes.c_void_p, ctypes.c_int,                      # B, ldb
        ctypes.c_float, ctypes.c_void_p, ctypes.c_int,      # beta, C, ldc
    ]
    lib.scipy_openblas_set_num_threads.argtypes = [ctypes.c_int]
    lib.scipy_openblas_set_num_threads.restype = None
    return lib, path


def sgemm(lib, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """c = a @ b for C-contiguous float32 arrays, via scipy_cblas_sgemm (row-major)."""
    M, K = a.shape
    N = b.shape[1]
    lib.scipy_cblas_sgemm(_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS, _CBLAS_NO_TRANS, M, N, K,
                          1.0, a.ctypes.data, K, b.ctypes.data, N, 0.0, c.ctypes.data, N)


@pytest.fixture
def blas_sgemm_peak(measure, flops):
    """blas_sgemm_peak(benchmark, n=2048): benchmark one n x n x n float32 product with
    scipy-openblas32 on BENCH_THREADS threads; its GFLOP/s is the peak report.py compares with."""

    def run(benchmark, n: int = 2048):
        try:
            lib, path = load_scipy_openblas32()
        except Exception as exc:
            pytest.skip(f"scipy-openblas32 cannot be loaded ({type(exc).__name__}: {exc})")
        lib.scipy_openblas_get_num_threads.restype = ctypes.c_int
        previous = lib.scipy_openblas_get_num_threads()
        lib.scipy_openblas_set_num_threads(BENCH_THREADS)
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), dtype=np.float32)
        # correctness of the call itself (argument order, layout): a few rows against NumPy
        sgemm(lib, a, b, c)
        rows = slice(0, 8)
        expect = a[rows].astype(np.float64) @ b.astype(np.float64)
        np.testing.assert_allclose(c[rows], expect, rtol=1e-4, atol=1e-3 * np.abs(expect).max())
        benchmark.group = "blas-peak"
        try:
            measure(benchmark, lambda: sgemm(lib, a, b, c), flop=flops.gemm(n, n, n), impl="blas",
                    info={"family": "blas", "kind": "blas_peak", "case": f"sgemm-{n}", "n": n,
                          "dtype": "float32", "library": os.path.basename(path)})
        finally:
            # The same library instance is pyseq's, which keeps it single-threaded (its kernels
            # split products across their own team): hand it back as it was.
            lib.scipy_openblas_set_num_threads(previous)

    return run
