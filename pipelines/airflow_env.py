"""Environment for running Airflow against the project: a local AIRFLOW_HOME with SQLite metadata.

Airflow reads its configuration when it is first imported, so `configure` must run before any
`import airflow` in the process (the CLI does this; the DAG files themselves never need it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flightpath.settings import Settings


def airflow_env(settings: Settings) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(settings.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # `airflow standalone` on a laptop: bind locally and keep the worker count small.
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": "8080",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        # Process day D with the data interval [D, D+1) (Airflow 3's cron default is a point in time).
        "AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS": "True",
    }


def standalone_env(settings: Settings, api_port: int, worker_log_port: int, trigger_log_port: int) -> dict[str, str]:
    """The environment of an `airflow standalone` on other ports than 8080/8793/8794 (a second
    instance beside `make airflow`, e.g. in a test): the API server, the Task Execution API its
    workers call, and the two log servers all move together."""
    return {
        **airflow_env(settings),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
    }


def configure(settings: Settings) -> dict[str, str]:
    """Export the Airflow environment into this process (and so into its children)."""
    env = airflow_env(settings)
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    return env


def airflow_bin() -> str:
    return str(Path(sys.executable).parent / "airflow")


def migrate_db(settings: Settings) -> None:
    """`airflow db migrate` in a child process: creates or upgrades the SQLite metadata DB (~5 s)."""
    env = {**os.environ, **airflow_env(settings)}
    proc = subprocess.run([airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


if __name__ == "__main__":  # `eval "$(python -m pipelines.airflow_env)"` exports the environment in a shell
    import shlex

    from flightpath.settings import get_settings

    for key, value in airflow_env(get_settings()).items():
        print(f"export {key}={shlex.quote(value)}")
