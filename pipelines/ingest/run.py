"""Per-day ingestion: the function the DAG task, `make backfill` and the demo all call.

    flightpath ingest --start 2013-01-01 --end 2013-01-07

For a day D: the day's drop in the landing zone (see landing.py) -> its columns checked against the
contract (a drop without one is refused before anything is written) -> an immutable raw partition
(written once) -> validation -> curated + quarantine partitions, each written to a temporary file
and renamed, so a rerun or a run killed half-way ends byte-identical to a clean run.

Re-delivery: when a corrected drop arrives for a day already ingested (a truncated or broken first
drop), the landing file differs from the frozen raw partition. That is an error, not a silent "keep
the first": ingesting it needs `redeliver=True` (`flightpath ingest --redeliver`), which keeps the
old raw partition aside under raw/_superseded/ and logs both row counts.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from flightpath import lake
from flightpath.atomic import write_parquet
from flightpath.errors import FlightpathError
from flightpath.settings import DATA_FIRST_DAY, DATA_LAST_DAY, Settings
from pipelines.ingest import source
from pipelines.ingest.landing import drop_day, read_drop
from pipelines.ingest.validate import (
    ValidationResult,
    missing_columns,
    quality_summary,
    validate_flights,
    validate_weather,
)

log = logging.getLogger(__name__)


class IngestError(FlightpathError, RuntimeError):
    """The day cannot be ingested (empty, out of range, or the rows-in invariant broke)."""


def check_day(day: dt.date) -> None:
    if not DATA_FIRST_DAY <= day <= DATA_LAST_DAY:
        raise IngestError(f"{day} is outside the data: days from {DATA_FIRST_DAY} to {DATA_LAST_DAY} are allowed")


def superseded_file(settings: Settings, dataset: str, day: dt.date, stamp: str) -> Path:
    return settings.lake_dir / "raw" / "_superseded" / dataset / f"date={day.isoformat()}" / f"{stamp}.parquet"


def check_drop_columns(dataset: str, day: dt.date, drop: pd.DataFrame) -> None:
    """Refuse a drop without a column of the contract, naming them (before anything is written)."""
    missing = missing_columns(drop, dataset)
    if missing:
        raise IngestError(
            f"the {dataset} drop for {day} lacks column(s) {missing}: refused before anything was written; "
            "fix the drop in the landing zone and rerun"
        )


def _raw_partition(
    settings: Settings, dataset: str, day: dt.date, drop: pd.DataFrame, redeliver: bool = False
) -> pd.DataFrame:
    """Raw is immutable: the first drop of a day is kept as it came; later runs read it back.

    A drop that differs from the frozen partition is a re-delivery: refused unless `redeliver`,
    which moves the old partition aside (never deleted) and freezes the new drop.
    """
    path = lake.partition_file(settings.lake_dir, "raw", dataset, day)
    if not path.exists():
        write_parquet(drop, path)
        return drop
    frozen = pd.read_parquet(path)
    if frozen.equals(drop):
        return frozen
    if not redeliver:
        raise IngestError(
            f"the {dataset} drop for {day} differs from the raw partition ingested before "
            f"({len(drop)} rows now, {len(frozen)} then): if it is a corrected re-delivery, rerun with "
            "--redeliver (the old raw partition is kept aside)"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = superseded_file(settings, dataset, day, stamp)
    aside.parent.mkdir(parents=True, exist_ok=True)
    path.replace(aside)
    write_parquet(drop, path)
    log.warning(
        "re-delivery of %s %s: raw replaced (%d rows, was %d); the old partition is at %s",
        dataset, day, len(drop), len(frozen), aside,
    )  # fmt: skip
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


def ingest_day(
    settings: Settings, day: dt.date, data_dir: Path | None = None, *, redeliver: bool = False
) -> dict[str, Any]:
    """Ingest flights and weather of one local day. Returns the quality summary per dataset.

    `redeliver`: a landing drop that differs from the day's raw partition replaces it (see above).
    """
    check_day(day)
    carriers = set(source.source_frame("airlines", data_dir)["carrier"])
    flights_drop = read_drop(drop_day(settings, "flights", day, data_dir, required=True))
    if flights_drop.empty:
        raise IngestError(
            f"the drop has no flights for {day}; every day from {DATA_FIRST_DAY} to "
            f"{DATA_LAST_DAY} should have some: the source file looks truncated"
        )
    weather_drop = read_drop(drop_day(settings, "weather", day, data_dir))
    # Both drops pass the column check before either raw partition is frozen.
    check_drop_columns("flights", day, flights_drop)
    check_drop_columns("weather", day, weather_drop)
    raw = _raw_partition(settings, "flights", day, flights_drop, redeliver)
    flights = _write_validated(settings, "flights", day, raw, validate_flights(raw, day, carriers))

    # Weather may legitimately be empty (the data has no observations for Dec 31): a missing
    # feature downstream, not an error here.
    weather_raw = _raw_partition(settings, "weather", day, weather_drop, redeliver)
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
