"""Model-level benchmarks (issue 6): a training epoch of a character language model against the
same model in PyTorch, and the share of a training step that pyseq spends outside its kernels.

    pytest bench/test_models.py --benchmark-json=bench/models.json && python bench/report.py bench/models.json

* ``lm-epoch``: Embedding(80, 256) -> LSTM(512, return_sequences=True) -> Dense(80), sparse
  cross-entropy from logits, Adam (lr 1e-3, epsilon 1e-7 on both sides). Batches of 64 sequences
  of 40 steps; **one epoch = 20 batches** (1,280 sequences), run with ``model.fit(...,
  batch_size=64, shuffle=False)`` in pyseq and a plain zero_grad / forward / backward / step
  loop in PyTorch (nn.Embedding, nn.LSTM(batch_first=True), nn.Linear, CrossEntropyLoss,
  torch.optim.Adam), from the same initial weights. The first batch's loss is checked to agree
  before timing. FLOP: 3 x the forward of the LSTM and the Dense per batch (design.md).
* ``imdb-step``: one ``train_on_batch`` of Embedding(10000, 32) -> Bidirectional(LSTM(64)) ->
  Dense(64, relu) -> Dense(1, sigmoid), binary cross-entropy, Adam, batch 32 x 200 steps. Its
  row also records ``outside_kernels_share``: 1 - (time inside ``pyseq.ops.*`` calls: the LSTM,
  embedding and Adam kernels) / (time of the whole step), over 30 steps; the rest is the graph
  engine, Dense layers, loss, metrics and the optimizer's Python (everything not in a kernel).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from torch_models import torch_char_lm

FAMILY = "models"
SEED = 20261122
LM = dict(vocab=80, emb=256, units=512, B=64, T=40, batches=20)
IMDB = dict(vocab=10000, emb=32, units=64, B=32, T=200)


def lm_data():
    rng = np.random.default_rng(SEED)
    n = LM["B"] * LM["batches"]
    text = rng.integers(0, LM["vocab"], n * LM["T"] + 1)
    x = text[:-1].reshape(n, LM["T"]).astype(np.int32)
    y = text[1:].reshape(n, LM["T"]).astype(np.int32)
    return x, y


def pyseq_lm(cell="LSTM"):
    import pyseq
    from pyseq import layers
    model = pyseq.Sequential([pyseq.Input((LM["T"],), dtype="int32"),
                              layers.Embedding(LM["vocab"], LM["emb"]),
                              getattr(layers, cell)(LM["units"], return_sequences=True),
                              layers.Dense(LM["vocab"])])
    model.compile(pyseq.optimizers.Adam(1e-3),
                  pyseq.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def torch_lm(torch, weights):
    nn = torch.nn
    net = torch_char_lm(torch, LM["vocab"], LM["emb"], LM["units"], weights)
    opt = torch.optim.Adam([q for q in net.parameters() if q.requires_grad], lr=1e-3, eps=1e-7)
    return net, opt, nn.CrossEntropyLoss()


def pyseq_epoch(model, x, y, fold):
    """One ``fit`` epoch, with the Embedding folded into the recurrent layer or formed."""
    from pyseq.models import graph

    def epoch():
        graph.fold_embeddings = fold
        try:
            model.fit(x, y, batch_size=LM["B"], epochs=1, shuffle=False, verbose=0)
        finally:
            graph.fold_embeddings = True
    return epoch


def lm_flop(flops):
    B, T = LM["B"], LM["T"]
    fwd = flops.rnn("lstm", B, T, LM["emb"], LM["units"]) + flops.gemm(B * T, LM["vocab"],
                                                                       LM["units"])
    return LM["batches"] * flops.step(fwd, True)


def test_blas_sgemm_peak(benchmark, blas_sgemm_peak):
    blas_sgemm_peak(benchmark, 2048)


@pytest.mark.parametrize("impl", ["pyseq", "torch"])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "formed"])
def test_lm_epoch(benchmark, request, measure, flops, impl, fold):
    """``fold``: pyseq's graph hands the Embedding's output unformed to the LSTM, which folds the
    table into its input projection (the default); ``formed`` switches that off
    (``pyseq.models.graph.fold_embeddings = False``), so the LSTM runs on the gathered rows as
    PyTorch's does. PyTorch runs the same loop in both rows."""
    case = "lm-epoch" if fold else "lm-epoch-formed"
    benchmark.group = f"{FAMILY}-{case}"
    info = {"family": FAMILY, "case": case, "mode": "train", "B": LM["B"], "T": LM["T"],
            "I": LM["emb"], "H": LM["units"], "batches_per_epoch": LM["batches"],
            "dtype": "float32",
            "variant": "embedding folded" if fold else "embedding rows formed (fold off)"}
    x, y = lm_data()
    request.getfixturevalue("pyseq_ops")  # pins pyseq's threads, or skips
    model = pyseq_lm()
    if impl == "pyseq":
        measure(benchmark, pyseq_epoch(model, x, y, fold), flop=lm_flop(flops), impl=impl,
                info=info, max_rounds=5)
        return
    torch = request.getfixturevalue("torch_mod")
    net, opt, loss_fn = torch_lm(torch, model.get_weights())
    xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
    # same model, same numbers: the first batch's loss on both sides
    with torch.no_grad():
        t_loss = float(loss_fn(net(xt[:LM["B"]]).reshape(-1, LM["vocab"]),
                               yt[:LM["B"]].reshape(-1)))
    p_loss = model.evaluate(x[:LM["B"]], y[:LM["B"]], batch_size=LM["B"], verbose=0)
    assert p_loss == pytest.approx(t_loss, rel=1e-4)

    def epoch():
        for b in range(LM["batches"]):
            sl = slice(b * LM["B"], (b + 1) * LM["B"])
            opt.zero_grad(set_to_none=True)
            out = net(xt[sl])
            loss_fn(out.reshape(-1, LM["vocab"]), yt[sl].reshape(-1)).backward()
            opt.step()
    measure(benchmark, epoch, flop=lm_flop(flops), impl=impl, info=info, max_rounds=5)


@pytest.mark.parametrize("cell", ["GRU", "SimpleRNN"])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "formed"])
def test_rnn_lm_epoch_fold(benchmark, request, measure, flops, cell, fold):
    """The LM epoch with GRU(512) or SimpleRNN(512) in place of the LSTM, pyseq only, with the
    Embedding folded into the recurrent layer (the default) and formed: what the fold gives the
    other two cells."""
    request.getfixturevalue("pyseq_ops")
    case = f"{cell.lower()}-lm-epoch" + ("" if fold else "-formed")
    benchmark.group = f"{FAMILY}-{case}"
    info = {"family": FAMILY, "case": case, "mode": "train", "B": LM["B"], "T": LM["T"],
            "I": LM["emb"], "H": LM["units"], "batches_per_epoch": LM["batches"],
            "dtype": "float32", "variant": f"{cell}, embedding " + ("folded" if fold else "formed")}
    x, y = lm_data()
    model = pyseq_lm(cell)
    kind = {"GRU": "gru", "SimpleRNN": "rnn"}[cell]
    fwd = flops.rnn(kind, LM["B"], LM["T"], LM["emb"], LM["units"]) + flops.gemm(
        LM["B"] * LM["T"], LM["vocab"], LM["units"])
    measure(benchmark, pyseq_epoch(model, x, y, fold), flop=LM["batches"] * flops.step(fwd, True),
            impl="pyseq", info=info, max_rounds=5)


class OpsTimer:
    """Wraps every public pyseq.ops function (the kernels: *_forward, *_backward, adam_update)
    so that the time spent in them adds up."""

    def __init__(self, ops):
        self.ops, self.total, self.saved = ops, 0.0, {}

    def __enter__(self):
        for name in self.ops.__all__:
            fn = getattr(self.ops, name)
            self.saved[name] = fn
            setattr(self.ops, name, self._wrap(fn))
        return self

    def _wrap(self, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - t0
        return timed

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(self.ops, name, fn)


def test_imdb_step_outside_kernels(benchmark, request, measure, flops):
    benchmark.group = f"{FAMILY}-imdb-step"
    ops = request.getfixturevalue("pyseq_ops")
    import pyseq
    from pyseq import layers
    rng = np.random.default_rng(SEED)
    B, T = IMDB["B"], IMDB["T"]
    x = rng.integers(1, IMDB["vocab"], (B, T)).astype(np.int32)
    y = rng.integers(0, 2, (B, 1)).astype(np.float32)
    model = pyseq.Sequential([pyseq.Input((T,), dtype="int32"),
                              layers.Embedding(IMDB["vocab"], IMDB["emb"]),
                              layers.Bidirectional(layers.LSTM(IMDB["units"])),
                              layers.Dense(64, activation="relu"),
                              layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    for _ in range(3):
        model.train_on_batch(x, y)
    steps = 30
    with OpsTimer(ops) as timer:
        t0 = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        whole = time.perf_counter() - t0
    share = 1.0 - timer.total / whole
    fwd = flops.rnn("lstm", B, T, IMDB["emb"], IMDB["units"], directions=2)
    info = {"family": FAMILY, "case": "imdb-step", "mode": "train", "B": B, "T": T,
            "I": IMDB["emb"], "H": IMDB["units"], "bidirectional": True, "dtype": "float32",
            "outside_kernels_share": round(share, 4),
            "step_ms": round(1e3 * whole / steps, 3),
            "ops_ms": round(1e3 * timer.total / steps, 3)}
    measure(benchmark, lambda: model.train_on_batch(x, y), flop=flops.step(fwd, True),
            impl="pyseq", info=info)
