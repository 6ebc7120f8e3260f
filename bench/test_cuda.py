"""GPU benchmarks: pyseq's CUDA ops against PyTorch CUDA on the same GPU (issue 8's targets).

    pytest bench/test_cuda.py --benchmark-json=bench/cuda.json && python bench/report.py bench/cuda.json

Rows (float32, "train" = forward + backward of the whole op, as the CPU families):
  LSTM and GRU at (B, T, I, H) = (512, 40, 256, 512) against cuDNN (torch.nn.LSTM / GRU, one
  layer, batch_first); attention at B8 N16 L4096 D64 against torch's scaled_dot_product_attention
  (cuDNN / FlashAttention backends, whatever PyTorch picks). Targets: LSTM/GRU training step at
  least as fast as cuDNN; attention training at least 1.5x SDPA.
Every timed call ends with torch.cuda.synchronize(), so a row is the time until the GPU is done.
The whole file skips, with the reason, without a CUDA GPU, without PyTorch CUDA, or with a pyseq
built without CUDA. The pyseq rows first check their output against PyTorch's.
No numbers from this file are in bench/RESULTS.md until it has run on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bench_rows import ModeCase, assert_close

torch = pytest.importorskip("torch", reason="PyTorch is not installed; GPU rows need PyTorch CUDA")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU", allow_module_level=True)

import pyseq  # noqa: E402
from pyseq import ops  # noqa: E402

if not pyseq.build_info()["cuda"]:
    pytest.skip("pyseq built without CUDA (pip install . -Ccmake.define.PYSEQ_CUDA=ON)", allow_module_level=True)

SEED = 20261122


@dataclass(frozen=True)
class RnnCase(ModeCase):
    family: str
    B: int
    T: int
    I: int  # noqa: E741
    H: int

    @property
    def id(self) -> str:
        return f"{self.family}-{self.mode}-{self.B}x{self.T}x{self.I}x{self.H}"


@dataclass(frozen=True)
class AttentionCase(ModeCase):
    B: int
    N: int
    L: int
    D: int
    causal: bool = False

    @property
    def id(self) -> str:
        return f"attention-{self.mode}-B{self.B}-N{self.N}-L{self.L}-D{self.D}" + ("-causal" if self.causal else "")


RNN_CASES = [RnnCase("train", fam, 512, 40, 256, 512) for fam in ("lstm", "gru")] + \
    [RnnCase("infer", fam, 512, 40, 256, 512) for fam in ("lstm", "gru")]
ATTENTION_CASES = [AttentionCase("train", 8, 16, 4096, 64), AttentionCase("train", 8, 16, 4096, 64, causal=True),
                   AttentionCase("infer", 8, 16, 4096, 64)]
GATES = {"lstm": 4, "gru": 3}


def synced(fn):
    def run():
        out = fn()
        torch.cuda.synchronize()
        return out
    return run


# ------------------------------------------------------------------------------------------------
# LSTM / GRU against cuDNN
# ------------------------------------------------------------------------------------------------


def rnn_problem(case):
    g = torch.Generator(device="cuda").manual_seed(SEED)
    G, H = GATES[case.family], case.H
    x = torch.randn((case.B, case.T, case.I), device="cuda", generator=g)
    W = torch.randn((case.I, G * H), device="cuda", generator=g) / case.I ** 0.5
    U = torch.randn((H, G * H), device="cuda", generator=g) / H ** 0.5
    # Keras biases: (4H,) for the LSTM, (2, 3H) for the GRU (input row, recurrent row)
    b = torch.randn((G * H,) if case.family == "lstm" else (2, G * H), device="cuda", generator=g) * 0.1
    dy = torch.randn((case.B, case.T, H), device="cuda", generator=g)
    return x, W, U, b, dy


def torch_rnn(case, x, W, U, b):
    """torch.nn.LSTM/GRU with the same weights: Keras's column blocks are PyTorch's rows,
    transposed; LSTM gates i, f, c, o are PyTorch's i, f, g, o; GRU gates z, r, h are PyTorch's
    r, z, n reordered (and Keras's reset_after GRU is PyTorch's)."""
    H = case.H
    if case.family == "lstm":
        m = torch.nn.LSTM(case.I, H, batch_first=True).cuda()
        order = torch.arange(4 * H, device="cuda")
        b_ih, b_hh = b, torch.zeros_like(b)
    else:
        m = torch.nn.GRU(case.I, H, batch_first=True).cuda()
        order = torch.cat([torch.arange(H, 2 * H), torch.arange(0, H), torch.arange(2 * H, 3 * H)]).cuda()
        b_ih, b_hh = b[0], b[1]
    with torch.no_grad():
        m.weight_ih_l0.copy_(W.T[order])
        m.weight_hh_l0.copy_(U.T[order])
        m.bias_ih_l0.copy_(b_ih[order])
        m.bias_hh_l0.copy_(b_hh[order])
    return m


@pytest.mark.parametrize("impl", ["pyseq", "torch"])
@pytest.mark.parametrize("case", RNN_CASES, ids=lambda c: c.id)
def test_cuda_rnn(benchmark, measure, flops, case, impl):
    x, W, U, b, dy = rnn_problem(case)
    forward = ops.lstm_forward if case.family == "lstm" else ops.gru_forward
    backward = ops.lstm_backward if case.family == "lstm" else ops.gru_backward
    n_states = 2 if case.family == "lstm" else 1  # upstream gradients of the final states: None
    flop = flops.step(flops.rnn(case.family, case.B, case.T, case.I, case.H), case.train)
    info = dict(family=f"cuda_{case.family}", case=case.id, mode=case.mode, B=case.B, T=case.T, I=case.I,
                H=case.H, gpu=torch.cuda.get_device_name())
    if impl == "pyseq":
        def step():
            y, *_, saved = forward(x, W, U, b)
            if case.train:
                return backward(dy, *(None,) * n_states, saved)
            return y
        m = torch_rnn(case, x, W, U, b)
        y_ref, _ = m(x)
        y, *_ = forward(x, W, U, b)
        assert_close("y", y.cpu().numpy(), y_ref.detach().cpu().numpy())
        measure(benchmark, synced(step), flop=flop, impl=impl, info=info)
    else:
        m = torch_rnn(case, x, W, U, b)
        xr = x.clone().requires_grad_(case.train)

        def step():
            if not case.train:
                with torch.inference_mode():
                    return m(x)[0]
            y, _ = m(xr)
            y.backward(dy)
            return y
        measure(benchmark, synced(step), flop=flop, impl=impl, info=info)


# ------------------------------------------------------------------------------------------------
# attention against scaled_dot_product_attention
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["pyseq", "torch"])
@pytest.mark.parametrize("case", ATTENTION_CASES, ids=lambda c: c.id)
def test_cuda_attention(benchmark, measure, flops, case, impl):
    g = torch.Generator(device="cuda").manual_seed(SEED)
    shape = (case.B, case.L, case.N, case.D)  # pyseq's layout; PyTorch's is (B, N, L, D)
    q, k, v, do = (torch.randn(shape, device="cuda", generator=g) for _ in range(4))
    flop = flops.step(flops.attention(case.B, case.N, case.L, case.L, case.D, case.causal), case.train,
                      family="attention")
    info = dict(family="cuda_attention", case=case.id, mode=case.mode, gpu=torch.cuda.get_device_name())
    F = torch.nn.functional
    if impl == "pyseq":
        def step():
            o, saved = ops.attention_forward(q, k, v, causal=case.causal)
            return ops.attention_backward(do, saved) if case.train else o
        o, _ = ops.attention_forward(q, k, v, causal=case.causal)
        ref = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)),
                                             is_causal=case.causal).transpose(1, 2)
        assert_close("o", o.cpu().numpy(), ref.cpu().numpy())
        measure(benchmark, synced(step), flop=flop, impl=impl, info=info)
    else:
        qt, kt, vt = (t.transpose(1, 2).contiguous().requires_grad_(case.train) for t in (q, k, v))
        dot = do.transpose(1, 2).contiguous()

        def step():
            if not case.train:
                with torch.inference_mode():
                    return F.scaled_dot_product_attention(qt, kt, vt, is_causal=case.causal)
            o = F.scaled_dot_product_attention(qt, kt, vt, is_causal=case.causal)
            o.backward(dot)
            return o
        measure(benchmark, synced(step), flop=flop, impl=impl, info=info)

