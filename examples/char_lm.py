"""Character language model on Jules Verne's *The Mysterious Island* (bundled with pyseq):
Embedding -> LSTM -> Dense over windows of 40 characters, then text generated from a start
string at several temperatures ("scale factors").

    python examples/char_lm.py                       # a few minutes on 2 cores
    python examples/char_lm.py --chars 0 --epochs 20 --units 512 --embedding 256   # the whole book

The model predicts every next character of each window (return_sequences=True, sparse
cross-entropy from logits, Adam). By default it trains on the first 200,000 characters of the
book for 2 epochs; ``--chars 0`` takes the whole book (1.1 M characters).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import pyseq
from pyseq import layers
from pyseq.datasets import mysterious_island
from pyseq.utils import make_windows, sample_from_logits

SEQ_LEN = 40
TEMPERATURES = (0.2, 0.5, 1.0, 1.2)
# The defaults, shared with bench/test_end_to_end.py (which trains this very model).
DEFAULTS = dict(chars=200_000, epochs=2, units=256, embedding=64, batch_size=64, stride=3,
                lr=2e-3, seed=1, generate=300, start="The engineer")


def alphabet():
    """The book's characters, sorted: a fixed vocabulary (80) whatever part of it is used."""
    return sorted(set(mysterious_island.load_text()))


def encode(text, chars):
    table = {c: i for i, c in enumerate(chars)}
    return np.fromiter((table[c] for c in text), dtype=np.int32, count=len(text))


def make_dataset(n_chars, stride, seq_len=SEQ_LEN):
    """x, y (N, seq_len) int32: windows of the book's first n_chars characters (0: all) taken
    every ``stride`` characters; y is x shifted by one character."""
    text = mysterious_island.load_text()
    if n_chars:
        text = text[:n_chars]
    chars = alphabet()
    ids = encode(text, chars)
    w, _ = make_windows(ids, seq_len + 1, stride=stride)  # each window and its next character
    return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:]), chars


def build_model(vocab, embedding, units, lr, seed):
    model = pyseq.Sequential([
        pyseq.Input((None,), dtype="int32"),
        layers.Embedding(vocab, embedding, embeddings_initializer=pyseq.initializers.RandomUniform(
            -0.05, 0.05, seed=seed)),
        layers.LSTM(units, return_sequences=True, seed=seed + 1,
                    kernel_initializer=pyseq.initializers.GlorotUniform(seed=seed + 2),
                    recurrent_initializer=pyseq.initializers.Orthogonal(seed=seed + 3)),
        layers.Dense(vocab, kernel_initializer=pyseq.initializers.GlorotUniform(seed=seed + 4)),
    ])
    model.compile(pyseq.optimizers.Adam(lr),
                  pyseq.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def generate(model, chars, start, n, temperatures, seed):
    """One continuation of ``start`` per temperature, all drawn in one batch: each step feeds
    the last SEQ_LEN characters and samples the next from the last position's logits."""
    table = {c: i for i, c in enumerate(chars)}
    start = "".join(c for c in start if c in table) or chars[0]
    ctx = np.array([[table[c] for c in start]] * len(temperatures), dtype=np.int32)
    rng = np.random.default_rng(seed)
    out = [[] for _ in temperatures]
    for _ in range(n):
        logits = model.predict_on_batch(ctx[:, -SEQ_LEN:])[:, -1, :]
        nxt = [sample_from_logits(logits[k], t, rng=rng) for k, t in enumerate(temperatures)]
        for k, c in enumerate(nxt):
            out[k].append(chars[c])
        ctx = np.concatenate([ctx, np.array(nxt, np.int32)[:, None]], axis=1)
    return {t: start + "".join(o) for t, o in zip(temperatures, out)}


def parse_args(argv):
    d = DEFAULTS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--chars", type=int, default=d["chars"],
                   help="train on the book's first N characters (0: the whole book)")
    p.add_argument("--epochs", type=int, default=d["epochs"])
    p.add_argument("--units", type=int, default=d["units"], help="LSTM units")
    p.add_argument("--embedding", type=int, default=d["embedding"], help="embedding size")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--stride", type=int, default=d["stride"], help="characters between windows")
    p.add_argument("--lr", type=float, default=d["lr"], help="Adam learning rate")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--generate", type=int, default=d["generate"],
                   help="characters to generate per temperature")
    p.add_argument("--start", default=d["start"], help="start string for generation")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="fit's progress bar")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.perf_counter()
    np.random.seed(args.seed)  # fit's shuffling draws from NumPy's global generator, as in Keras
    x, y, chars = make_dataset(args.chars, args.stride)
    print(f"The Mysterious Island: {len(x):,} windows of {SEQ_LEN} characters, "
          f"{len(chars)} distinct characters")
    model = build_model(len(chars), args.embedding, args.units, args.lr, args.seed)
    model.summary()
    # The last 5 % of windows are held out (validation_split takes them from the end, like Keras).
    history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs,
                        validation_split=0.05, shuffle=True, verbose=args.verbose)
    for e, (loss, val) in enumerate(zip(history.history["loss"], history.history["val_loss"]), 1):
        print(f"epoch {e}: loss {loss:.4f}  val_loss {val:.4f}")
    samples = generate(model, chars, args.start, args.generate, TEMPERATURES, args.seed)
    for t, s in samples.items():
        print(f"\n----- temperature {t} -----\n{s}")
    val_loss = history.history["val_loss"][-1]
    seconds = time.perf_counter() - t0
    print(f"\nfinal: val_loss {val_loss:.4f} nats/char "
          f"({val_loss / np.log(2):.3f} bits/char) after {args.epochs} epoch(s), {seconds:.0f} s")
    return {"loss": history.history["loss"], "val_loss": val_loss, "samples": samples,
            "seconds": seconds}


if __name__ == "__main__":
    main(sys.argv[1:])
