"""Monitoring that closes the loop: judge the champion on each finished day, retrain when it matters.

    flightpath_daily (D materialized) --asset flightpath_day_ready {"day": D}--> this DAG
    airflow dags trigger flightpath_monitor --conf '{"day": "2013-04-02"}'       # one day by hand

For each day it is given: input drift of what the service answered (the prediction log, live and
batch) against the champion's training window, drift of the answers themselves, quality on the
flights whose outcome is known, and the decision. When the decision says retrain, the reasons are
in the `monitor` task's log and XCom, and `trigger_retrain` starts flightpath_retrain with them in
its conf; otherwise `retrain_needed` skips it (the reasons are logged either way).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task

from flightpath.settings import get_settings
from pipelines import steps
from pipelines.assets import DAY_READY, days_of

log = logging.getLogger(__name__)
NOTES = Path(__file__).resolve().parent.parent.parent / "monitoring" / "NOTES.md"


def days_to_monitor(context: Any) -> list[dt.date]:
    """The days of the asset events that started this run, or the `day` param of a manual run."""
    events = context["triggering_asset_events"].get(DAY_READY, [])
    return days_of((e.extra for e in events), context["params"].get("day"))


@dag(
    dag_id="flightpath_monitor",
    schedule=[DAY_READY],
    start_date=pendulum.datetime(2013, 1, 1, tz="UTC"),
    catchup=False,
    # Safe to run from the start: it acts only on asset events / triggers, and a paused DAG would
    # silently drop the loop (Airflow pauses new DAGs by default).
    is_paused_upon_creation=False,
    max_active_runs=1,  # days are judged in order: a drift streak needs the day before
    tags=["flightpath", "monitoring"],
    doc_md=NOTES.read_text(encoding="utf-8") if NOTES.exists() else __doc__,
    params={"day": Param(None, type=["null", "string"], format="date", description="a day to monitor by hand")},
    render_template_as_native_obj=True,  # the trigger's conf travels as a dict, not its repr
    default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=30), "execution_timeout": dt.timedelta(minutes=15)},
)
def flightpath_monitor() -> None:
    @task(
        doc_md="Drift (inputs and answers, Evidently), quality once outcomes arrived (bootstrap intervals, "
        "by origin and carrier), and the retrain decision with its reasons, for each day; reports in "
        "reports/monitoring/<day>/ and in MLflow (experiment <name>-monitoring)."
    )
    def monitor() -> dict[str, Any]:
        settings = get_settings()
        results = []
        for day in days_to_monitor(get_current_context()):
            result = steps.monitor_one_day(settings, day)
            log.info("%s: retrain=%s because %s", day, result["retrain"], "; ".join(result["reasons"]))
            results.append(result)
        fired = next((r for r in results if r["retrain"]), None)
        retrain = {"day": fired["day"], "reason": "; ".join(fired["reasons"])} if fired else None
        return {"days": results, "retrain": retrain}

    @task.short_circuit(doc_md="Go on to trigger_retrain only when a day's decision said retrain.")
    def retrain_needed(result: dict[str, Any]) -> bool:
        log.info("retrain: %s", result["retrain"] or "no")
        return result["retrain"] is not None

    trigger = TriggerDagRunOperator(
        task_id="trigger_retrain",
        trigger_dag_id="flightpath_retrain",
        conf="{{ ti.xcom_pull(task_ids='monitor')['retrain'] }}",
        doc_md="Start flightpath_retrain with the day and the reasons; the promotion gate decides.",
        retries=1,
        execution_timeout=dt.timedelta(minutes=5),
    )
    retrain_needed(monitor()) >> trigger


flightpath_monitor()
