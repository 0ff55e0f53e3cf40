"""pipelines/next_day.py: which day comes next. (A real next-day run on the data: tests/pipelines/
test_replay.py, on the replayed home; in the cluster's pod twin: `make k8s-twin`.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from flightpath.errors import FlightpathError
from flightpath.settings import Settings
from pipelines.next_day import following_day, next_day


def test_the_next_day_follows_the_newest_not_the_last_listed() -> None:
    days = [dt.date(2013, 1, 3), dt.date(2013, 1, 1), dt.date(2013, 1, 2)]
    assert following_day(days) == dt.date(2013, 1, 4)


def test_after_the_last_day_of_the_data_there_is_none() -> None:
    assert following_day([dt.date(2013, 12, 30)]) == dt.date(2013, 12, 31)
    assert following_day([dt.date(2013, 12, 31)]) is None


def test_an_unseeded_lake_says_to_seed_first(tmp_path: Path) -> None:
    with pytest.raises(FlightpathError, match="seed the deployment first"):
        next_day(Settings(home=tmp_path / "home"))
