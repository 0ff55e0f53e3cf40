"""Request-time calendar features: ONE pure function used by training and by serving.

No Feast on-demand feature view: Feast would rehydrate the function from its registry (code
execution) on the serving path. Instead both sides import this module, which has no heavy imports.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable

# US federal holidays (observed) plus the two busiest travel days, 2012-2014 so that the
# "nearest holiday" of any 2013 day is well defined at both ends of the year.
_HOLIDAYS: tuple[dt.date, ...] = tuple(
    dt.date.fromisoformat(d)
    for d in (
        "2012-11-22",
        "2012-12-25",
        "2013-01-01",
        "2013-01-21",
        "2013-02-18",
        "2013-05-27",
        "2013-07-04",
        "2013-09-02",
        "2013-10-14",
        "2013-11-11",
        "2013-11-28",
        "2013-11-29",
        "2013-12-25",
        "2014-01-01",
        "2014-01-20",
        "2014-02-17",
    )
)


_ORDINALS: tuple[int, ...] = tuple(sorted(h.toordinal() for h in _HOLIDAYS))


def days_to_nearest_holiday(day: dt.date) -> int:
    """Absolute distance in days to the nearest holiday in the table above.

    A binary search (the two neighbours of `day`) rather than a scan of the table: this runs on
    every prediction, and the scan was ~3% of a /v1/predict request (make bench).
    """
    d = day.toordinal()
    i = bisect.bisect_left(_ORDINALS, d)
    return min(abs(_ORDINALS[j] - d) for j in (i - 1, i) if 0 <= j < len(_ORDINALS))


def calendar_features(sched_dep_local: dt.datetime) -> dict[str, float]:
    """Calendar features of one flight from its scheduled departure in New York local time.

    Args:
        sched_dep_local: naive (or New-York-aware) local scheduled departure.
    Returns:
        {"sched_hour", "sched_weekday" (Mon=0), "sched_month", "days_to_holiday"} as floats,
        the dtype the model's numeric inputs take.
    """
    return {
        "sched_hour": float(sched_dep_local.hour) + sched_dep_local.minute / 60.0,
        "sched_weekday": float(sched_dep_local.weekday()),
        "sched_month": float(sched_dep_local.month),
        "days_to_holiday": float(days_to_nearest_holiday(sched_dep_local.date())),
    }


def calendar_columns(sched_dep_local: Iterable[dt.datetime]) -> dict[str, list[float]]:
    """Column-wise version for a training set: the same function applied row by row.

    Deliberately not a separate vectorized implementation, so the two can never disagree;
    a year of flights takes about a second.
    """
    cols: dict[str, list[float]] = {
        "sched_hour": [],
        "sched_weekday": [],
        "sched_month": [],
        "days_to_holiday": [],
    }
    for ts in sched_dep_local:
        for name, value in calendar_features(ts).items():
            cols[name].append(value)
    return cols
