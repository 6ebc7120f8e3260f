"""End to end (issue 7): the character language model of ``examples/char_lm.py``, at the
example's default sizes, trained with pyseq and with the same model in PyTorch.

    pytest bench/test_end_to_end.py --benchmark-json=bench/end_to_end.json && python bench/report.py bench/end_to_end.json

* Model: Embedding(80, 64) -> LSTM(256, return_sequences=True) -> Dense(80), sparse
  cross-entropy from logits, Adam (the example's learning rate, epsilon 1e-7 on both sides), as
  built by ``char_lm.build_model``; PyTorch runs nn.Embedding -> nn.LSTM(batch_first=True) ->
  nn.Linear with CrossEntropyLoss and torch.optim.Adam, from the same initial weights (Keras's
  gate order i, f, c, o is PyTorch's i, f, g, o: the kernels are transposed; pyseq's bias goes
  into ``bias_ih``; ``bias_hh`` is zero and frozen). Both sides use Keras's Adam arithmetic with
  epsilon 1e-7: Keras adds epsilon to sqrt(v) *before* the bias correction, PyTorch after, so
  the PyTorch side sets its ``eps`` to 1e-7 / sqrt(1 - beta2^t) at step t (the same update,
  exactly; it matters for the weights whose gradients are near 1e-6 in the first steps).
* Data: the example's own windows of *The Mysterious Island* (its default --chars and
  --stride), batches of 64 x 40 taken in order, the same batches on both sides.
* Timed: ``BATCHES`` consecutive training batches (pyseq: ``model.fit(..., shuffle=False)``, the
  whole engine; PyTorch: zero_grad / forward / backward / step). The time per epoch is the time
  per batch times the example's default epoch (its batches per epoch after the 5 % validation
  split); the evaluation pass is not counted.
* Checked before timing (the torch row): both sides train ``BATCHES`` steps from the same weights
  and their losses must agree within 2 % (relative) at every step; the largest gap is recorded.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest

from torch_models import torch_char_lm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))

FAMILY = "end_to_end"
BATCHES = 30
CURVE_RTOL = 0.02
EPSILON = 1e-7  # Keras's Adam epsilon, on both sides


@pytest.fixture(scope="module")
def lm(pyseq_ops):
    import char_lm
    d = char_lm.DEFAULTS
    x, y, chars = char_lm.make_dataset(d["chars"], d["stride"])
    B = d["batch_size"]
    n_train = int(math.floor(len(x) * 0.95))
    return dict(char_lm=char_lm, x=x[:BATCHES * B], y=y[:BATCHES * B], vocab=len(chars), B=B,
                T=x.shape[1], emb=d["embedding"], units=d["units"], lr=d["lr"], seed=d["seed"],
                batches_per_epoch=math.ceil(n_train / B))


def pyseq_model(lm):
    return lm["char_lm"].build_model(lm["vocab"], lm["emb"], lm["units"], lm["lr"], lm["seed"])


def torch_model(torch, lm, weights):
    """One PyTorch training step of the same model (Keras's Adam arithmetic, see above)."""
    nn = torch.nn
    net = torch_char_lm(torch, lm["vocab"], lm["emb"], lm["units"], weights)
    opt = torch.optim.Adam([q for q in net.parameters() if q.requires_grad], lr=lm["lr"],
                           eps=EPSILON)
    loss_fn = nn.CrossEntropyLoss()
    t = [0]

    def step(xb, yb):
        # Keras adds epsilon to sqrt(v) before the bias correction sqrt(1 - beta2^t) is applied,
        # PyTorch after: Keras's update is PyTorch's with eps = epsilon / sqrt(1 - beta2^t).
        t[0] += 1
        opt.param_groups[0]["eps"] = EPSILON / math.sqrt(1.0 - 0.999 ** t[0])
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb).reshape(-1, lm["vocab"]), yb.reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()
    return step


def torch_batches(torch, lm):
    B = lm["B"]
    xt = torch.from_numpy(lm["x"].astype(np.int64))
    yt = torch.from_numpy(lm["y"].astype(np.int64))
    return [(xt[b * B:(b + 1) * B], yt[b * B:(b + 1) * B]) for b in range(BATCHES)]


def loss_curves(torch, lm):
    """Per-step training losses of both sides over the same BATCHES batches."""
    model = pyseq_model(lm)
    step = torch_model(torch, lm, model.get_weights())
    B = lm["B"]
    p = [float(np.asarray(model.train_on_batch(lm["x"][b * B:(b + 1) * B],
                                               lm["y"][b * B:(b + 1) * B])).reshape(-1)[0])
         for b in range(BATCHES)]
    t = [step(xb, yb) for xb, yb in torch_batches(torch, lm)]
    return np.array(p), np.array(t)


def info_for(lm):
    return {"family": FAMILY, "case": "char-lm", "mode": "train", "B": lm["B"], "T": lm["T"],
            "I": lm["emb"], "H": lm["units"], "vocab": lm["vocab"], "batches": BATCHES,
            "batches_per_epoch": lm["batches_per_epoch"], "dtype": "float32"}


def flop(flops, lm):
    B, T = lm["B"], lm["T"]
    fwd = flops.rnn("lstm", B, T, lm["emb"], lm["units"]) + flops.gemm(B * T, lm["vocab"],
                                                                       lm["units"])
    return BATCHES * flops.step(fwd, True)


def test_blas_sgemm_peak(benchmark, blas_sgemm_peak):
    blas_sgemm_peak(benchmark, 2048)


# torch first: its row carries the loss-curve check, and report.py reads the first row's info
@pytest.mark.parametrize("impl", ["torch", "pyseq"])
def test_char_lm_train(benchmark, request, measure, flops, lm, impl):
    benchmark.group = f"{FAMILY}-char-lm"
    info = info_for(lm)
    if impl == "pyseq":
        model = pyseq_model(lm)

        def run():
            model.fit(lm["x"], lm["y"], batch_size=lm["B"], epochs=1, shuffle=False, verbose=0)
        measure(benchmark, run, flop=flop(flops, lm), impl=impl, info=info, max_rounds=5)
        return
    torch = request.getfixturevalue("torch_mod")
    p, t = loss_curves(torch, lm)
    rel = np.abs(p - t) / np.abs(t)
    info["loss_max_rel_diff"] = float(rel.max())
    info["loss_first_last"] = [round(float(t[0]), 4), round(float(t[-1]), 4)]
    assert rel.max() <= CURVE_RTOL, (
        f"loss curves differ by {rel.max():.2%} at step {int(rel.argmax())}: pyseq {p}, torch {t}")
    assert t[-1] < t[0]  # the curve being compared actually moves
    step = torch_model(torch, lm, pyseq_model(lm).get_weights())
    batches = torch_batches(torch, lm)

    def run():
        for xb, yb in batches:
            step(xb, yb)
    measure(benchmark, run, flop=flop(flops, lm), impl=impl, info=info, max_rounds=5)
