"""Attention benchmarks: pyseq.ops against PyTorch (scaled_dot_product_attention) and the float64
NumPy reference, plus the peak extra memory of forward + backward at L = 8192.

    pytest bench/test_attention.py --benchmark-json=bench/attention.json && python bench/report.py bench/attention.json

Shapes are design.md's attention shapes. "train" times one training step, forward + backward
together (dq, dk, dv); "infer" times the forward alone (PyTorch under inference_mode). float32
everywhere except the reference (float64, materialised softmax; skipped where one call would
exceed its time limit or hold gigabytes). PyTorch's layout is (B, N, L, D): its inputs are
transposed copies, made once, outside the timing. Before timing, the pyseq row checks its output
and gradients against PyTorch.

Memory (test_attention_memory): each implementation runs forward + backward once in a fresh
subprocess at B = 1, N = 1, L = 8192, D = 64, float32; the figure is the process's peak resident
set during the call (VmHWM, reset with /proc/self/clear_refs just before; ru_maxrss where that is
refused) minus its resident set before, taken after the inputs, the upstream gradient and a
warm-up call at L = 256 exist. It therefore includes the outputs o, dq, dk, dv (4 × 2 MiB)
and whatever the implementation allocates on the way; an L × L float32 matrix is 256 MiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
import pytest

from bench_rows import ModeCase, assert_close, one_case_at_a_time, time_row

FAMILY = "attention"
SEED = 20240611


@dataclass(frozen=True)
class Case(ModeCase):
    B: int
    N: int
    L: int
    D: int
    causal: bool = False

    @property
    def id(self) -> str:
        return f"{self.mode}-B{self.B}-N{self.N}-L{self.L}-D{self.D}" + ("-causal" if self.causal else "")


CASES = [
    Case("train", 8, 4, 512, 64),
    Case("train", 8, 4, 512, 64, causal=True),
    Case("train", 2, 4, 2048, 64, causal=True),
    Case("infer", 2, 4, 2048, 64),
]
IMPLS = ["pyseq", "torch", "reference"]
# The float64 reference materialises (B, N, L, L) several times: beyond this many elements its
# row is skipped rather than risk the machine's memory.
REFERENCE_MAX_SCORES = 2 * 4 * 1024 * 1024


@dataclass
class Problem:
    case: Case
    q: np.ndarray  # (B, L, N, D)
    k: np.ndarray
    v: np.ndarray
    do: np.ndarray


def make_problem(case: Case) -> Problem:
    rng = np.random.default_rng([SEED, case.B, case.N, case.L, case.D])
    shape = (case.B, case.L, case.N, case.D)
    return Problem(case, *(rng.standard_normal(shape, dtype=np.float32) for _ in range(4)))


problem_for = one_case_at_a_time(make_problem)


def numpy_step(mod, p: Problem, dtype=None):
    cast = (lambda a: np.ascontiguousarray(a, dtype=dtype)) if dtype is not None else (lambda a: a)
    q, k, v, do = (cast(a) for a in (p.q, p.k, p.v, p.do))
    causal = p.case.causal
    if not p.case.train:
        return lambda: mod.attention_forward(q, k, v, causal=causal)[0]

    def step():
        o, saved = mod.attention_forward(q, k, v, causal=causal)
        return o, mod.attention_backward(do, saved)
    return step


def torch_step(torch, p: Problem):
    F = torch.nn.functional
    t = lambda a: torch.from_numpy(a.transpose(0, 2, 1, 3).copy())  # noqa: E731
    q, k, v, do = (t(a) for a in (p.q, p.k, p.v, p.do))
    causal = p.case.causal
    if not p.case.train:
        def infer():
            with torch.inference_mode():
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return infer
    for x in (q, k, v):
        x.requires_grad_(True)

    def step():
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return o, torch.autograd.grad(o, (q, k, v), do)
    return step


def check_against_torch(torch, p: Problem, pyseq_out):
    back = lambda a: a.detach().numpy().transpose(0, 2, 1, 3)  # noqa: E731
    t_out = torch_step(torch, p)()
    if not p.case.train:
        assert_close("o", pyseq_out, back(t_out))
        return
    o, grads = pyseq_out
    to, tgrads = t_out
    assert_close("o", o, back(to))
    for name, g, tg in zip(("dq", "dk", "dv"), grads, tgrads):
        assert_close(name, g, back(tg))


def test_blas_sgemm_peak(benchmark, blas_sgemm_peak):
    """GEMM peak of pyseq's BLAS (scipy-openblas32), the yardstick of report.py's "% of peak"."""
    blas_sgemm_peak(benchmark, 2048)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_attention(benchmark, request, measure, flops, case, impl):
    benchmark.group = f"{FAMILY}-{case.id}"
    flop = flops.step(flops.attention(case.B, case.N, case.L, case.L, case.D, case.causal),
                      case.train, FAMILY)
    info = {"family": FAMILY, "case": case.id, "mode": case.mode, "B": case.B, "N": case.N,
            "L": case.L, "D": case.D, "causal": case.causal,
            "dtype": "float64" if impl == "reference" else "float32"}
    if impl == "reference" and case.B * case.N * case.L * case.L > REFERENCE_MAX_SCORES:
        pytest.skip("reference: the (B, N, L, L) float64 matrices would take gigabytes; row skipped")
    p = problem_for(case)
    time_row(benchmark, request, measure, impl, flop=flop, info=info,
             numpy_step=lambda mod, dtype=None: numpy_step(mod, p, dtype),
             torch_step=lambda torch: torch_step(torch, p),
             check=lambda torch, out: check_against_torch(torch, p, out))


# --------------------------------------------------------------------------------------------
# peak extra memory of forward + backward at L = 8192 (one head)
# --------------------------------------------------------------------------------------------

_MEMORY_SCRIPT = r"""
import json, os, resource, sys
impl, L, D = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
import numpy as np
rng = np.random.default_rng(0)
q, k, v, do = (rng.standard_normal((1, L, 1, D), dtype=np.float32) for _ in range(4))
small = [a[:, :256].copy() for a in (q, k, v, do)]
if impl == "pyseq":
    import pyseq
    from pyseq import ops
    pyseq.set_num_threads(2)
    prep = lambda *arrays: arrays
    def run(q, k, v, do):
        o, saved = ops.attention_forward(q, k, v)
        return ops.attention_backward(do, saved)
else:
    import torch
    torch.set_num_threads(2)
    F = torch.nn.functional
    def prep(*arrays):  # torch's (B, N, L, D) layout, made before the baseline
        ts = [torch.from_numpy(a.transpose(0, 2, 1, 3).copy()) for a in arrays]
        for x in ts[:3]:
            x.requires_grad_(True)
        return ts
    def run(q, k, v, do):
        o = F.scaled_dot_product_attention(q, k, v)
        return torch.autograd.grad(o, (q, k, v), do)
big = prep(q, k, v, do)
small = prep(*small)
def status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
run(*small)  # thread pools, allocator arenas, lazy imports
try:  # reset the peak (VmHWM) to the current resident set: imports peaked above it
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    method = "VmHWM rise over VmRSS (peak reset by clear_refs), fresh subprocess"
    base = status_kib("VmRSS")
except OSError:
    method = "ru_maxrss rise over a warmed-up baseline, fresh subprocess"
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = run(*big)
peak = status_kib("VmHWM") if method.startswith("VmHWM") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_kib": base, "peak_kib": peak, "extra_mib": (peak - base) / 1024.0,
                  "method": method}))
"""


@pytest.mark.parametrize("impl", ["pyseq", "torch"])
def test_attention_memory(benchmark, request, versions, impl):
    """Peak extra memory of one forward + backward at B1 N1 L8192 D64 float32, in a subprocess."""
    if impl == "torch":
        request.getfixturevalue("torch_mod")
    else:
        request.getfixturevalue("pyseq_ops")
    L, D = 8192, 64
    env = dict(os.environ, OMP_NUM_THREADS="2")
    # -P and a neutral cwd: the installed pyseq, not the source tree's
    proc = subprocess.run([sys.executable, "-P", "-c", _MEMORY_SCRIPT, impl, str(L), str(D)],
                          capture_output=True, text=True, env=env, timeout=600,
                          cwd=tempfile.gettempdir())
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    benchmark.group = f"{FAMILY}-memory"
    benchmark.extra_info.update(versions)
    benchmark.extra_info.update({"kind": "memory", "memory_family": FAMILY, "impl": impl,
                                 "case": f"fwd+bwd B1 N1 L{L} D{D} float32", "L": L, "D": D,
                                 "extra_mib": round(result["extra_mib"], 1),
                                 "scores_matrix_mib": L * L * 4 / 2**20,
                                 "method": result["method"]})
    # pytest-benchmark needs a timed call: the (cheap) parsing of the result
    benchmark.pedantic(lambda: json.loads(proc.stdout.strip().splitlines()[-1]), rounds=1, iterations=1)
