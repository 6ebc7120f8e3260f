"""Read a bundled two-column CSV (date, number)."""

from __future__ import annotations

import csv
import io

import numpy as np

from ._files import bundled_text


def dates_and_values(name):
    rows = list(csv.reader(io.StringIO(bundled_text(name))))
    body = [r for r in rows[1:] if r]
    dates = np.array([r[0] for r in body], dtype="datetime64[D]")
    values = np.array([float(r[1]) for r in body], dtype=np.float32)
    return dates, values
