"""LSTM benchmarks: pyseq.ops against PyTorch (nn.LSTM) and the float64 NumPy reference.

    pytest bench/test_lstm.py --benchmark-json=bench/lstm.json && python bench/report.py bench/lstm.json

Shapes (B, T, I, H) are those design.md requires for every RNN family. "train" times one
training step, forward + backward together (all six gradients: dx, dkernel, drecurrent_kernel,
dbias, dh0, dc0); "infer" times the forward alone (PyTorch under inference_mode). Bidirectional:
pyseq calls lstm_forward twice (reverse=False, reverse=True) and lstm_backward twice, PyTorch runs
nn.LSTM(bidirectional=True). float32 everywhere except the reference (float64 by design).

Same weights on both sides: Keras gate order i, f, c, o is PyTorch's i, f, g, o; PyTorch's
weight_ih = kernel.T (4H, I), weight_hh = recurrent_kernel.T (4H, H), bias_ih = bias, bias_hh = 0.
Before timing, the pyseq row checks its outputs (and gradients) against PyTorch when installed.
"""

from __future__ import annotations

from bench_rows import assert_close, one_case_at_a_time
from rnn_bench import (Case, Direction, Problem, cast_problem, check_rnn_against_torch,
                       load_torch_weights, make_rnn_problem, rnn_row_test, torch_module_step)

FAMILY = "lstm"
SEED = 20240611
STATES = ("h", "c")  # the states checked: h_T, c_T after y and the gradients dh0, dc0


# --------------------------------------------------------------------------------------------
# problem data: one set of float32 arrays per case, shared by the three implementations
# --------------------------------------------------------------------------------------------


def make_problem(case: Case) -> Problem:
    """float32 data, per direction: kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,); with c0 and dc_T."""
    return make_rnn_problem(case, SEED, gates=4, cell=True)


problem_for = one_case_at_a_time(make_problem)


# --------------------------------------------------------------------------------------------
# the three implementations: each returns a zero-argument callable for one step
# --------------------------------------------------------------------------------------------


def numpy_step(mod, p: Problem, train: bool, dtype=None):
    """pyseq.ops or pyseq.reference (same API): one call per direction, forward then backward."""
    x, dirs = cast_problem(p, dtype)
    fwd, bwd = mod.lstm_forward, mod.lstm_backward

    if not train:
        def infer():
            return [fwd(x, d.kernel, d.recurrent_kernel, d.bias, d.h0, d.c0, reverse=d.reverse)[:3]
                    for d in dirs]
        return infer

    def step():
        outs = [fwd(x, d.kernel, d.recurrent_kernel, d.bias, d.h0, d.c0, reverse=d.reverse) for d in dirs]
        grads = [bwd(d.dy, d.dh_T, d.dc_T, o[3]) for d, o in zip(dirs, outs)]
        return [o[:3] for o in outs], grads
    return step


def torch_weights(d: Direction):
    """PyTorch's (weight_ih, weight_hh, bias_ih, bias_hh): kernel.T, recurrent_kernel.T, bias, 0
    (the gate order i, f, c, o is PyTorch's i, f, g, o)."""
    return d.kernel.T, d.recurrent_kernel.T, d.bias, None


def torch_step(torch, p: Problem, train: bool):
    """nn.LSTM(batch_first=True) with the same weights; training step = forward +
    autograd.grad for x, every parameter, h0 and c0 (no .grad accumulation)."""
    c = p.case
    lstm = torch.nn.LSTM(c.I, c.H, num_layers=1, batch_first=True, bidirectional=c.bidirectional)
    load_torch_weights(torch, lstm, p.dirs, torch_weights)
    return torch_module_step(torch, lstm, p, train, state_fields=("h0", "c0"),
                             grad_fields=("dh_T", "dc_T"))


def check_against_torch(torch, p: Problem, pyseq_out, train: bool):
    def check_params(k, dk, drk, db, torch_grads):
        w_ih, w_hh, b_ih, _b_hh = torch_grads
        assert_close(f"dkernel[dir {k}]", dk, w_ih.T)
        assert_close(f"drecurrent_kernel[dir {k}]", drk, w_hh.T)
        assert_close(f"dbias[dir {k}]", db, b_ih)

    check_rnn_against_torch(torch_step(torch, p, train)(), pyseq_out, p.case.H, train, check_params,
                            state_names=STATES)


# --------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------


def test_blas_sgemm_peak(benchmark, blas_sgemm_peak):
    """GEMM peak of pyseq's BLAS (scipy-openblas32), the yardstick of report.py's "% of peak"."""
    blas_sgemm_peak(benchmark, 2048)


# one row per (case, impl): FLOP = flops.rnn("lstm", B, T, I, H, directions), x3 for "train"
test_lstm = rnn_row_test(FAMILY, problem_for, numpy_step, torch_step, check_against_torch)
