"""The Airflow Assets that connect the DAGs (Airflow 3 data-aware scheduling).

    flightpath_daily   --materialize D--> DAY_READY {"day": D} --> flightpath_monitor --retrain?--> flightpath_retrain

An asset event carries the day it is about in its `extra`, so the monitoring run knows which
day(s) to judge without guessing from its own (asset-triggered, interval-less) run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import Asset

# Day D is in the lake, its features are built, its flights batch-scored and the online store
# materialized through its end: outcomes and answers of D can be compared.
DAY_READY = Asset(name="flightpath_day_ready", uri="flightpath://lake/day-ready")


def days_of(extras: Iterable[Mapping[str, Any] | None], param_day: str | None = None) -> list[dt.date]:
    """The days named by a run's triggering asset events (their `extra`), else by its `day` param;
    sorted, each once (a backfill can queue several days into one monitoring run)."""
    days = {dt.date.fromisoformat(str(extra["day"])) for extra in extras if extra and extra.get("day")}
    if not days and param_day:
        days = {dt.date.fromisoformat(param_day)}
    if not days:
        raise ValueError("no day to monitor: start this DAG from flightpath_daily or with conf {'day': 'YYYY-MM-DD'}")
    return sorted(days)
