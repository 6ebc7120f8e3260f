"""English -> Korean translation, character level, on the English-Korean pairs bundled with pyseq
(Tatoeba sentences via manythings.org, CC-BY): an LSTM encoder-decoder whose encoder's final
states start the decoder, trained with teacher forcing; then the same with dot-product
``Attention`` over the encoder's outputs, ``Concatenate``-d to the decoder's outputs.

    python examples/translate.py                   # a few minutes on 2 cores
    python examples/translate.py --epochs 80 --units 512

Character level on both sides: the 3,798 pairs hold 915 distinct Korean characters but 6,016
distinct space-separated Korean words, too many words to learn from so few sentences.
Decoding is greedy: the decoder gets the start token, then its own most likely character, until
the end token. The metric is token (character) accuracy on held-out pairs: the share of the
reference's characters, end token included, that greedy decoding puts at the same position.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import pyseq
from pyseq import layers
from pyseq.datasets import kor_eng

PAD, START, END = 0, 1, 2


class CharVocab:
    def __init__(self, texts):
        self.chars = ["<pad>", "<s>", "</s>"] + sorted(set("".join(texts)))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, texts, length, start=False, end=False):
        out = np.full((len(texts), length), PAD, np.int32)
        for r, t in enumerate(texts):
            ids = ([START] if start else []) + [self.index[c] for c in t] + ([END] if end else [])
            out[r, :len(ids)] = ids[:length]
        return out

    def decode(self, ids):
        s = []
        for i in ids:
            if i == END or i == PAD:
                break
            s.append(self.chars[i])
        return "".join(s)


def load(max_en, max_ko, test_fraction, seed):
    en, ko = kor_eng.load_pairs()
    pairs = [(e, k) for e, k in zip(en, ko) if len(e) <= max_en and len(k) <= max_ko]
    order = np.random.default_rng(seed).permutation(len(pairs))
    pairs = [pairs[i] for i in order]
    n_test = max(1, int(len(pairs) * test_fraction))
    return pairs[n_test:], pairs[:n_test]


def arrays(pairs, src_vocab, tgt_vocab, max_en, max_ko):
    en = [e for e, _ in pairs]
    ko = [k for _, k in pairs]
    enc = src_vocab.encode(en, max_en)
    dec_in = tgt_vocab.encode(ko, max_ko + 1, start=True)   # <s> k1 ... kn
    dec_out = tgt_vocab.encode(ko, max_ko + 1, end=True)    # k1 ... kn </s>
    return enc, dec_in, dec_out


def build(attention, n_src, n_tgt, embedding, units, lr, seed):
    glorot = lambda k: pyseq.initializers.GlorotUniform(seed=seed + k)  # noqa: E731
    rnn = lambda k: dict(kernel_initializer=glorot(k),  # noqa: E731
                         recurrent_initializer=pyseq.initializers.Orthogonal(seed=seed + k + 1))
    enc_in = pyseq.Input((None,), dtype="int32", name="english")
    dec_in = pyseq.Input((None,), dtype="int32", name="korean_shifted")
    e = layers.Embedding(n_src, embedding, mask_zero=True,
                         embeddings_initializer=pyseq.initializers.RandomUniform(
                             -0.05, 0.05, seed=seed))(enc_in)
    enc_seq, h, c = layers.LSTM(units, return_sequences=True, return_state=True, **rnn(1))(e)
    d = layers.Embedding(n_tgt, embedding, mask_zero=True,
                         embeddings_initializer=pyseq.initializers.RandomUniform(
                             -0.05, 0.05, seed=seed + 3))(dec_in)
    dec_seq = layers.LSTM(units, return_sequences=True, **rnn(4))(d, initial_state=[h, c])
    if attention:
        context = layers.Attention()([dec_seq, enc_seq])         # dot-product scores
        dec_seq = layers.Concatenate()([dec_seq, context])
    out = layers.Dense(n_tgt, kernel_initializer=glorot(6))(dec_seq)
    model = pyseq.Model([enc_in, dec_in], out,
                        name="seq2seq_attention" if attention else "seq2seq")
    model.compile(pyseq.optimizers.Adam(lr),
                  pyseq.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def greedy_decode(model, enc, max_len):
    """Feeds the decoder its own argmax, one step at a time (the decoder is causal, so running
    the model on the first t+1 inputs gives step t's prediction)."""
    n = len(enc)
    dec = np.full((n, max_len + 1), PAD, np.int32)
    dec[:, 0] = START
    out = np.full((n, max_len), PAD, np.int32)
    done = np.zeros(n, bool)
    for t in range(max_len):
        logits = model.predict_on_batch([enc, dec[:, :t + 1]])[:, -1]
        tok = np.where(done, PAD, np.argmax(logits, axis=-1)).astype(np.int32)
        out[:, t] = tok
        done |= tok == END
        if t + 1 < max_len + 1:
            dec[:, t + 1] = np.where(done, PAD, tok)
        if done.all():
            break
    return out


def token_accuracy(pred, ref):
    """Share of the reference's tokens (end token included, padding not) matched position by
    position."""
    valid = ref != PAD
    L = min(pred.shape[1], ref.shape[1])
    hit = (pred[:, :L] == ref[:, :L]) & valid[:, :L]
    return float(hit.sum() / valid.sum())


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--max-en", type=int, default=40, help="longest English sentence kept (chars)")
    p.add_argument("--max-ko", type=int, default=20, help="longest Korean sentence kept (chars)")
    p.add_argument("--pairs", type=int, default=0, help="use only the first N pairs (0: all)")
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument("--show", type=int, default=8, help="held-out translations to print")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    np.random.seed(args.seed)
    t0 = time.perf_counter()
    train, test = load(args.max_en, args.max_ko, args.test_fraction, args.seed)
    if args.pairs:
        train, test = train[:args.pairs], test[:max(1, args.pairs // 10)]
    src = CharVocab([e for e, _ in train + test])
    tgt = CharVocab([k for _, k in train + test])
    x_enc, x_dec, y = arrays(train, src, tgt, args.max_en, args.max_ko)
    t_enc, _, t_y = arrays(test, src, tgt, args.max_en, args.max_ko)
    print(f"{len(train)} training pairs, {len(test)} held out; {len(src)} English and "
          f"{len(tgt)} Korean symbols (characters + pad, start, end)")
    results = {}
    for attention in (False, True):
        name = "encoder-decoder + attention" if attention else "encoder-decoder"
        print(f"\n=== {name} ===")
        model = build(attention, len(src), len(tgt), args.embedding, args.units, args.lr,
                      args.seed)
        history = model.fit([x_enc, x_dec], y, batch_size=args.batch_size, epochs=args.epochs,
                            verbose=args.verbose)
        pred = greedy_decode(model, t_enc, args.max_ko + 1)
        acc = token_accuracy(pred, t_y)
        results[name] = {"token_accuracy": acc, "loss": history.history["loss"][-1]}
        print(f"{name}: final training loss {results[name]['loss']:.4f}; held-out token "
              f"accuracy (greedy) {acc:.3f}")
        for (e, k), p in list(zip(test, pred))[:args.show]:
            print(f"  {e!r}\n    reference {k!r}\n    model     {tgt.decode(p)!r}")
    print("\nheld-out token accuracy (greedy decoding, character level):")
    for name, r in results.items():
        print(f"  {name:<30} {r['token_accuracy']:.3f}")
    print(f"final: {time.perf_counter() - t0:.0f} s")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
