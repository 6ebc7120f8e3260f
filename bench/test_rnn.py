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

from bench_rows import assert_close, one_case_at_a_time
from rnn_bench import (Case, Direction, Problem, cast_problem, check_rnn_against_torch,
                       load_torch_weights, make_rnn_problem, rnn_row_test, torch_module_step)

FAMILY = "rnn"
SEED = 20240612
ACTIVATION = "tanh"


# --------------------------------------------------------------------------------------------
# problem data: one set of float32 arrays per case, shared by the implementations
# --------------------------------------------------------------------------------------------


def make_problem(case: Case) -> Problem:
    """float32 data, per direction: kernel (I, H), recurrent_kernel (H, H), bias (H,)."""
    return make_rnn_problem(case, SEED, gates=1)


problem_for = one_case_at_a_time(make_problem)


# --------------------------------------------------------------------------------------------
# the implementations: each returns a zero-argument callable for one step
# --------------------------------------------------------------------------------------------


def numpy_step(mod, p: Problem, train: bool, dtype=None):
    """pyseq.ops or pyseq.reference (same API): one call per direction, forward then backward."""
    x, dirs = cast_problem(p, dtype)
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


def torch_weights(d: Direction):
    """PyTorch's (weight_ih, weight_hh, bias_ih, bias_hh): kernel.T, recurrent_kernel.T, bias, 0."""
    return d.kernel.T, d.recurrent_kernel.T, d.bias, None


def torch_step(torch, p: Problem, train: bool):
    """nn.RNN(nonlinearity="tanh", batch_first=True) with the same weights; training step =
    forward + autograd.grad for x, every parameter and h0 (no .grad accumulation)."""
    c = p.case
    rnn = torch.nn.RNN(c.I, c.H, num_layers=1, nonlinearity=ACTIVATION, batch_first=True,
                       bidirectional=c.bidirectional)
    load_torch_weights(torch, rnn, p.dirs, torch_weights)
    return torch_module_step(torch, rnn, p, train)


def check_against_torch(torch, p: Problem, pyseq_out, train: bool):
    def check_params(k, dk, drk, db, torch_grads):
        w_ih, w_hh, b_ih, _b_hh = torch_grads
        assert_close(f"dkernel[dir {k}]", dk, w_ih.T)
        assert_close(f"drecurrent_kernel[dir {k}]", drk, w_hh.T)
        assert_close(f"dbias[dir {k}]", db, b_ih)

    check_rnn_against_torch(torch_step(torch, p, train)(), pyseq_out, p.case.H, train, check_params)


# --------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------


def test_blas_sgemm_peak(benchmark, blas_sgemm_peak):
    """GEMM peak of pyseq's BLAS (scipy-openblas32), the yardstick of report.py's "% of peak"."""
    blas_sgemm_peak(benchmark, 2048)


# one row per (case, impl): FLOP = flops.rnn("rnn", B, T, I, H, directions), x3 for "train"
test_rnn = rnn_row_test(FAMILY, problem_for, numpy_step, torch_step, check_against_torch,
                        activation=ACTIVATION)
