"""GRU benchmarks: pyseq.ops against PyTorch (nn.GRU) and the float64 NumPy reference.

    pytest bench/test_gru.py --benchmark-json=bench/gru.json && python bench/report.py bench/gru.json

Shapes (B, T, I, H) are those design.md requires for every RNN family. "train" times one
training step, forward + backward together (all five gradients: dx, dkernel, drecurrent_kernel,
dbias, dh0); "infer" times the forward alone (PyTorch under inference_mode). Bidirectional:
pyseq calls gru_forward twice (reverse=False, reverse=True) and gru_backward twice, PyTorch runs
nn.GRU(bidirectional=True). float32 everywhere except the reference (float64 by design). pyseq
runs the reset_after=True form, the one PyTorch implements.

Same weights on both sides: Keras's gate order z, r, h is PyTorch's r, z, n with the first two
blocks swapped (``to_torch_order``, its own inverse); PyTorch's weight_ih = kernel.T (3H, I),
weight_hh = recurrent_kernel.T (3H, H), bias_ih = bias[0], bias_hh = bias[1], all reordered.
Before timing, the pyseq row checks its outputs (and gradients) against PyTorch when installed.
"""

from __future__ import annotations

import numpy as np

from bench_rows import assert_close, one_case_at_a_time
from rnn_bench import (Case, Direction, Problem, cast_problem, check_rnn_against_torch,
                       load_torch_weights, make_rnn_problem, rnn_row_test, torch_module_step)

FAMILY = "gru"
SEED = 20240611


# --------------------------------------------------------------------------------------------
# problem data: one set of float32 arrays per case, shared by the three implementations
# --------------------------------------------------------------------------------------------


def make_problem(case: Case) -> Problem:
    """float32 data, per direction: kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H)
    (input row, recurrent row)."""
    return make_rnn_problem(case, SEED, gates=3, bias_rows=(2,))


problem_for = one_case_at_a_time(make_problem)


# --------------------------------------------------------------------------------------------
# the three implementations: each returns a zero-argument callable for one step
# --------------------------------------------------------------------------------------------


def numpy_step(mod, p: Problem, train: bool, dtype=None):
    """pyseq.ops or pyseq.reference (same API): one call per direction, forward then backward."""
    x, dirs = cast_problem(p, dtype)
    fwd, bwd = mod.gru_forward, mod.gru_backward

    if not train:
        def infer():
            return [fwd(x, d.kernel, d.recurrent_kernel, d.bias, d.h0, reverse=d.reverse)[:2]
                    for d in dirs]
        return infer

    def step():
        outs = [fwd(x, d.kernel, d.recurrent_kernel, d.bias, d.h0, reverse=d.reverse) for d in dirs]
        grads = [bwd(d.dy, d.dh_T, o[2]) for d, o in zip(dirs, outs)]
        return [o[:2] for o in outs], grads
    return step


def to_torch_order(m: np.ndarray, H: int) -> np.ndarray:
    """Gate blocks along the last axis z, r, h -> r, z, n (and back: the swap is its own inverse)."""
    return np.concatenate([m[..., H:2 * H], m[..., :H], m[..., 2 * H:]], axis=-1)


def torch_weights(d: Direction):
    """PyTorch's (weight_ih, weight_hh, bias_ih, bias_hh), gate blocks reordered."""
    H = d.h0.shape[-1]
    return (to_torch_order(d.kernel, H).T, to_torch_order(d.recurrent_kernel, H).T,
            to_torch_order(d.bias[0], H), to_torch_order(d.bias[1], H))


def torch_step(torch, p: Problem, train: bool):
    """nn.GRU(batch_first=True) with the same weights; training step = forward +
    autograd.grad for x, every parameter and h0 (no .grad accumulation)."""
    c = p.case
    gru = torch.nn.GRU(c.I, c.H, num_layers=1, batch_first=True, bidirectional=c.bidirectional)
    load_torch_weights(torch, gru, p.dirs, torch_weights)
    return torch_module_step(torch, gru, p, train)


def check_against_torch(torch, p: Problem, pyseq_out, train: bool):
    H = p.case.H

    def check_params(k, dk, drk, db, torch_grads):
        w_ih, w_hh, b_ih, b_hh = torch_grads
        assert_close(f"dkernel[dir {k}]", dk, to_torch_order(w_ih.T, H))
        assert_close(f"drecurrent_kernel[dir {k}]", drk, to_torch_order(w_hh.T, H))
        assert_close(f"dbias[0][dir {k}]", db[0], to_torch_order(b_ih, H))
        assert_close(f"dbias[1][dir {k}]", db[1], to_torch_order(b_hh, H))

    check_rnn_against_torch(torch_step(torch, p, train)(), pyseq_out, H, train, check_params)


# --------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------


def test_blas_sgemm_peak(benchmark, blas_sgemm_peak):
    """GEMM peak of pyseq's BLAS (scipy-openblas32), the yardstick of report.py's "% of peak"."""
    blas_sgemm_peak(benchmark, 2048)


# one row per (case, impl): FLOP = flops.rnn("gru", B, T, I, H, directions), x3 for "train"
test_gru = rnn_row_test(FAMILY, problem_for, numpy_step, torch_step, check_against_torch)
