"""Scaffolding shared by the recurrent benchmark files (test_rnn.py, test_gru.py, test_lstm.py).

What is the same for every RNN family lives here: the shape list design.md requires (``CASES``),
the implementations compared (``IMPLS``), the per-direction problem data (``make_rnn_problem``,
sized by the family's gate count) and its float64 cast, the PyTorch module's weight loading and
timed step (bidirectional included), the output/gradient agreement check, and the row (with the
``pyseq_blas_step`` variant). Each family file keeps its own seed and array shapes, its pyseq
calls, its FLOP count and its Keras -> PyTorch weight mapping.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest

from bench_rows import ModeCase, assert_close, time_row


@dataclass(frozen=True)
class Case(ModeCase):
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


CASES = [
    Case("train", 32, 100, 20, 64, bidirectional=True),
    Case("train", 64, 40, 256, 512),
    Case("train", 32, 200, 128, 256),
    Case("infer", 1, 100, 64, 128),
    Case("infer", 64, 40, 256, 512),
]
# "pyseq_blas_step": pyseq with its step-loop product done by a BLAS call per step instead of the
# packed-panel micro-kernel (csrc/cpu/packed_gemm.h): the measurement that justifies that kernel.
IMPLS = ["pyseq", "pyseq_blas_step", "torch", "reference"]


def rnn_info(family: str, case: Case, impl: str, **extra) -> dict:
    """The extra_info columns every RNN row records (report.py reads them)."""
    return {"family": family, "case": case.id, "mode": case.mode, "B": case.B, "T": case.T,
            "I": case.I, "H": case.H, "bidirectional": case.bidirectional, **extra,
            "dtype": "float64" if impl == "reference" else "float32"}


@dataclass
class Direction:
    """One direction's float32 arrays (G = gates: 1 SimpleRNN, 3 GRU, 4 LSTM)."""

    reverse: bool
    kernel: np.ndarray  # (I, G*H)
    recurrent_kernel: np.ndarray  # (H, G*H)
    bias: np.ndarray  # (G*H,), or (2, G*H) for the GRU: input row, recurrent row
    h0: np.ndarray  # (B, H)
    dy: np.ndarray  # (B, T, H), C-contiguous slice of the upstream gradient
    dh_T: np.ndarray  # (B, H)
    c0: np.ndarray | None = None  # (B, H), LSTM only
    dc_T: np.ndarray | None = None  # (B, H), LSTM only


@dataclass
class Problem:
    case: Case
    x: np.ndarray  # (B, T, I)
    dirs: list


def make_rnn_problem(case: Case, seed: int, gates: int, bias_rows: tuple = (), cell: bool = False,
                     dtype=np.float32) -> Problem:
    """Random inputs, weights and upstream gradients for one case, drawn in a fixed order from a
    generator seeded by (seed, B, T, I, H, directions). bias_rows: leading bias dimensions ((2,)
    for the GRU's two bias rows); cell: the LSTM's c0 and dc_T."""
    rng = np.random.default_rng([seed, case.B, case.T, case.I, case.H, case.directions])
    B, T, I, H = case.B, case.T, case.I, case.H
    GH = gates * H

    def uni(shape, scale):
        return rng.uniform(-scale, scale, size=shape).astype(dtype)

    def normal(shape):  # upstream gradients
        return rng.standard_normal(shape).astype(dtype)

    x = normal((B, T, I))
    dirs = []
    for d in range(case.directions):
        kernel = uni((I, GH), np.sqrt(6.0 / (I + GH)))  # glorot-uniform-like
        recurrent_kernel = uni((H, GH), 1.0 / np.sqrt(H))
        bias = uni((*bias_rows, GH), 0.1)
        h0 = uni((B, H), 0.5)
        c0 = uni((B, H), 0.5) if cell else None
        dy, dh_T = normal((B, T, H)), normal((B, H))
        dc_T = normal((B, H)) if cell else None
        dirs.append(Direction(d == 1, kernel, recurrent_kernel, bias, h0, dy, dh_T, c0, dc_T))
    return Problem(case, x, dirs)


def cast_problem(p, dtype):
    """(x, dirs) of problem p, every array cast to a C-contiguous ``dtype`` (None: as they are)."""
    if dtype is None:
        return p.x, p.dirs

    def cast(a):
        return np.ascontiguousarray(a, dtype=dtype)

    dirs = [dataclasses.replace(d, **{f.name: cast(getattr(d, f.name)) for f in dataclasses.fields(d)
                                      if isinstance(getattr(d, f.name), np.ndarray)})
            for d in p.dirs]
    return cast(p.x), dirs


# --------------------------------------------------------------------------------------------
# PyTorch side
# --------------------------------------------------------------------------------------------


def load_torch_weights(torch, module, dirs, torch_weights):
    """Copy each direction's weights into a torch.nn.RNN/GRU/LSTM layer 0. torch_weights(d) gives
    (weight_ih, weight_hh, bias_ih, bias_hh) as NumPy arrays in PyTorch's layout; bias_hh None
    means zero (Keras layers with a single bias)."""
    with torch.no_grad():
        for d in dirs:
            sfx = "_reverse" if d.reverse else ""
            w_ih, w_hh, b_ih, b_hh = torch_weights(d)
            getattr(module, "weight_ih_l0" + sfx).copy_(torch.from_numpy(np.ascontiguousarray(w_ih)))
            getattr(module, "weight_hh_l0" + sfx).copy_(torch.from_numpy(np.ascontiguousarray(w_hh)))
            getattr(module, "bias_ih_l0" + sfx).copy_(torch.from_numpy(np.ascontiguousarray(b_ih)))
            if b_hh is None:
                getattr(module, "bias_hh_l0" + sfx).zero_()
            else:
                getattr(module, "bias_hh_l0" + sfx).copy_(torch.from_numpy(np.ascontiguousarray(b_hh)))


def torch_module_step(torch, module, p, train: bool, state_fields=("h0",), grad_fields=("dh_T",)):
    """One call of a batch_first torch RNN module whose weights are already loaded.

    state_fields: the per-direction initial states (("h0",) or, for the LSTM, ("h0", "c0")),
    grad_fields: their upstream gradients. Inference runs under inference_mode and returns the
    module's own output; the training step is forward + autograd.grad for x, every parameter and
    the initial states (no .grad accumulation) and returns ((y, *final_states), grads).
    """
    x = torch.from_numpy(p.x.copy())
    states = [torch.from_numpy(np.stack([getattr(d, f) for d in p.dirs])) for f in state_fields]

    def call():  # (directions, B, H) states; the LSTM takes them as one (h0, c0) tuple
        return module(x, states[0] if len(states) == 1 else tuple(states))

    if not train:
        module.requires_grad_(False)

        def infer():
            with torch.inference_mode():
                return call()
        return infer

    x.requires_grad_(True)
    for s in states:
        s.requires_grad_(True)
    dy = torch.from_numpy(np.concatenate([d.dy for d in p.dirs], axis=-1))  # (B, T, directions*H)
    dfinal = [torch.from_numpy(np.stack([getattr(d, f) for d in p.dirs])) for f in grad_fields]
    params = list(module.parameters())

    def step():
        y, final = call()
        final = (final,) if len(states) == 1 else tuple(final)
        grads = torch.autograd.grad((y, *final), (x, *params, *states), (dy, *dfinal))
        return (y, *final), grads
    return step


# --------------------------------------------------------------------------------------------
# agreement check (untimed): pyseq against PyTorch before pyseq's row is timed
# --------------------------------------------------------------------------------------------


def check_rnn_against_torch(t_out, pyseq_out, H: int, train: bool, check_params,
                            state_names=("h",)):
    """pyseq's per-direction (y, h_T[, c_T]) and gradients against one PyTorch step's output.

    pyseq_out: [(y, *final_states)] per direction, or (that, [grads per direction]) when training,
    each grads tuple (dx, dkernel, drecurrent_kernel, dbias, *dstate0). check_params(k, dk, drk, db,
    (w_ih, w_hh, b_ih, b_hh)) compares direction k's parameter gradients in the family's layout.
    """
    n = len(state_names)
    if train:
        (ty, *tfinal), tgrads = t_out
        outs, grads = pyseq_out
    else:
        ty, tfinal = t_out
        tfinal = [tfinal] if n == 1 else list(tfinal)
        outs = pyseq_out
    ty = ty.detach().numpy()
    tfinal = [t.detach().numpy() for t in tfinal]
    for k, (y, *final) in enumerate(outs):
        assert_close(f"y[dir {k}]", y, ty[..., k * H:(k + 1) * H])
        for name, got, want in zip(state_names, final, tfinal):
            assert_close(f"{name}_T[dir {k}]", got, want[k])
    if not train:
        return
    # torch grads: x, then per direction (w_ih, w_hh, b_ih, b_hh), then the initial states
    tg = [g.numpy() for g in tgrads]
    dx_t, dstate0_t = tg[0], tg[len(tg) - n:]
    assert_close("dx", sum(g[0] for g in grads), dx_t)
    for k, (_dx, dk, drk, db, *dstate0) in enumerate(grads):
        check_params(k, dk, drk, db, tg[1 + 4 * k: 5 + 4 * k])
        for name, got, want in zip(state_names, dstate0, dstate0_t):
            assert_close(f"d{name}0[dir {k}]", got, want[k])


# --------------------------------------------------------------------------------------------
# the row
# --------------------------------------------------------------------------------------------


def time_rnn_row(benchmark, request, measure, impl, *, flop, info, numpy_step, torch_step, check):
    """bench_rows.time_row plus "pyseq_blas_step": the pyseq row timed with the step-loop product
    switched to one BLAS call per step (restored afterwards)."""
    if impl != "pyseq_blas_step":
        time_row(benchmark, request, measure, impl, flop=flop, info=info, numpy_step=numpy_step,
                 torch_step=torch_step, check=check)
        return
    ops = request.getfixturevalue("pyseq_ops")
    from pyseq import _core

    previous = _core.get_step_product()
    _core.set_step_product("blas")
    try:
        measure(benchmark, numpy_step(ops), flop=flop, impl=impl, info=info)
    finally:
        _core.set_step_product(previous)


def rnn_row_test(family: str, problem_for, numpy_step, torch_step, check_against_torch, **info):
    """The parametrized row test of an RNN family file (assign it to ``test_<family>``): one row per
    (case, impl), FLOP = flops.rnn(family, ...) for the directions, x3 when training (conftest.py).
    The family's own step builders take (..., p, train[, dtype]); ``info``: extra_info columns."""

    @pytest.mark.parametrize("impl", IMPLS)
    @pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
    def test_row(benchmark, request, measure, flops, case, impl):
        benchmark.group = f"{family}-{case.id}"
        p = problem_for(case)
        time_rnn_row(
            benchmark, request, measure, impl,
            flop=flops.step(flops.rnn(family, case.B, case.T, case.I, case.H, case.directions), case.train),
            info=rnn_info(family, case, impl, **info),
            numpy_step=lambda mod, dtype=None: numpy_step(mod, p, case.train, dtype),
            torch_step=lambda torch: torch_step(torch, p, case.train),
            check=lambda torch, out: check_against_torch(torch, p, out, case.train))

    return test_row
