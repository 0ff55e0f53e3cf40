"""Ingestion throughput of the per-day stage function `ingest_day`, and how it scales with the window.

Floor: selecting the same days' rows from the already-parsed source with pandas (a boolean mask
per day: what any ingestion must at least pay to find a day's rows). The ratio says what
validation, typing and the atomic parquet writes cost on top. Both run in this process; the
source file is parsed once before anything is timed (a backfill pays that once per process).

Scaling: 1, 3, 6 and 12 months starting in January, each into a fresh lake. Linear scaling means
rows/s stays flat as the window grows (ratio to the 1-month rate near 1.0).
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

FIRST = dt.date(2013, 1, 1)


def _floor(days: list[dt.date]) -> int:
    flights = source.source_frame("flights")
    n = 0
    for d in days:
        mask = (flights["year"] == str(d.year)) & (flights["month"] == str(d.month)) & (flights["day"] == str(d.day))
        n += len(flights[mask])
    return n


def _ingest(days: list[dt.date]) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        s = Settings(home=Path(tmp))
        t0 = time.perf_counter()
        rows = sum(int(ingest_day(s, d)["flights"]["rows_in"]) for d in days)
        return rows, time.perf_counter() - t0


def _end_of_months(months: int) -> dt.date:
    if months >= 12:
        return dt.date(2013, 12, 31)
    return dt.date(2013, months + 1, 1) - dt.timedelta(days=1)


def run(day_repeats: int = 3) -> dict[str, Any]:
    """Returns {"windows": [...], "scaling": [...]} (see docs/benchmarks.md for the columns)."""
    # Warm both sides: the parsed source files and the per-process day index.
    source.rows_of_day("flights", FIRST)
    source.rows_of_day("weather", FIRST)

    windows: list[dict[str, Any]] = []
    one_day = [dt.date(2013, 6, 3)]
    t_ingest, t_floor, rows = [], [], 0
    for _ in range(day_repeats):  # interleaved
        rows, t = _ingest(one_day)
        t_ingest.append(t)
        t0 = time.perf_counter()
        _floor(one_day)
        t_floor.append(time.perf_counter() - t0)
    ti, tf = statistics.median(t_ingest), statistics.median(t_floor)
    windows.append(
        {
            "window": "1 day (2013-06-03)",
            "days": 1,
            "rows": rows,
            "seconds": ti,
            "rows_per_s": rows / ti,
            "floor_rows_per_s": rows / tf,
            "over_floor": ti / tf,
            "runs": day_repeats,
        }
    )

    scaling: list[dict[str, Any]] = []
    base_rate = None
    for months in (1, 3, 6, 12):
        days = days_between(FIRST, _end_of_months(months))
        rows, ti = _ingest(days)
        t0 = time.perf_counter()
        _floor(days)
        tf = time.perf_counter() - t0
        rate = rows / ti
        base_rate = base_rate or rate
        scaling.append(
            {
                "months": months,
                "days": len(days),
                "rows": rows,
                "seconds": ti,
                "seconds_per_day": ti / len(days),
                "rows_per_s": rate,
                "vs_1_month": rate / base_rate,
                "floor_rows_per_s": rows / tf,
                "over_floor": ti / tf,
            }
        )
        if months == 12:
            windows.append(
                {
                    "window": "full year",
                    "days": len(days),
                    "rows": rows,
                    "seconds": ti,
                    "rows_per_s": rate,
                    "floor_rows_per_s": rows / tf,
                    "over_floor": ti / tf,
                    "runs": 1,
                }
            )
    return {"windows": windows, "scaling": scaling}
