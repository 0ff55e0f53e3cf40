"""Per-day ingestion: the function the DAG task, `make backfill` and the demo all call.

    flightpath ingest --start 2013-01-01 --end 2013-01-07

For a day D: the day's drop in the landing zone (see landing.py) -> an immutable raw partition
(written once, never rewritten) -> validation -> curated + quarantine partitions, each written to a
temporary file and renamed, so a rerun or a run killed half-way ends byte-identical to a clean run.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from flightpath import lake
from flightpath.atomic import write_parquet
from flightpath.settings import DATA_FIRST_DAY, DATA_LAST_DAY, Settings
from pipelines.ingest import source
from pipelines.ingest.landing import drop_day, read_drop
from pipelines.ingest.validate import ValidationResult, quality_summary, validate_flights, validate_weather

log = logging.getLogger(__name__)


class IngestError(RuntimeError):
    """The day cannot be ingested (empty, out of range, or the rows-in invariant broke)."""


def check_day(day: dt.date) -> None:
    if not DATA_FIRST_DAY <= day <= DATA_LAST_DAY:
        raise IngestError(f"{day} is outside the data: days from {DATA_FIRST_DAY} to {DATA_LAST_DAY} are allowed")


def _raw_partition(settings: Settings, dataset: str, day: dt.date, drop: pd.DataFrame) -> pd.DataFrame:
    """Raw is immutable: the first drop of a day is kept as it came; later runs read it back."""
    path = lake.partition_file(settings.lake_dir, "raw", dataset, day)
    if path.exists():
        return pd.read_parquet(path)
    write_parquet(drop, path)
    return drop


def _write_validated(
    settings: Settings, dataset: str, day: dt.date, raw: pd.DataFrame, result: ValidationResult
) -> dict[str, object]:
    summary = quality_summary(result, len(raw))
    if summary["curated"] + summary["quarantined"] != summary["rows_in"]:  # type: ignore[operator]
        raise IngestError(
            f"{dataset} {day}: rows in {summary['rows_in']} != curated {summary['curated']} "
            f"+ quarantined {summary['quarantined']}; nothing was written"
        )
    write_parquet(result.curated, lake.partition_file(settings.lake_dir, "curated", dataset, day))
    write_parquet(result.quarantine, lake.partition_file(settings.lake_dir, "quarantine", dataset, day))
    return summary


def ingest_day(settings: Settings, day: dt.date, data_dir: Path | None = None) -> dict[str, Any]:
    """Ingest flights and weather of one local day. Returns the quality summary per dataset."""
    check_day(day)
    carriers = set(source.source_frame("airlines", data_dir)["carrier"])
    flights_drop = read_drop(drop_day(settings, "flights", day, data_dir, required=True))
    if flights_drop.empty:
        raise IngestError(
            f"the drop has no flights for {day}; every day from {DATA_FIRST_DAY} to "
            f"{DATA_LAST_DAY} should have some: the source file looks truncated"
        )
    raw = _raw_partition(settings, "flights", day, flights_drop)
    flights = _write_validated(settings, "flights", day, raw, validate_flights(raw, day, carriers))

    # Weather may legitimately be empty (the data has no observations for Dec 31): a missing
    # feature downstream, not an error here.
    weather_drop = read_drop(drop_day(settings, "weather", day, data_dir))
    weather_raw = _raw_partition(settings, "weather", day, weather_drop)
    weather = _write_validated(settings, "weather", day, weather_raw, validate_weather(weather_raw, day))
    summary = {"day": day.isoformat(), "flights": flights, "weather": weather}
    log.info("ingested %s", summary)
    return summary


def ingest_dimensions(settings: Settings, data_dir: Path | None = None) -> dict[str, int]:
    """Planes and carriers: reference tables with no daily drop; rewritten atomically each run."""
    planes = source.source_frame("planes", data_dir)
    planes = planes.dropna(subset=["tailnum"]).drop_duplicates("tailnum").sort_values("tailnum")
    typed = pd.DataFrame(
        {
            "tailnum": planes["tailnum"].astype(str),
            "year": pd.to_numeric(planes["year"], errors="coerce").astype("float64"),
            "seats": pd.to_numeric(planes["seats"], errors="coerce").astype("float64"),
            "engines": pd.to_numeric(planes["engines"], errors="coerce").astype("float64"),
            "manufacturer": planes["manufacturer"].astype(str),
            "model": planes["model"].astype(str),
        }
    ).reset_index(drop=True)
    write_parquet(typed, lake.dimension_file(settings.lake_dir, "planes"))
    carriers = source.source_frame("airlines", data_dir).sort_values("carrier").reset_index(drop=True)
    write_parquet(carriers, lake.dimension_file(settings.lake_dir, "carriers"))
    return {"planes": len(typed), "carriers": len(carriers)}
