"""The DAG folder imports cleanly, fast, and without the heavy stage libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_dagbag_has_no_import_errors(dags_dir: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_dir))
    assert bag.import_errors == {}
    demo = bag.dags.get("flightpath_demo")
    assert demo is not None
    assert set(bag.dags) == {"flightpath_demo", "flightpath_daily", "flightpath_monitor", "flightpath_retrain"}
    assert {t.task_id for t in demo.tasks} == {
        "ingest",
        "features",
        "training_frame",
        "train",
        "promote",
        "monitor",
        "summary",
    }
    assert demo.doc_md and "flightpath" in demo.doc_md.lower()
    for t in demo.tasks:
        assert t.retries >= 1 and t.execution_timeout is not None, t.task_id


def test_daily_dag_processes_one_local_day_per_run(dags_dir: Path) -> None:
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    daily = DagBag(dag_folder=str(dags_dir)).dags["flightpath_daily"]
    assert {t.task_id for t in daily.tasks} == {"ingest", "features", "batch_score", "materialize"}
    # D is answered with what was known when D began: batch scoring runs before D is materialized.
    assert daily.task_dict["batch_score"].downstream_task_ids == {"materialize"}
    assert daily.max_active_runs and daily.max_active_runs <= 4
    assert daily.task_dict["features"].depends_on_past
    # The run for Jan 5 covers exactly the New York day Jan 5 (Airflow 3's cron default would not).
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(daily.timetable)
    interval = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2013, 1, 6, tz="America/New_York"))
    assert interval.start.in_timezone("America/New_York") == pendulum.datetime(2013, 1, 5, tz="America/New_York")
    assert interval.end - interval.start == pendulum.duration(days=1)
    assert daily.end_date.in_timezone("America/New_York").date().isoformat() == "2013-12-31"
    for t in daily.tasks:
        assert t.retries >= 1 and t.execution_timeout is not None and t.doc_md, t.task_id
    # A corrected drop replaces raw only when a run asks for it.
    assert daily.params["redeliver"] is False


def test_dag_files_do_not_import_torch_or_feast(dags_dir: Path) -> None:
    """The DAG processor times out on slow imports: heavy libraries load inside tasks only."""
    code = (
        "import runpy, sys, pathlib\n"
        f"for f in sorted(pathlib.Path({str(dags_dir)!r}).glob('*.py')): runpy.run_path(str(f))\n"
        "heavy = [m for m in ('torch', 'feast', 'mlflow', 'evidently', 'onnxruntime') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"DAG files imported {out.stdout.strip()}"


def test_monitoring_runs_when_a_day_is_ready_and_can_trigger_retraining(dags_dir: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from pipelines.assets import DAY_READY

    bag = DagBag(dag_folder=str(dags_dir))
    daily, monitor, retrain = (bag.dags[d] for d in ("flightpath_daily", "flightpath_monitor", "flightpath_retrain"))
    assert DAY_READY in daily.task_dict["materialize"].outlets
    assert monitor.max_active_runs == 1  # days in order: a drift streak needs the day before
    assert monitor.task_dict["monitor"].downstream_task_ids == {"retrain_needed"}
    trigger = monitor.task_dict["trigger_retrain"]
    assert trigger.trigger_dag_id == "flightpath_retrain"
    assert {t.task_id for t in retrain.tasks} == {"training_frame", "train", "promote"}
    assert set(retrain.params) == {"day", "reason"}
    for dag in (monitor, retrain):
        for t in dag.tasks:
            assert t.retries >= 1 and t.execution_timeout is not None, t.task_id
