"""Per-day ingestion on the real source: invariant, idempotency, immutability, clear errors."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from flightpath import lake
from flightpath.settings import Settings
from pipelines.ingest import source
from pipelines.ingest.landing import EmptyDropError, landing_file
from pipelines.ingest.run import IngestError, ingest_day

DAY = dt.date(2013, 1, 5)


def _digest(settings: Settings) -> dict[str, str]:
    return {
        str(p.relative_to(settings.lake_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(settings.lake_dir.rglob("*.parquet"))
    }


def test_rows_in_equal_curated_plus_quarantined(settings: Settings) -> None:
    summary = ingest_day(settings, DAY)
    f = summary["flights"]
    assert f["rows_in"] == f["curated"] + f["quarantined"] > 500
    curated = pd.read_parquet(lake.partition_file(settings.lake_dir, "curated", "flights", DAY))
    assert len(curated) == f["curated"]
    assert set(curated["origin"]) <= {"EWR", "JFK", "LGA"}


def test_rerun_is_byte_identical(settings: Settings) -> None:
    ingest_day(settings, DAY)
    first = _digest(settings)
    ingest_day(settings, DAY)
    assert _digest(settings) == first


def test_rerun_after_a_crash_halfway_ends_like_a_clean_run(settings: Settings, tmp_path: Path) -> None:
    clean = _digest_after_clean_run(tmp_path)
    # Simulate a run killed after raw was written and curated left as garbage at a temp path.
    ingest_day(settings, DAY)
    cur = lake.partition_file(settings.lake_dir, "curated", "flights", DAY)
    cur.unlink()
    (cur.parent / ".part.parquet.leftover.tmp").write_bytes(b"half a file")
    ingest_day(settings, DAY)
    assert _digest(settings) == clean


def _digest_after_clean_run(tmp_path: Path) -> dict[str, str]:
    s = Settings(home=tmp_path / "clean")
    ingest_day(s, DAY)
    return _digest(s)


def test_raw_partition_is_immutable(settings: Settings) -> None:
    ingest_day(settings, DAY)
    raw = lake.partition_file(settings.lake_dir, "raw", "flights", DAY)
    before = raw.read_bytes()
    mtime = raw.stat().st_mtime_ns
    ingest_day(settings, DAY)
    assert raw.read_bytes() == before and raw.stat().st_mtime_ns == mtime


def test_day_outside_the_data_names_the_allowed_range(settings: Settings) -> None:
    with pytest.raises(IngestError, match="2013-01-01 to 2013-12-31"):
        ingest_day(settings, dt.date(2014, 1, 1))


def test_missing_source_file_is_a_clear_error_and_writes_nothing(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(source.SourceError, match="source file airlines.csv is missing"):
        ingest_day(settings, DAY, data_dir=tmp_path)
    assert not settings.lake_dir.exists() or not any(settings.lake_dir.rglob("*.parquet"))


def test_corrupt_source_file_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    real = source.package_data_dir()
    for name in ("airlines.csv", "weather.csv"):
        (tmp_path / name).write_bytes((real / name).read_bytes())
    (tmp_path / "flights.csv.zip").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(source.SourceError, match="corrupt or unreadable"):
        ingest_day(settings, DAY, data_dir=tmp_path)


def test_empty_day_in_the_source_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    real = source.package_data_dir()
    for name in ("airlines.csv", "weather.csv"):
        (tmp_path / name).write_bytes((real / name).read_bytes())
    flights = pd.read_csv(real / "flights.csv.zip")
    flights[flights["day"] != DAY.day].head(2000).to_csv(tmp_path / "flights.csv.zip", index=False, compression="zip")
    with pytest.raises(EmptyDropError, match=f"no flights for {DAY}"):
        ingest_day(settings, DAY, data_dir=tmp_path)
    assert not settings.landing_dir.exists() or not any(settings.landing_dir.rglob("*.csv"))


def test_raw_is_a_copy_of_the_first_drop_and_a_different_drop_is_refused_not_ignored(settings: Settings) -> None:
    """Ingestion reads the landing zone, not the package: what arrived is what raw keeps. A later,
    different drop is not silently ignored: it is an error naming --redeliver, and nothing changes."""
    ingest_day(settings, DAY)  # delivers the drop, then ingests it
    drop = landing_file(settings, "flights", DAY)
    frame = pd.read_csv(drop, dtype=str)
    assert len(frame) == len(pd.read_parquet(lake.partition_file(settings.lake_dir, "raw", "flights", DAY)))

    before = _digest(settings)
    frame.head(10).to_csv(drop, index=False)
    with pytest.raises(IngestError, match=r"differs from the raw partition .*10 rows now.*--redeliver"):
        ingest_day(settings, DAY)
    assert _digest(settings) == before


def test_a_drop_missing_a_column_is_refused_before_anything_is_frozen(settings: Settings) -> None:
    """It used to freeze the broken drop first: every rerun then failed, even with a corrected drop."""
    drop = _deliver(settings)
    good = pd.read_csv(drop, dtype=str, keep_default_na=False)
    good.drop(columns=["dep_delay"]).to_csv(drop, index=False)
    with pytest.raises(IngestError, match=r"lacks column\(s\) \['dep_delay'\]"):
        ingest_day(settings, DAY)
    assert not settings.lake_dir.exists() or not any(settings.lake_dir.rglob("*.parquet"))
    good.to_csv(drop, index=False)  # the corrected drop
    assert ingest_day(settings, DAY)["flights"]["rows_in"] == len(good)


def _deliver(settings: Settings) -> Path:
    from pipelines.ingest.landing import drop_day

    return drop_day(settings, "flights", DAY, required=True)


def test_a_corrected_redelivery_replaces_raw_when_asked_and_keeps_the_old_aside(settings: Settings) -> None:
    drop = _deliver(settings)
    full = pd.read_csv(drop, dtype=str, keep_default_na=False)
    full.head(100).to_csv(drop, index=False)  # a truncated first delivery
    assert ingest_day(settings, DAY)["flights"]["rows_in"] == 100
    full.to_csv(drop, index=False)  # the corrected one
    with pytest.raises(IngestError, match="--redeliver"):
        ingest_day(settings, DAY)
    summary = ingest_day(settings, DAY, redeliver=True)
    assert summary["flights"]["rows_in"] == len(full)
    curated = pd.read_parquet(lake.partition_file(settings.lake_dir, "curated", "flights", DAY))
    assert len(curated) == summary["flights"]["curated"] > 100
    (aside,) = (settings.lake_dir / "raw" / "_superseded" / "flights").rglob("*.parquet")
    assert len(pd.read_parquet(aside)) == 100
    assert ingest_day(settings, DAY)["flights"]["rows_in"] == len(full)  # and reruns are quiet again


def test_the_drop_contract_names_every_column_validation_reads(settings: Settings) -> None:
    from pipelines.ingest.validate import DROP_COLUMNS, validate_flights, validate_weather

    flights = pd.read_csv(_deliver(settings), dtype=str, keep_default_na=False, na_values=["", "NA"])
    carriers = set(source.source_frame("airlines")["carrier"])
    assert len(validate_flights(flights[list(DROP_COLUMNS["flights"])], DAY, carriers).curated) > 0
    weather = source.rows_of_day("weather", DAY)
    assert len(validate_weather(weather[list(DROP_COLUMNS["weather"])], DAY).curated) > 0


def test_a_corrupt_drop_is_a_clear_error(settings: Settings) -> None:
    drop = landing_file(settings, "flights", DAY)
    drop.parent.mkdir(parents=True)
    drop.write_bytes(b"\xff\xfe\x00 not a csv \x00\x00")
    with pytest.raises(source.SourceError, match="landing drop .* corrupt or unreadable"):
        ingest_day(settings, DAY)
    assert not settings.lake_dir.exists() or not any(settings.lake_dir.rglob("*.parquet"))
