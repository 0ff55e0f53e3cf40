"""One more day of 2013, end to end, without a scheduler: what the Kubernetes CronJob runs.

    flightpath next-day                 # the day after the last one in the lake
    flightpath next-day --day 2013-02-01

The data is history, so "today" is simulated: each run takes the day after the newest curated
partition and does for it what the Airflow DAGs do (flightpath_daily, then flightpath_monitor and,
when the monitor says so, flightpath_retrain): ingest, features, batch-score with the champion,
materialize the day, judge the champion, retrain behind the promotion gate. The lake must hold a
seeded window (pipelines/seed.py) for there to be a "next" day.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from flightpath import lake
from flightpath.errors import FlightpathError
from flightpath.settings import DATA_LAST_DAY, Settings
from pipelines import steps

log = logging.getLogger(__name__)


def following_day(ingested: list[dt.date]) -> dt.date | None:
    """The day after the newest ingested one; None once the data is used up (after Dec 31)."""
    if not ingested:
        raise FlightpathError("the lake holds no curated day yet: seed the deployment first (flightpath seed)")
    day = max(ingested) + dt.timedelta(days=1)
    return day if day <= DATA_LAST_DAY else None


def next_day(settings: Settings, day: dt.date | None = None) -> dict[str, Any]:
    """Run the daily loop for `day` (default: the day after the newest in the lake)."""
    t0 = time.perf_counter()
    if day is None:
        day = following_day(lake.available_days(settings.lake_dir, "curated", "flights"))
        if day is None:
            return {"day": None, "reason": f"the data ends at {DATA_LAST_DAY}: nothing left to run"}
    result: dict[str, Any] = {"day": day.isoformat()}
    result["ingest"] = steps.ingest_one_day(settings, day)["flights"]
    result["features"] = steps.features_one_day(settings, day)["rows"]
    result["batch_score"] = steps.batch_score_one_day(settings, day)
    result["materialize"] = steps.materialize_one_day(settings, day)
    monitored = steps.monitor_one_day(settings, day)
    result["monitor"] = monitored
    result["retrain"] = None
    if monitored["retrain"]:
        reason = "; ".join(monitored["reasons"])
        log.info("%s: retrain because %s", day, reason)
        result["retrain"] = steps.retrain(settings, day, reason)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result
