"""The indexed day selection returns exactly the rows a full scan of the source returns."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipelines.ingest import source


def _scan(name: str, day: dt.date) -> pd.DataFrame:
    df = source.source_frame(name)
    mask = (df["year"] == str(day.year)) & (df["month"] == str(day.month)) & (df["day"] == str(day.day))
    return df[mask].reset_index(drop=True)


@pytest.mark.parametrize("name", ["flights", "weather"])
@pytest.mark.parametrize(
    "day", [dt.date(2013, 1, 1), dt.date(2013, 3, 10), dt.date(2013, 11, 3), dt.date(2013, 12, 31)]
)
def test_rows_of_day_equals_a_full_scan(name: str, day: dt.date) -> None:
    indexed = source.rows_of_day(name, day)
    pd.testing.assert_frame_equal(indexed, _scan(name, day))
    assert isinstance(indexed.index, pd.RangeIndex)


def test_a_day_without_rows_is_empty_with_the_source_columns() -> None:
    # The weather data ends 2013-12-30 23:00 UTC: no observations are dated Dec 31.
    empty = source.rows_of_day("weather", dt.date(2013, 12, 31))
    assert empty.empty and list(empty.columns) == list(source.source_frame("weather").columns)
    assert source.rows_of_day("flights", dt.date(2014, 1, 1)).empty


def test_the_cached_source_is_not_modified_by_callers() -> None:
    day = dt.date(2013, 6, 3)
    first = source.rows_of_day("flights", day)
    first.loc[:, "carrier"] = "XX"
    assert (source.rows_of_day("flights", day)["carrier"] != "XX").all()
