"""A small Keras-style progress bar on stdout (no dependencies).

verbose=1: ``  12/40 ━━━━━━━━━━━━━━━━━━━━ 1s 18ms/step - accuracy: 0.8125 - loss: 0.4402``,
redrawn in place at most every 50 ms; verbose=2: one line per epoch; verbose=0: silent.
"""

import sys
import time


def format_value(v):
    # a metric with several thresholds logs an array; Keras's bar shows its mean
    v = float(sum(v) / len(v)) if hasattr(v, "__len__") and len(v) else float(v)
    return f"{v:.4e}" if v != 0 and abs(v) < 1e-3 else f"{v:.4f}"


def format_time(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(round(seconds))}s"


def format_per_step(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    def __init__(self, target, verbose=1, width=20, stream=None, interval=0.05):
        self.target, self.verbose, self.width = target, verbose, width
        self.stream = stream if stream is not None else sys.stdout
        self.interval = interval
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_len = 0

    def _line(self, current, values, finalize):
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(current, 1)
        n = len(str(self.target)) if self.target else len(str(current))
        counter = f"{current:>{n}}/{self.target}" if self.target else f"{current}"
        parts = [counter]
        if self.verbose == 1:
            filled = int(self.width * current / self.target) if self.target else self.width
            parts.append("\u2501" * filled + " " * (self.width - filled)
                         if not finalize else "\u2501" * self.width)
            remaining = per_step * (self.target - current) if self.target and not finalize \
                else elapsed
            parts.append(f"{format_time(remaining)} {format_per_step(per_step)}")
            line = " ".join(parts)
        else:
            line = f"{counter} - {format_time(elapsed)} - {format_per_step(per_step)}"
        for k, v in values.items():
            line += f" - {k}: {format_value(v)}"
        return line

    def update(self, current, values=None, finalize=False):
        if self.verbose == 0:
            return
        now = time.perf_counter()
        if self.verbose == 2 and not finalize:
            return
        if not finalize and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        line = self._line(current, values or {}, finalize)
        if self.verbose == 1:
            pad = max(self._last_len - len(line), 0)
            self.stream.write("\r" + line + " " * pad)
            self._last_len = len(line)
            if finalize:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
