"""`make demo`: one in-process DAG run over the window, then serve and predict over HTTP.

    flightpath demo --start 2013-01-01 --end 2013-03-31

Steps: configure a project-local Airflow (SQLite metadata under .flightpath/airflow), run the
`flightpath_demo` DAG with `dag.test()` (no scheduler), start the inference service as a real
uvicorn process, ask it for one prediction, stop it, and print what to look at next.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from flightpath import lake
from flightpath.processes import stop_process_group, wait_until_ready
from flightpath.settings import Settings
from pipelines import airflow_env, steps

DAG_ID = "flightpath_demo"


def run_dag(settings: Settings, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Run the demo DAG in-process and return the summary its last task wrote."""
    airflow_env.configure(settings)
    airflow_env.migrate_db(settings)
    from airflow.dag_processing.dagbag import DagBag  # after configure(): airflow reads env at import

    bag = DagBag(dag_folder=str(settings.dags_dir))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags[DAG_ID]
    steps.summary_path(settings).unlink(missing_ok=True)
    run = dag.test(run_conf={"start": start.isoformat(), "end": end.isoformat()})
    state = str(getattr(run, "state", ""))
    if "success" not in state or not steps.summary_path(settings).exists():
        raise RuntimeError(f"the {DAG_ID} run ended in state {state!r}; see its task logs")
    return json.loads(steps.summary_path(settings).read_text())


def sample_flight(settings: Settings, day: dt.date) -> dict[str, Any]:
    """A real flight of the window's last day, as a user would describe it."""
    flights = pd.read_parquet(lake.partition_file(settings.lake_dir, "curated", "flights", day))
    row = flights[flights["tailnum"].notna()].iloc[len(flights) // 2]
    return {
        "carrier": row["carrier"],
        "flight": int(row["flight"]),
        "tailnum": row["tailnum"],
        "origin": row["origin"],
        "dest": row["dest"],
        "sched_dep_local": pd.Timestamp(row["sched_dep_local"]).isoformat(),
    }


def serve_and_predict(settings: Settings, flight: dict[str, Any], timeout_s: float = 120.0) -> dict[str, Any]:
    """Start the service as a child process (`python -m serving`, what `flightpath serve` runs), wait
    for /readyz, predict once, stop it."""
    base = f"http://{settings.serve_host}:{settings.serve_port}"
    proc = subprocess.Popen([sys.executable, "-m", "serving"], env=os.environ.copy(), start_new_session=True)
    try:
        wait_until_ready(f"{base}/readyz", proc, timeout_s)
        resp = httpx.post(f"{base}/v1/predict", json=flight, timeout=10)
        resp.raise_for_status()
        return {"url": base, "request": flight, "response": resp.json()}
    finally:
        stop_process_group(proc)


def _get(d: dict[str, Any], *keys: str, default: Any = "?") -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def relative(path: Any) -> str:
    """A path relative to the current folder when it is below it (shorter, and copy-pasteable)."""
    try:
        return str(Path(str(path)).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def has_champion(summary: dict[str, Any]) -> bool:
    """Did the run leave a `champion` to serve? (Not when the model lost to the baseline.)"""
    return bool(_get(summary, "steps", "promote", "champion", default=None))


def report(
    settings: Settings, summary: dict[str, Any], served: dict[str, Any] | None, pipeline_s: float, total_s: float
) -> str:
    """The demo's closing text: timings, the honest numbers, and where to look next."""
    st = summary["steps"]
    train, promote, monitor = st.get("train", {}), st.get("promote", {}), st.get("monitor", {})
    flights = _get(st, "ingest", "flights", default={})
    lines = [
        "",
        f"flightpath demo: window {summary['window']['start']} .. {summary['window']['end']}",
        "",
        "Stage timings (seconds):",
        *[f"  {name:<15} {_get(res, 'seconds'):>8}" for name, res in st.items()],
        f"  {'pipeline total':<15} {pipeline_s:>8.1f}   (DAG run incl. Airflow start-up)",
        f"  {'demo total':<15} {total_s:>8.1f}   (incl. serving start-up and one prediction)",
        "",
        f"Flights ingested: {flights.get('rows_in', '?')}, curated {flights.get('curated', '?')}, "
        f"quarantined {flights.get('quarantined', '?')}",
        f"ROC-AUC on the later test window ({_get(train, 'split', 'test_start')} .. "
        f"{_get(train, 'split', 'test_end')}):",
        f"  model (PyTorch MLP ensemble, ONNX)   {_num(_get(train, 'metrics', 'test_auc'))}",
        f"  logistic-regression baseline         {_num(_get(train, 'metrics', 'baseline_test_auc'))}",
        f"Registry: {settings.model_name} version {_get(promote, 'version')}: {_get(promote, 'decision')} "
        f"({_get(promote, 'reason')})",
        f"Drift (earlier days vs the later window): share of drifted features {_num(_get(monitor, 'drift_share'))}",
        "",
        "Look next:",
        "  MLflow UI        make mlflow-ui   (then http://127.0.0.1:5000)",
        f"  drift report     {relative(_get(monitor, 'html_path'))}",
        f"  run summary      {relative(steps.summary_path(settings))}",
        f"  the service      make serve       (then http://{settings.serve_host}:{settings.serve_port}/docs)",
        "",
    ]
    if served is None:
        lines += [
            "No model was promoted, so there is nothing to serve: the gate refused a network that did not beat",
            "the logistic-regression baseline on the later window (that is the gate doing its job).",
            "A longer window (make demo START=2013-01-01 END=2013-03-31) gives the network more to learn from.",
            "",
        ]
    else:
        lines += [
            "Sample prediction (POST /v1/predict):",
            f"  request  {json.dumps(served['request'])}",
            f"  response {json.dumps(served['response'])}",
            "",
        ]
    return "\n".join(lines)
