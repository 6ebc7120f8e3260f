"""Daily minimum temperatures in Melbourne, 1981-1990 (Australian Bureau of Meteorology, via
the Time Series Data Library), bundled with pyseq (data/daily_min_temperatures.csv.gz)."""

from __future__ import annotations

from ._csv import dates_and_values


def load_data():
    """(dates, values): 3,650 days from 1981-01-01 to 1990-12-31 as datetime64[D], and the
    minimum temperature of each in °C as float32."""
    return dates_and_values("daily_min_temperatures.csv")


__all__ = ["load_data"]
