"""Airflow's overhead per daily run: the daily DAG via `dag.test` vs the same steps called directly.

Runs as its own process (`python -m benchmarks.airflow_overhead OUT.json`; benchmarks.run starts
it), because Airflow reads its configuration at first import: the environment is set before
anything imports airflow. Both sides process the same days into their own homes, interleaved day
by day (Airflow day D, then direct day D), after one warm-up day on each side so neither pays the
first `import feast` / source parse / DAG parse alone.

Airflow side: `DagBag(...).dags["flightpath_daily"].test(logical_date=D+1 local midnight)`, i.e. a
whole DagRun in-process (no scheduler, SQLite metadata DB) -- the run for D covers D.
Direct side: steps.ingest_one_day, features_one_day, materialize_one_day, as the tasks call them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flightpath import settings as settings_module
from flightpath.settings import LOCAL_TZ, Settings, days_between

WARMUP = dt.date(2013, 1, 1)
DAYS = days_between(dt.date(2013, 1, 2), dt.date(2013, 1, 8))


def _direct(settings: Settings, day: dt.date) -> float:
    from pipelines import steps

    t0 = time.perf_counter()
    steps.ingest_one_day(settings, day)
    steps.features_one_day(settings, day)
    steps.materialize_one_day(settings, day)
    return time.perf_counter() - t0


def run(root: Path) -> dict[str, Any]:
    from pipelines import airflow_env

    airflow_settings = Settings(home=root / "airflow")
    airflow_env.configure(airflow_settings)  # before any `import airflow`
    via_airflow = root / "via_airflow"
    os.environ["FLIGHTPATH_HOME"] = str(via_airflow)  # the DAG's tasks call get_settings()
    settings_module.get_settings.cache_clear()
    direct = Settings(home=root / "direct")

    t0 = time.perf_counter()
    airflow_env.migrate_db(airflow_settings)
    migrate_s = time.perf_counter() - t0

    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    t0 = time.perf_counter()
    daily = DagBag(dag_folder=str(airflow_settings.dags_dir)).dags["flightpath_daily"]
    dagbag_s = time.perf_counter() - t0

    def via_dag(day: dt.date) -> float:
        after = day + dt.timedelta(days=1)
        t0 = time.perf_counter()
        run = daily.test(logical_date=pendulum.datetime(after.year, after.month, after.day, tz=LOCAL_TZ))
        seconds = time.perf_counter() - t0
        if "success" not in str(run.state):
            raise RuntimeError(f"daily run for {day} ended {run.state}")
        return seconds

    warm_airflow = via_dag(WARMUP)
    warm_direct = _direct(direct, WARMUP)
    t_airflow, t_direct = [], []
    for day in DAYS:
        t_airflow.append(via_dag(day))
        t_direct.append(_direct(direct, day))
    a, d = statistics.median(t_airflow), statistics.median(t_direct)
    return {
        "days": [DAYS[0].isoformat(), DAYS[-1].isoformat()],
        "n_days": len(DAYS),
        "airflow_s": t_airflow,
        "direct_s": t_direct,
        "airflow_median_s": a,
        "direct_median_s": d,
        "overhead_median_s": a - d,
        "ratio": a / d,
        "airflow_total_s": sum(t_airflow),
        "direct_total_s": sum(t_direct),
        "warmup_airflow_s": warm_airflow,
        "warmup_direct_s": warm_direct,
        "migrate_db_s": migrate_s,
        "dagbag_s": dagbag_s,
    }


def main() -> None:
    out = Path(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="fp-airflow-bench-") as tmp:
        result = run(Path(tmp))
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
