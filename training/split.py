"""Time-based split: train on the past, pick the threshold on the recent past, test on the future.

    |<------------- train ------------->|<-- validation -->|<--- test --->|
                                          validation_days    monitor_days   (calendar days, local)

A random split would leak tomorrow's weather and carrier form into training; a model is always
used on days after the ones it was trained on, so it is evaluated that way too. The test window
is the same "later window" monitoring compares against (settings.monitor_days).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from features.contract import LABEL
from flightpath.errors import FlightpathError
from flightpath.settings import Settings


class SplitError(FlightpathError, ValueError):
    """The frame cannot be split as configured (a part would be empty)."""


@dataclass(frozen=True)
class Split:
    """Three disjoint, time-ordered parts of the labelled rows, plus where they were cut."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    boundaries: dict[str, str]  # ISO days, inclusive: train_start .. test_end
    dropped_unlabelled: int  # cancelled flights (no label) left out

    @property
    def train_window(self) -> str:
        return f"{self.boundaries['train_start']}..{self.boundaries['train_end']}"

    @property
    def test_window(self) -> str:
        return f"{self.boundaries['test_start']}..{self.boundaries['test_end']}"

    def summary(self) -> dict[str, object]:
        """JSON-ready description: boundaries, row counts and positive rates per part."""
        out: dict[str, object] = dict(self.boundaries)
        for name, part in (("train", self.train), ("validation", self.validation), ("test", self.test)):
            out[f"{name}_rows"] = len(part)
            out[f"{name}_positive_rate"] = round(float(part[LABEL].mean()), 4)
        out["dropped_unlabelled"] = self.dropped_unlabelled
        return out


def local_days(frame: pd.DataFrame) -> pd.Series:
    """The flight's local (New York) day as datetime.date, whatever dtype `day` arrived in.

    The curated lake stores it as an ISO string; after a parquet round trip it may be a date.
    """
    return pd.to_datetime(frame["day"].astype(str)).dt.date


def time_split(frame: pd.DataFrame, settings: Settings) -> Split:
    """Drop unlabelled rows and cut the rest into train / validation / test by local day.

    Args:
        frame: the training set (features.training_set): one row per flight with `day`,
            `sched_dep_utc`, `cancelled` and the label column.
        settings: monitor_days (test length) and validation_days.
    Returns:
        A Split whose parts are sorted by sched_dep_utc and whose boundaries are ISO days.
    Raises:
        SplitError: if the window is too short for the three parts (names the part and days).
    """
    labelled = frame[~frame["cancelled"].astype(bool) & frame[LABEL].notna()]
    dropped = len(frame) - len(labelled)
    if labelled.empty:
        raise SplitError(f"no labelled rows in the frame ({len(frame)} rows, all cancelled or unlabelled)")
    labelled = labelled.sort_values("sched_dep_utc", kind="stable").reset_index(drop=True)

    days = local_days(labelled)
    first, last = min(days), max(days)
    # Calendar arithmetic, not "the last N distinct days present": a day with no flights in the
    # data still belongs to the window it falls in.
    test_start = last - dt.timedelta(days=settings.monitor_days - 1)
    val_start = test_start - dt.timedelta(days=settings.validation_days)
    one = dt.timedelta(days=1)
    cuts = {
        "train": (first, val_start - one),
        "validation": (val_start, test_start - one),
        "test": (test_start, last),
    }
    parts = {}
    for name, (start, end) in cuts.items():
        part = labelled[(days >= start) & (days <= end)].reset_index(drop=True)
        if part.empty:
            raise SplitError(
                f"the {name} part ({start}..{end}) is empty: the frame covers {first}..{last} "
                f"({(last - first).days + 1} days) but needs more than validation_days="
                f"{settings.validation_days} + monitor_days={settings.monitor_days}"
            )
        parts[name] = part
    boundaries = {
        f"{name}_{edge}": day.isoformat()
        for name, (start, end) in cuts.items()
        for edge, day in (("start", start), ("end", end))
    }
    return Split(parts["train"], parts["validation"], parts["test"], boundaries, dropped)
