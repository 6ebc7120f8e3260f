"""Conv1D benchmarks: pyseq.ops against PyTorch (nn.Conv1d) and the float64 NumPy reference.

    pytest bench/test_conv1d.py --benchmark-json=bench/conv1d.json && python bench/report.py bench/conv1d.json

Shapes are design.md's conv1d shapes, padding "valid", stride 1, no groups (PyTorch's default
nn.Conv1d). "train" times one training step, forward + backward together (dx, dkernel, dbias);
"infer" the forward alone (PyTorch under inference_mode). PyTorch runs on its native
channels-first layout, x (B, C, T) and weight (F, C, K); pyseq on Keras's channels-last layout,
x (B, T, C) and kernel (K, C, F): the same numbers, transposed once outside the timed region.
float32 everywhere except the reference (float64 by design). Before timing, the pyseq row checks
its outputs and gradients against PyTorch when installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from bench_rows import ModeCase, assert_close, one_case_at_a_time, time_row

FAMILY = "conv1d"
SEED = 20240612


@dataclass(frozen=True)
class Case(ModeCase):
    B: int
    C: int
    T: int
    K: int
    F: int

    @property
    def id(self) -> str:
        return f"{self.mode}-B{self.B}-C{self.C}-T{self.T}-K{self.K}-F{self.F}"

    @property
    def T_out(self) -> int:
        return self.T - self.K + 1


CASES = [
    Case("train", 32, 32, 500, 7, 32),
    Case("train", 32, 256, 1024, 5, 256),
    Case("infer", 32, 256, 1024, 5, 256),
    Case("infer", 1, 64, 256, 3, 64),
]
IMPLS = ["pyseq", "torch", "reference"]


@dataclass
class Problem:
    case: Case
    x: np.ndarray       # (B, T, C)
    kernel: np.ndarray  # (K, C, F)
    bias: np.ndarray    # (F,)
    dy: np.ndarray      # (B, T', F)


def make_problem(case: Case, dtype=np.float32) -> Problem:
    rng = np.random.default_rng([SEED, case.B, case.C, case.T, case.K, case.F])
    scale = np.sqrt(6.0 / (case.K * (case.C + case.F)))  # glorot-uniform-like
    return Problem(case,
                   x=rng.standard_normal((case.B, case.T, case.C)).astype(dtype),
                   kernel=rng.uniform(-scale, scale, (case.K, case.C, case.F)).astype(dtype),
                   bias=rng.uniform(-0.1, 0.1, case.F).astype(dtype),
                   dy=rng.standard_normal((case.B, case.T_out, case.F)).astype(dtype))


problem_for = one_case_at_a_time(make_problem)


def numpy_step(mod, p: Problem, train: bool, dtype=None):
    """pyseq.ops or pyseq.reference (same API): forward, then backward when training."""
    cast = (lambda a: np.ascontiguousarray(a, dtype=dtype)) if dtype is not None else (lambda a: a)
    x, kernel, bias, dy = cast(p.x), cast(p.kernel), cast(p.bias), cast(p.dy)
    fwd, bwd = mod.conv1d_forward, mod.conv1d_backward
    if not train:
        return lambda: fwd(x, kernel, bias)[0]

    def step():
        y, saved = fwd(x, kernel, bias)
        return y, bwd(dy, saved)
    return step


def torch_step(torch, p: Problem, train: bool):
    """nn.Conv1d on channels-first tensors; training step = forward + autograd.grad for x, weight
    and bias (no .grad accumulation)."""
    c = p.case
    conv = torch.nn.Conv1d(c.C, c.F, c.K)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(p.kernel.transpose(2, 1, 0).copy()))
        conv.bias.copy_(torch.from_numpy(p.bias))
    x = torch.from_numpy(p.x.transpose(0, 2, 1).copy())
    if not train:
        conv.requires_grad_(False)

        def infer():
            with torch.inference_mode():
                return conv(x)
        return infer
    x.requires_grad_(True)
    dy = torch.from_numpy(p.dy.transpose(0, 2, 1).copy())
    params = (conv.weight, conv.bias)

    def step():
        y = conv(x)
        return y, torch.autograd.grad(y, (x, *params), dy)
    return step


def check_against_torch(torch, p: Problem, pyseq_out, train: bool):
    t_out = torch_step(torch, p, train)()
    if not train:
        assert_close("y", pyseq_out, t_out.detach().numpy().transpose(0, 2, 1))
        return
    (ty, (tdx, tdw, tdb)), (y, (dx, dk, db)) = t_out, pyseq_out
    assert_close("y", y, ty.detach().numpy().transpose(0, 2, 1))
    assert_close("dx", dx, tdx.numpy().transpose(0, 2, 1))
    assert_close("dkernel", dk, tdw.numpy().transpose(2, 1, 0))
    assert_close("dbias", db, tdb.numpy())


def test_blas_sgemm_peak(benchmark, blas_sgemm_peak):
    """GEMM peak of pyseq's BLAS (scipy-openblas32), the yardstick of report.py's "% of peak"."""
    blas_sgemm_peak(benchmark, 2048)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conv1d(benchmark, request, measure, flops, case, impl):
    benchmark.group = f"{FAMILY}-{case.id}"
    flop = flops.step(flops.conv1d(case.B, case.T_out, case.C, case.F, case.K), case.train)
    info = {"family": FAMILY, "case": case.id, "mode": case.mode, "B": case.B, "C": case.C,
            "T_in": case.T, "K": case.K, "F": case.F, "padding": "valid",
            "dtype": "float64" if impl == "reference" else "float32"}
    p = problem_for(case)
    time_row(benchmark, request, measure, impl, flop=flop, info=info,
             numpy_step=lambda mod, dtype=None: numpy_step(mod, p, case.train, dtype),
             torch_step=lambda torch: torch_step(torch, p, case.train),
             check=lambda torch, out: check_against_torch(torch, p, out, case.train))
