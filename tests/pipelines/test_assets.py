"""pipelines/assets.py: which days a monitoring run judges."""

from __future__ import annotations

import datetime as dt

import pytest

# pipelines.assets imports Airflow, and Airflow reads its configuration once, on first import:
# importing it here at collection time would freeze a configuration before the `airflow_settings`
# fixture writes ours, and every later Airflow test would talk to a database with no tables.
pytestmark = pytest.mark.usefixtures("airflow_settings")


def days_of(*args: object) -> list[dt.date]:
    from pipelines.assets import days_of as _days_of

    return _days_of(*args)  # type: ignore[arg-type]


def test_the_days_of_the_triggering_events_sorted_and_once():
    extras = [{"day": "2013-04-03"}, {"day": "2013-04-01"}, {"day": "2013-04-03"}, None, {}]
    assert days_of(extras) == [dt.date(2013, 4, 1), dt.date(2013, 4, 3)]


def test_a_manual_run_uses_its_day_param_and_events_win_over_it():
    assert days_of([], "2013-05-05") == [dt.date(2013, 5, 5)]
    assert days_of([{"day": "2013-04-01"}], "2013-05-05") == [dt.date(2013, 4, 1)]


def test_no_day_at_all_is_a_clear_error():
    with pytest.raises(ValueError, match="no day to monitor"):
        days_of([], None)
