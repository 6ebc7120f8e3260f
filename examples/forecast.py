"""Forecasting one step ahead with SimpleRNN, LSTM and Conv1D + LSTM, on a noisy sine wave and on
the Melbourne daily minimum temperatures (1981-1990, bundled with pyseq). Each model reads a
window of the last ``--window`` values and predicts the next; its mean absolute error on the
held-out end of the series is set against the naive forecast "same as yesterday".

    python examples/forecast.py                    # about a minute on 2 cores
    python examples/forecast.py --epochs 30 --units 64
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import pyseq
from pyseq import layers
from pyseq.datasets import temperatures
from pyseq.utils import make_windows


def sine_series(n=3000, seed=0):
    """A sine of period 50 steps with Gaussian noise (sd 0.1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (np.sin(2 * np.pi * t / 50) + 0.1 * rng.standard_normal(n)).astype(np.float32)


def temperature_series(days=0):
    """The daily minima in °C; ``days`` > 0 keeps only the first ``days`` of them."""
    values = temperatures.load_data()[1].astype(np.float32)
    return values[:days] if days else values


def split_windows(series, window, test_fraction=0.2):
    """Windows of a series scaled by the training part's mean and sd; the last test_fraction of
    the windows (the end of the series) are held out."""
    n_train = int(len(series) * (1 - test_fraction))
    mean, sd = series[:n_train].mean(), series[:n_train].std()
    x, y = make_windows((series - mean) / sd, window)
    split = int(len(x) * (1 - test_fraction))
    x, y = x[:, :, None], y[:, None]  # (N, window, 1 feature), (N, 1) like the model's output
    return (x[:split], y[:split]), (x[split:], y[split:]), sd


def build(kind, window, units, seed):
    init = dict(kernel_initializer=pyseq.initializers.GlorotUniform(seed=seed))
    rnn = dict(init, recurrent_initializer=pyseq.initializers.Orthogonal(seed=seed + 1))
    if kind == "SimpleRNN":
        body = [layers.SimpleRNN(units, **rnn)]
    elif kind == "LSTM":
        body = [layers.LSTM(units, **rnn)]
    elif kind == "Conv1D+LSTM":
        body = [layers.Conv1D(units, 5, padding="causal", activation="relu", **init),
                layers.LSTM(units, **rnn)]
    else:
        raise ValueError(f"unknown model {kind!r}")
    model = pyseq.Sequential([pyseq.Input((window, 1))] + body
                             + [layers.Dense(1, kernel_initializer=pyseq.initializers.GlorotUniform(
                                 seed=seed + 2))], name=kind.replace("+", "_"))
    model.compile(pyseq.optimizers.Adam(3e-3), loss="mse", metrics=["mae"])
    return model


MODELS = ("SimpleRNN", "LSTM", "Conv1D+LSTM")


def run_series(name, series, args):
    (x, y), (xt, yt), sd = split_windows(series, args.window)
    naive = float(np.mean(np.abs(xt[:, -1] - yt))) * sd  # tomorrow = today
    print(f"\n=== {name}: {len(x)} training windows, {len(xt)} held out; "
          f"naive 'same as yesterday' MAE {naive:.4f} ===")
    results = {"naive": naive}
    for kind in MODELS:
        print(f"--- {kind} ---")
        model = build(kind, args.window, args.units, args.seed)
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
        pred = model.predict(xt, batch_size=256, verbose=0)
        results[kind] = float(np.mean(np.abs(pred - yt))) * sd
        print(f"{kind}: held-out MAE {results[kind]:.4f} (naive {naive:.4f}, "
              f"ratio {results[kind] / naive:.3f})")
    return results


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--window", type=int, default=30, help="values the model sees")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--length", type=int, default=3000, help="sine-wave length")
    p.add_argument("--days", type=int, default=0, help="temperatures: first N days only (0: all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    np.random.seed(args.seed)
    t0 = time.perf_counter()
    results = {"sine": run_series("noisy sine wave", sine_series(args.length, args.seed), args),
               "temperatures": run_series("Melbourne daily minimum temperature (°C)",
                                          temperature_series(args.days), args)}
    print("\nheld-out MAE (same units as the series)")
    print(f"{'series':<14}" + "".join(f"{k:>13}" for k in ("naive",) + MODELS))
    for name, r in results.items():
        print(f"{name:<14}" + "".join(f"{r[k]:>13.4f}" for k in ("naive",) + MODELS))
    print(f"final: {time.perf_counter() - t0:.0f} s")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
