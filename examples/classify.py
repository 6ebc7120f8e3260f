"""Text classification with three models: Conv1D + MaxPooling1D + GlobalMaxPooling1D, a
bidirectional LSTM, and a Transformer-encoder block. The task is built from the bundled text of
*The Mysterious Island*: which of the book's three parts ("Dropped from the Clouds", "Abandoned",
"The Secret of the Island") a passage of ``--length`` words comes from. Given Keras's
``imdb.npz`` (``--imdb PATH``), the same models are then trained on IMDb reviews.

    python examples/classify.py                    # a few minutes on 2 cores
    python examples/classify.py --imdb ~/.keras/datasets/imdb.npz --epochs 5

The passages are consecutive, non-overlapping runs of words; a random 20 % of them are held out.
The tokenizer is fitted on the training passages only. The metric is held-out accuracy (chance:
about 1/3 for the book, 1/2 for IMDb).
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import numpy as np

import pyseq
from pyseq import layers
from pyseq.datasets import mysterious_island
from pyseq.preprocessing.sequence import pad_sequences
from pyseq.preprocessing.text import Tokenizer, text_to_word_sequence

PART_MARKER = re.compile(r"^PART \d", re.MULTILINE)


def book_parts():
    """The book's text cut at its "PART 1", "PART 2", "PART 3" headings; each part starts at its
    "Chapter 1" (the heading and the part's title, which would give the label away, dropped)."""
    text = mysterious_island.load_text()
    starts = [m.start() for m in PART_MARKER.finditer(text)]
    if len(starts) != 3:
        raise RuntimeError(f"expected 3 part headings in the book, found {len(starts)}")
    bounds = starts + [len(text)]
    parts = [text[bounds[k]:bounds[k + 1]] for k in range(3)]
    return [p[p.index("Chapter 1"):] for p in parts]


def book_task(length, num_words, test_fraction, seed):
    """x (N, length) int32 word indices, y (N,) part labels 0-2, split into train and test."""
    passages, labels = [], []
    for part, text in enumerate(book_parts()):
        words = text_to_word_sequence(text)
        for i in range(0, len(words) - length + 1, length):
            passages.append(" ".join(words[i:i + length]))
            labels.append(part)
    labels = np.array(labels, np.int32)
    order = np.random.default_rng(seed).permutation(len(passages))
    n_test = int(len(order) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    tok = Tokenizer(num_words=num_words, oov_token="<oov>")
    tok.fit_on_texts([passages[i] for i in train])

    def seqs(idx):
        return pad_sequences(tok.texts_to_sequences([passages[i] for i in idx]), maxlen=length,
                             padding="post")
    return (seqs(train), labels[train]), (seqs(test), labels[test])


def imdb_task(path, length, num_words, samples, seed):
    from pyseq.datasets import imdb
    (x, y), (xt, yt) = imdb.load_data(path=path, num_words=num_words, seed=seed)
    if samples:
        x, y, xt, yt = x[:samples], y[:samples], xt[:samples], yt[:samples]
    pad = lambda s: pad_sequences(list(s), maxlen=length)  # noqa: E731  (Keras's pre-padding)
    return (pad(x), np.asarray(y, np.int32)), (pad(xt), np.asarray(yt, np.int32))


class Seeds:
    """Seeded initializers, one fresh seed per weight, so that a run is reproducible."""

    def __init__(self, seed):
        self.next = seed * 1000

    def _seed(self):
        self.next += 1
        return self.next

    def glorot(self):
        return pyseq.initializers.GlorotUniform(seed=self._seed())

    def embedding(self):
        return pyseq.initializers.RandomUniform(-0.05, 0.05, seed=self._seed())

    def rnn(self):
        return dict(kernel_initializer=self.glorot(),
                    recurrent_initializer=pyseq.initializers.Orthogonal(seed=self._seed()))


def cnn(vocab, length, classes, dim, seed):
    s = Seeds(seed)
    return pyseq.Sequential([
        pyseq.Input((length,), dtype="int32"),
        layers.Embedding(vocab, dim, embeddings_initializer=s.embedding()),
        layers.Conv1D(dim, 5, activation="relu", kernel_initializer=s.glorot()),
        layers.MaxPooling1D(3),
        layers.Conv1D(dim, 5, activation="relu", kernel_initializer=s.glorot()),
        layers.GlobalMaxPooling1D(),
        layers.Dropout(0.3, seed=seed),
        layers.Dense(classes, kernel_initializer=s.glorot()),
    ], name="conv1d")


def bilstm(vocab, length, classes, dim, seed):
    s = Seeds(seed)
    return pyseq.Sequential([
        pyseq.Input((length,), dtype="int32"),
        layers.Embedding(vocab, dim, mask_zero=True, embeddings_initializer=s.embedding()),
        layers.Bidirectional(layers.LSTM(dim // 2, seed=seed, **s.rnn()),
                             backward_layer=layers.LSTM(dim // 2, seed=seed + 1,
                                                        go_backwards=True, **s.rnn())),
        layers.Dropout(0.3, seed=seed),
        layers.Dense(classes, kernel_initializer=s.glorot()),
    ], name="bidirectional_lstm")


def transformer(vocab, length, classes, dim, seed, heads=2, ff=None):
    """One encoder block: token + learned position embeddings, self-attention with a residual
    and LayerNormalization, a feed-forward with a residual and LayerNormalization, then the
    average over positions."""
    s = Seeds(seed)
    ff = ff or 2 * dim
    inp = pyseq.Input((length,), dtype="int32")
    tokens = layers.Embedding(vocab, dim, embeddings_initializer=s.embedding())(inp)
    positions = layers.Embedding(length, dim, embeddings_initializer=s.embedding())(
        np.arange(length))                                         # (length, dim), learned
    x = tokens + positions
    att = layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads, dropout=0.1,
                                    kernel_initializer=s.glorot(), seed=seed)(x, x)
    x = layers.LayerNormalization(epsilon=1e-6)(x + layers.Dropout(0.1, seed=seed)(att))
    f = layers.Dense(dim, kernel_initializer=s.glorot())(
        layers.Dense(ff, activation="relu", kernel_initializer=s.glorot())(x))
    x = layers.LayerNormalization(epsilon=1e-6)(x + layers.Dropout(0.1, seed=seed + 1)(f))
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.3, seed=seed + 2)(x)
    return pyseq.Model(inp, layers.Dense(classes, kernel_initializer=s.glorot())(x),
                       name="transformer")


MODELS = {"Conv1D + pooling": cnn, "bidirectional LSTM": bilstm,
          "Transformer encoder": transformer}


def run_task(name, train, test, classes, vocab, args):
    (x, y), (xt, yt) = train, test
    print(f"\n=== {name}: {len(x)} training and {len(xt)} held-out sequences of {x.shape[1]} "
          f"tokens, {classes} classes ===")
    results = {}
    for label, make in MODELS.items():
        print(f"--- {label} ---")
        model = make(vocab, x.shape[1], classes, args.dim, args.seed)
        model.compile(pyseq.optimizers.Adam(args.lr),
                      pyseq.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
        _, acc = model.evaluate(xt, yt, batch_size=256, verbose=0)
        results[label] = float(acc)
        print(f"{label}: held-out accuracy {acc:.3f}")
    return results


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--length", type=int, default=100, help="words per passage / review")
    p.add_argument("--num-words", type=int, default=8000, help="vocabulary size")
    p.add_argument("--dim", type=int, default=64, help="embedding and model width")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--imdb", metavar="PATH", default=None,
                   help="Keras's imdb.npz; without it the IMDb part is skipped")
    p.add_argument("--imdb-samples", type=int, default=5000,
                   help="reviews used from each of IMDb's train and test halves (0: all 25,000)")
    p.add_argument("--imdb-length", type=int, default=200, help="words kept per review")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    np.random.seed(args.seed)
    t0 = time.perf_counter()
    train, test = book_task(args.length, args.num_words, 0.2, args.seed)
    results = {"book": run_task("The Mysterious Island: which part?", train, test, 3,
                                args.num_words, args)}
    if args.imdb:
        train, test = imdb_task(args.imdb, args.imdb_length, args.num_words, args.imdb_samples,
                                args.seed)
        results["imdb"] = run_task("IMDb reviews: positive or negative?", train, test, 2,
                                   args.num_words, args)
    else:
        print("\nIMDb skipped: pass --imdb PATH to Keras's imdb.npz to run it (pyseq downloads "
              "nothing).")
    print("\nheld-out accuracy")
    for task, r in results.items():
        print(f"  {task:<6}" + "".join(f"  {k}: {v:.3f}" for k, v in r.items()))
    print(f"final: {time.perf_counter() - t0:.0f} s")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
