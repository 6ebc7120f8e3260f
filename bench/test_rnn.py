"""SimpleRNN benchmarks: pyseq.ops against PyTorch (nn.RNN, tanh) and the float64 NumPy reference.

    pytest bench/test_rnn.py --benchmark-json=bench/rnn.json && python bench/report.py bench/rnn.json

Shapes (B, T, I, H) are those design.md requires for every RNN family. "train" times one
training step, forward + backward together (all five gradients: dx, dkernel, drecurrent_kernel,
dbias, dh0); "infer" times the forward alone (PyTorch under inference_mode). Bidirectional: pyseq
calls rnn_forward twice (reverse=False, reverse=True) and rnn_backward twice, PyTorch runs
nn.RNN(bidirectional=True). float32 everywhere except the reference (float64 by design).

Same weights on both sides: PyTorch's weight_ih = kernel.T (H, I), weight_hh =
recurrent_kernel.T (H, H), bias_ih = bias, bias_hh = 0. Before timing, the pyseq row checks its
outputs (and gradients) against PyTorch when installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

FAMILY = "rnn"
SEED = 20240612
ACTIVATION = "tanh"


@dataclass(frozen=True)
class Case:
    mode: str  # "train" (forward + backward) or "infer" (forward only)
    B: int
    T: int
    I: int
    H: int
    bidirectional: bool = False

    @property
    def id(self) -> str:
        return f"{self.mode}-B{self.B}-T{self.T}-I{self.I}-H{self.H}" + ("-bi" if self.bidirectional else "")

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def train(self) -> bool:
        return self.mode == "train"


CASES = [
    Case("train", 32, 100, 20, 64, bidirectional=True),
    Case("train", 64, 40, 256, 512),
    Case("train", 32, 200, 128, 256),
    Case("infer", 1, 100, 64, 128),
    Case("infer", 64, 40, 256, 512),
]
# "pyseq_blas_step": the step-loop product done by a BLAS call per step instead of the
# packed-panel micro-kernel (csrc/cpu/packed_gemm.h), as in bench/test_lstm.py.
IMPLS = ["pyseq", "pyseq_blas_step", "torch", "reference"]


# --------------------------------------------------------------------------------------------
# problem data: one set of float32 arrays per case, shared by the implementations
# --------------------------------------------------------------------------------------------


@dataclass
class Direction:
    reverse: bool
    kernel: np.ndarray  # (I, H)
    recurrent_kernel: np.ndarray  # (H, H)
    bias: np.ndarray  # (H,)
    h0: np.ndarray  # (B, H)
    dy: np.ndarray  # (B, T, H)
    dh_T: np.ndarray  # (B, H)


@dataclass
class Problem:
    case: Case
    x: np.ndarray  # (B, T, I)
    dirs: list


FIELDS = ("kernel", "recurrent_kernel", "bias", "h0", "dy", "dh_T")


def make_problem(case: Case, dtype=np.float32) -> Problem:
    rng = np.random.default_rng([SEED, case.B, case.T, case.I, case.H, case.directions])
    B, T, I, H = case.B, case.T, case.I, case.H

    def uni(shape, scale):
        return rng.uniform(-scale, scale, size=shape).astype(dtype)

    x = rng.standard_normal((B, T, I)).astype(dtype)
    dirs = []
    for d in range(case.directions):
        dirs.append(Direction(
            reverse=(d == 1),
            kernel=uni((I, H), np.sqrt(6.0 / (I + H))),  # glorot-uniform-like
            recurrent_kernel=uni((H, H), 1.0 / np.sqrt(H)),
            bias=uni((H,), 0.1),
            h0=uni((B, H), 0.5),
            dy=rng.standard_normal((B, T, H)).astype(dtype),
            dh_T=rng.standard_normal((B, H)).astype(dtype),
        ))
    return Problem(case, x, dirs)


_PROBLEMS: dict = {}


def problem_for(case: Case) -> Problem:
    if case not in _PROBLEMS:
        _PROBLEMS.clear()  # keep one case's arrays alive at a time
        _PROBLEMS[case] = make_problem(case)
    return _PROBLEMS[case]


# --------------------------------------------------------------------------------------------
# the implementations: each returns a zero-argument callable for one step
# --------------------------------------------------------------------------------------------


def numpy_step(mod, p: Problem, train: bool, dtype=None):
    """pyseq.ops or pyseq.reference (same API): one call per direction, forward then backward."""
    cast = (lambda a: np.ascontiguousarray(a, dtype=dtype)) if dtype is not None else (lambda a: a)
    x = cast(p.x)
    dirs = [Direction(d.reverse, *(cast(getattr(d, f)) for f in FIELDS)) for d in p.dirs]
    fwd, bwd = mod.rnn_forward, mod.rnn_backward

    if not train:
        def infer():
            return [fwd(x, d.kernel, d.recurrent_kernel, d.bias, d.h0, activation=ACTIVATION,
                        reverse=d.reverse)[:2] for d in dirs]
        return infer

    def step():
        outs = [fwd(x, d.kernel, d.recurrent_kernel, d.bias, d.h0, activation=ACTIVATION,
                    reverse=d.reverse) for d in dirs]
        grads = [bwd(d.dy, d.dh_T, o[2]) for d, o in zip(dirs, outs)]
        return [o[:2] for o in outs], grads
    return step


def torch_step(torch, p: Problem, train: bool):
    """nn.RNN(nonlinearity="tanh", batch_first=True) with the same weights; training step =
    forward + autograd.grad for x, every parameter and h0 (no .grad accumulation)."""
    c = p.case
    rnn = torch.nn.RNN(c.I, c.H, num_layers=1, nonlinearity=ACTIVATION, batch_first=True,
                       bidirectional=c.bidirectional)
    with torch.no_grad():
        for d in p.dirs:
            sfx = "_reverse" if d.reverse else ""
            getattr(rnn, "weight_ih_l0" + sfx).copy_(torch.from_numpy(d.kernel.T.copy()))
            getattr(rnn, "weight_hh_l0" + sfx).copy_(torch.from_numpy(d.recurrent_kernel.T.copy()))
            getattr(rnn, "bias_ih_l0" + sfx).copy_(torch.from_numpy(d.bias))
            getattr(rnn, "bias_hh_l0" + sfx).zero_()
    x = torch.from_numpy(p.x.copy())
    h0 = torch.from_numpy(np.stack([d.h0 for d in p.dirs]))  # (directions, B, H)

    if not train:
        rnn.requires_grad_(False)

        def infer():
            with torch.inference_mode():
                return rnn(x, h0)
        return infer

    x.requires_grad_(True)
    h0.requires_grad_(True)
    dy = torch.from_numpy(np.concatenate([d.dy for d in p.dirs], axis=-1))  # (B, T, directions*H)
    dhn = torch.from_numpy(np.stack([d.dh_T for d in p.dirs]))
    params = list(rnn.parameters())

    def step():
        y, hn = rnn(x, h0)
        grads = torch.autograd.grad((y, hn), (x, *params, h0), (dy, dhn))
        return (y, hn), grads
    return step


# --------------------------------------------------------------------------------------------
# agreement check (untimed): pyseq against PyTorch before pyseq's row is timed
# --------------------------------------------------------------------------------------------


def _close(name, got, want, rtol=2e-3):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    scale = max(float(np.abs(want).max()), 1e-6)
    err = float(np.abs(got - want).max())
    assert err <= rtol * scale + 1e-5, f"{name}: max |pyseq - torch| = {err:.3g} (scale {scale:.3g})"


def check_against_torch(torch, p: Problem, pyseq_out, train: bool):
    H = p.case.H
    t_out = torch_step(torch, p, train)()
    if train:
        (ty, thn), tgrads = t_out
        (outs, grads) = pyseq_out
    else:
        ty, thn = t_out
        outs = pyseq_out
    ty, thn = ty.detach().numpy(), thn.detach().numpy()
    for k, (y, hT) in enumerate(outs):
        _close(f"y[dir {k}]", y, ty[..., k * H:(k + 1) * H])
        _close(f"h_T[dir {k}]", hT, thn[k])
    if not train:
        return
    # torch grads: x, then per direction (w_ih, w_hh, b_ih, b_hh), then h0
    tg = [g.numpy() for g in tgrads]
    dx_t, h0g = tg[0], tg[-1]
    _close("dx", sum(g[0] for g in grads), dx_t)
    for k, g in enumerate(grads):
        dx, dk, drk, db, dh0 = g
        w_ih, w_hh, b_ih, _b_hh = tg[1 + 4 * k: 5 + 4 * k]
        _close(f"dkernel[dir {k}]", dk, w_ih.T)
        _close(f"drecurrent_kernel[dir {k}]", drk, w_hh.T)
        _close(f"dbias[dir {k}]", db, b_ih)
        _close(f"dh0[dir {k}]", dh0, h0g[k])


# --------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------


def test_blas_sgemm_peak(benchmark, blas_sgemm_peak):
    """GEMM peak of pyseq's BLAS (scipy-openblas32), the yardstick of report.py's "% of peak"."""
    blas_sgemm_peak(benchmark, 2048)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rnn(benchmark, request, measure, flops, case, impl):
    benchmark.group = f"{FAMILY}-{case.id}"
    flop = flops.step(flops.rnn(FAMILY, case.B, case.T, case.I, case.H, case.directions), case.train)
    info = {"family": FAMILY, "case": case.id, "mode": case.mode, "B": case.B, "T": case.T,
            "I": case.I, "H": case.H, "bidirectional": case.bidirectional,
            "activation": ACTIVATION, "dtype": "float64" if impl == "reference" else "float32"}
    p = problem_for(case)

    if impl == "pyseq":
        ops = request.getfixturevalue("pyseq_ops")
        fn = numpy_step(ops, p, case.train)
        try:
            torch = request.getfixturevalue("torch_mod")
        except pytest.skip.Exception:
            torch = None
        if torch is not None:
            check_against_torch(torch, p, fn(), case.train)
        measure(benchmark, fn, flop=flop, impl=impl, info=info)
    elif impl == "pyseq_blas_step":
        ops = request.getfixturevalue("pyseq_ops")
        from pyseq import _core

        previous = _core.get_step_product()
        _core.set_step_product("blas")
        try:
            measure(benchmark, numpy_step(ops, p, case.train), flop=flop, impl=impl, info=info)
        finally:
            _core.set_step_product(previous)
    elif impl == "torch":
        torch = request.getfixturevalue("torch_mod")
        measure(benchmark, torch_step(torch, p, case.train), flop=flop, impl=impl, info=info)
    else:  # slow=True: skipped when one call exceeds REFERENCE_MAX_CALL_S (conftest.py)
        ref = request.getfixturevalue("pyseq_reference")
        measure(benchmark, numpy_step(ref, p, case.train, dtype=np.float64), flop=flop, impl=impl,
                info=info, slow=True)
