"""pyseq's current main job: build an LSTM, run it forward and backward on random data with the
fused kernel and with the float64 NumPy reference, and report the timing and the largest error.

    python examples/lstm_demo.py [--batch 32 --steps 50 --inputs 32 --units 64 --repeats 20]
"""
import argparse
import sys
import time

import numpy as np

import pyseq
from pyseq import ops, reference


def progress(i, n, label, width=30):
    done = int(width * i / n)
    sys.stdout.write(f"\r{label} [{'#' * done}{'.' * (width - done)}] {i}/{n}")
    sys.stdout.flush()
    if i == n:
        sys.stdout.write("\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--inputs", type=int, default=32)
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    B, T, I, H = args.batch, args.steps, args.inputs, args.units

    info = pyseq.build_info()
    print(f"pyseq {info['version']}: {info['blas']}, SIMD {info['simd']}, "
          f"OpenMP {info['openmp']}, {pyseq.get_num_threads()} threads")
    rng = np.random.default_rng(args.seed)
    lim = np.sqrt(6 / (I + 4 * H))  # glorot-uniform, like Keras's default kernel initialiser
    x = rng.standard_normal((B, T, I))
    kernel = rng.uniform(-lim, lim, (I, 4 * H))
    recurrent = np.linalg.qr(rng.standard_normal((4 * H, H)))[0].T  # orthogonal rows, (H, 4H)
    bias = np.zeros(4 * H)
    bias[H:2 * H] = 1.0  # unit_forget_bias
    mask = rng.random((B, T)) > 0.1
    dy = rng.standard_normal((B, T, H))
    print(f"LSTM: batch {B}, steps {T}, inputs {I}, units {H}; ~10% of steps masked")

    for dtype in (np.float32, np.float64):
        args32 = [a.astype(dtype) for a in (x, kernel, recurrent, bias)]
        times = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            y, h, c, saved = ops.lstm_forward(*args32, mask=mask)
            grads = ops.lstm_backward(dy.astype(dtype), None, None, saved)
            times.append(time.perf_counter() - t0)
            progress(i + 1, args.repeats, f"{np.dtype(dtype).name} forward+backward")
        t0 = time.perf_counter()
        y_ref, h_ref, c_ref, cache = reference.lstm_forward(x, kernel, recurrent, bias, mask=mask)
        grads_ref = reference.lstm_backward(dy, None, None, cache)
        t_ref = time.perf_counter() - t0
        names = ["y", "h_T", "c_T", "dx", "dkernel", "drecurrent_kernel", "dbias", "dh0", "dc0"]
        errors = {n: float(np.max(np.abs(a - r)) / (1 + np.max(np.abs(r))))
                  for n, a, r in zip(names, (y, h, c, *grads), (y_ref, h_ref, c_ref, *grads_ref))}
        worst = max(errors, key=errors.get)
        best = min(times)
        print(f"  pyseq {best * 1e3:8.2f} ms   reference {t_ref * 1e3:8.1f} ms   "
              f"({t_ref / best:.0f}x)   largest relative error {errors[worst]:.1e} ({worst})")


if __name__ == "__main__":
    main()
