"""Monthly international airline passengers, 1949-1960 (Box & Jenkins 1976, series G), bundled
with pyseq (data/air_passengers.csv.gz)."""

from __future__ import annotations

from ._csv import dates_and_values


def load_data():
    """(dates, values): 144 months from 1949-01 to 1960-12 as datetime64[D] (first of the month),
    and the passengers of each month in thousands as float32."""
    return dates_and_values("air_passengers.csv")


__all__ = ["load_data"]
