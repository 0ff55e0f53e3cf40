"""The parquet lake's layout: one place that knows where each dataset and partition lives.

    lake/raw/flights/date=2013-01-05/flights.parquet        immutable copy of the day's drop
    lake/curated/flights/date=2013-01-05/part.parquet       validated, typed, rewritten atomically
    lake/quarantine/flights/date=2013-01-05/part.parquet    rejected rows + the rule that failed
    lake/curated/weather/date=2013-01-05/part.parquet       hourly observations, by local day
    lake/curated/planes/part.parquet                        a dimension snapshot (no daily drop)
    lake/features/weather_at_origin/2013-01-05.parquet      offline feature tables, one file per view and day
    lake/training_sets/2013-01-01_2013-03-31.parquet        point-in-time training frames, per window

Partitions are keyed by the *local* (New York) scheduled-departure day, the day a run stands for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

ZONES = ("raw", "curated", "quarantine")
DAILY_DATASETS = ("flights", "weather")


def partition_dir(lake_dir: Path, zone: str, dataset: str, day: dt.date) -> Path:
    if zone not in ZONES:
        raise ValueError(f"unknown lake zone {zone!r}; allowed: {', '.join(ZONES)}")
    return lake_dir / zone / dataset / f"date={day.isoformat()}"


def partition_file(lake_dir: Path, zone: str, dataset: str, day: dt.date) -> Path:
    name = f"{dataset}.parquet" if zone == "raw" else "part.parquet"
    return partition_dir(lake_dir, zone, dataset, day) / name


def dimension_file(lake_dir: Path, dataset: str) -> Path:
    return lake_dir / "curated" / dataset / "part.parquet"


def features_root(lake_dir: Path) -> Path:
    """Folder of every feature view's offline tables."""
    return lake_dir / "features"


def features_dir(lake_dir: Path, view: str) -> Path:
    """Folder of one feature view's offline tables (features/tables.py checks the view name)."""
    return features_root(lake_dir) / view


def training_set_file(lake_dir: Path, start: dt.date, end: dt.date) -> Path:
    """The point-in-time training frame of one window."""
    return lake_dir / "training_sets" / f"{start.isoformat()}_{end.isoformat()}.parquet"


def read_partitions(lake_dir: Path, zone: str, dataset: str, days: list[dt.date]) -> pd.DataFrame:
    """Concatenate the given day partitions; a missing one is an error naming the day."""
    files = [partition_file(lake_dir, zone, dataset, d) for d in days]
    missing = [f for f in files if not f.exists()]
    if missing:
        names = ", ".join(p.parent.name for p in missing[:5])
        raise FileNotFoundError(
            f"{len(missing)} {zone}/{dataset} partition(s) missing ({names}{', ...' if len(missing) > 5 else ''}); "
            "run the ingest step for those days first (make backfill START=... END=...)"
        )
    frames = [pd.read_parquet(f) for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def available_days(lake_dir: Path, zone: str, dataset: str) -> list[dt.date]:
    root = lake_dir / zone / dataset
    if not root.exists():
        return []
    return sorted(dt.date.fromisoformat(p.name.removeprefix("date=")) for p in root.glob("date=*"))
