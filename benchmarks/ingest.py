"""Ingestion throughput: `ingest_day` vs the floor of reading + filtering the same rows with pandas.

The floor is what any ingestion must pay (parse the day's rows); the ratio says what validation,
typing and the atomic parquet writes cost on top. Both run in this process, interleaved.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from flightpath.settings import Settings, days_between
from pipelines.ingest import source
from pipelines.ingest.run import ingest_day


def _floor(days: list[dt.date]) -> int:
    flights = source.source_frame("flights")
    n = 0
    for d in days:
        mask = (flights["year"] == str(d.year)) & (flights["month"] == str(d.month)) & (flights["day"] == str(d.day))
        n += int(mask.sum())
    return n


def run(repeats: int = 3) -> dict[str, Any]:
    source.source_frame("flights")  # warm the per-process source cache for both sides
    windows = {"1 day": (dt.date(2013, 6, 3), dt.date(2013, 6, 3)),
               "1 month": (dt.date(2013, 6, 1), dt.date(2013, 6, 30))}
    results: dict[str, Any] = {}
    for label, (start, end) in windows.items():
        days = days_between(start, end)
        t_ingest, t_floor, rows = [], [], 0
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                s = Settings(home=Path(tmp))
                t0 = time.perf_counter()
                rows = sum(int(ingest_day(s, d)["flights"]["rows_in"]) for d in days)  # type: ignore[index]
                t_ingest.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _floor(days)
            t_floor.append(time.perf_counter() - t0)
        ti, tf = statistics.median(t_ingest), statistics.median(t_floor)
        results[label] = {"rows": rows, "ingest_rows_per_s": round(rows / ti), "floor_rows_per_s": round(rows / tf),
                          "ingest_over_floor": round(ti / tf, 1), "seconds": round(ti, 3)}
    return results
