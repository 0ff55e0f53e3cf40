"""The daily pipeline: one run per scheduled-departure day D of 2013 (New York local days).

    airflow backfill create --dag-id flightpath_daily --from-date 2013-01-01 --to-date 2013-03-31
    make backfill START=2013-01-01 END=2013-03-31       # the same per-day functions, no scheduler

The timetable is chosen deliberately: `CronDataIntervalTimetable` gives the run for D the data
interval [D 00:00, D+1 00:00) in New York time. Airflow 3's default for a cron string
(`CronTriggerTimetable`) has no interval (start == end == the trigger time), so "which day is
this run for?" would silently be a different question. The run for D happens once D is over.

Tasks only call `pipelines.steps`; nothing heavy is imported at module level.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from flightpath.settings import LOCAL_TZ, get_settings
from pipelines import steps
from pipelines.assets import DAY_READY

HERE = Path(__file__).resolve().parent.parent.parent
DOCS = [HERE / "pipelines" / "NOTES.md", HERE / "features" / "NOTES.md"]


def _day() -> dt.date:
    """The local day this run stands for: the start of its data interval, in New York time."""
    start = get_current_context()["data_interval_start"]
    assert start is not None, "the daily DAG always has a data interval (CronDataIntervalTimetable)"
    return pendulum.instance(start).in_timezone(LOCAL_TZ).date()


@dag(
    dag_id="flightpath_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=LOCAL_TZ),
    start_date=pendulum.datetime(2013, 1, 1, tz=LOCAL_TZ),
    end_date=pendulum.datetime(2013, 12, 31, tz=LOCAL_TZ),  # the run for Dec 31 is the last
    catchup=False,  # history is replayed on purpose, with `airflow backfill create`
    max_active_runs=3,  # bounded: ingestion of different days runs in parallel, features in order
    tags=["flightpath", "daily"],
    params={
        # A corrected drop for a day already ingested is refused unless a run asks for it
        # (trigger D with {"redeliver": true}); the old raw partition is kept under raw/_superseded/.
        "redeliver": Param(False, type="boolean", description="replace the raw partition with a differing drop"),
    },
    doc_md="\n\n---\n\n".join(p.read_text(encoding="utf-8") for p in DOCS if p.exists()) or __doc__,
    default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=30), "execution_timeout": dt.timedelta(minutes=15)},
)
def flightpath_daily() -> None:
    @task(
        doc_md="Day D's drop -> immutable raw -> validated curated + quarantine. Logs counts per rule; "
        "fails if rows in != curated + quarantined. Safe to rerun: outputs are rewritten atomically."
    )
    def ingest() -> dict[str, Any]:
        redeliver = bool(get_current_context()["params"].get("redeliver", False))
        return steps.ingest_one_day(get_settings(), _day(), redeliver=redeliver)

    # depends_on_past: D's features read D-7..D-1 (carrier history) and D-1 (late departures), so
    # they wait for D-1's features, which waited for D-1's ingest: backfills give the same files
    # whatever order the scheduler ran the ingests in.
    @task(
        depends_on_past=True,
        doc_md="Feature files of D from the curated lake (point-in-time: each row carries when it became "
        "known) and `feast apply`.",
    )
    def features(_: dict[str, Any]) -> dict[str, Any]:
        return steps.features_one_day(get_settings(), _day())

    @task(
        doc_md="Batch predictions for every flight of D, each as the service would have answered it at "
        "its prediction time (point-in-time features), by the champion, into the prediction log "
        "(source=batch). Skipped (green) while no model has been promoted yet.",
    )
    def batch_score(_: dict[str, Any]) -> dict[str, Any]:
        return steps.batch_score_one_day(get_settings(), _day())

    # One writer at a time into the online store (SQLite locks; Redis would not mind). Its asset
    # event tells flightpath_monitor that D is complete.
    @task(
        max_active_tis_per_dag=1,
        outlets=[DAY_READY],
        doc_md="Materialize exactly [D 00:00, D+1 00:00) into the online store: explicit dates, never "
        "`materialize_incremental` (it looks back from the wall clock, not from 2013). Emits the "
        "`flightpath_day_ready` asset event for D, which starts flightpath_monitor.",
    )
    def materialize(_: dict[str, Any]) -> dict[str, Any]:
        day = _day()
        result = steps.materialize_one_day(get_settings(), day)
        get_current_context()["outlet_events"][DAY_READY].extra = {"day": day.isoformat()}
        return result

    materialize(batch_score(features(ingest())))


flightpath_daily()
