"""The user's journey across stages: a champion promoted from Airflow is what a running service answers.

As a new user does it, on the embedded default, with no MLflow variable in the environment:

    make demo                          -> flight-delay v1 is champion
    make serve                         -> the service answers with v1
    Airflow UI: trigger flightpath_demo   (here: REST API v2 of a real `airflow standalone`)
                                       -> v2 is champion; the running service answers with v2
                                          within its reload interval and never goes back to v1
    make rollback                      -> the running service answers with v1 again
    restart `make serve`, empty model cache -> it fetches and answers with v1, the champion

MLflow resolves `models:/` URIs against process globals and environment variables, which is how a
service once found no model when started by hand while every test (which set those globals) passed.
This test clears them on purpose and drives every step through `make`, in child processes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cli.stack import run_demo_dag
from flightpath.processes import free_port, stop_process_group, wait_until_ready
from flightpath.registry_access import registry_client
from flightpath.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
START, END = "2013-01-01", "2013-01-28"  # CI's demo window: the gate promotes on it
RELOAD_S = 1.0
# How long after the registry moved the alias the service may take: one poll interval, plus
# download, verification and warm-up of a ~1 MB ONNX file on a busy 2-CPU machine.
FOLLOW_S = RELOAD_S + 20


def _environment(home: Path, **extra: str) -> dict[str, str]:
    """The user's shell: no MLflow, Airflow or flightpath variables from whoever runs the tests."""
    dropped = ("MLFLOW_", "FLIGHTPATH_", "AIRFLOW", "PROMETHEUS_")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}
    env.update(
        {
            "FLIGHTPATH_HOME": str(home),
            "FLIGHTPATH_RELOAD_INTERVAL_S": str(RELOAD_S),
            "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            **extra,
        }
    )
    return env


def _make(*args: str) -> list[str]:
    # This test's interpreter's venv; `-o` keeps make from re-running the install step.
    return ["make", "--no-print-directory", "-C", str(ROOT), f"VENV={VENV}", "-o", f"{VENV}/.installed", *args]


def _run_make(env: dict[str, str], *args: str, timeout: float) -> str:
    out = subprocess.run(_make(*args), env=env, capture_output=True, text=True, timeout=timeout)
    tail = f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert out.returncode == 0, f"make {' '.join(args)} exited {out.returncode}:\n{tail}"
    return out.stdout


@contextmanager
def _make_serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """`make serve` in its own process group; yields its base URL once /readyz answers 200."""
    base = f"http://127.0.0.1:{env['FLIGHTPATH_SERVE_PORT']}"
    with log.open("ab") as out:
        proc = subprocess.Popen(_make("serve"), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_ready(f"{base}/readyz", proc, 120, lambda: log.read_text(errors="replace")[-3000:])
        yield base
    finally:
        stop_process_group(proc)


@contextmanager
def _airflow_standalone(env: dict[str, str], settings: Settings, log: Path) -> Iterator[httpx.Client]:
    """A real `airflow standalone` on free ports; yields an authenticated REST API v2 client."""
    from pipelines import airflow_env

    api_port = free_port()
    env = {**env, **airflow_env.standalone_env(settings, api_port, free_port(), free_port())}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(VENV / "bin" / "airflow"), "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    passwords = settings.airflow_home / "simple_auth_manager_passwords.json.generated"
    try:
        deadline = time.monotonic() + 180
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as api:
            while True:  # the password file appears, then the API server answers
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "airflow standalone did not answer within 180 s"
                try:
                    password = json.loads(passwords.read_text())["admin"]
                    token = api.post("/auth/token", json={"username": "admin", "password": password})
                    if token.status_code in (200, 201):
                        break
                except (OSError, ValueError, KeyError, httpx.HTTPError):
                    pass
                time.sleep(2)
            api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            yield api
    finally:
        stop_process_group(proc)


class VersionWatcher:
    """Asks the running service which version answers, every 0.2 s, on a background thread."""

    def __init__(self, base: str) -> None:
        self.base, self.seen, self._stop = base, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as http:
            while not self._stop.is_set():
                try:
                    self.seen.append((time.monotonic(), http.get(f"{self.base}/v1/model").json()["version"]))
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                self._stop.wait(0.2)

    def __enter__(self) -> VersionWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _wait_for_version(base: str, version: str, timeout_s: float) -> float:
    """Seconds until /v1/model answers `version`; fails after timeout_s."""
    started = time.monotonic()
    while True:
        got = httpx.get(f"{base}/v1/model", timeout=5).json()
        if got["version"] == version:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, f"still v{got['version']} after {timeout_s} s: {got}"
        time.sleep(0.1)


def _predict(base: str, flight: dict) -> dict:
    resp = httpx.post(f"{base}/v1/predict", json=flight, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _champion(settings: Settings) -> str:
    return str(
        registry_client(settings.mlflow_tracking_uri)
        .get_model_version_by_alias(settings.model_name, "champion")
        .version
    )


@pytest.mark.integration
def test_a_champion_promoted_from_airflow_is_served_followed_and_rolled_back(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, AIRFLOW_HOME=home / "airflow")  # type: ignore[call-arg]
    env = _environment(home)
    stray_db = ROOT / "mlflow.db"  # where MLflow's default store would appear
    stray_before = stray_db.exists()

    # 1. make demo: v1 is champion.
    out = _run_make(
        {**env, "FLIGHTPATH_SERVE_PORT": str(free_port())}, "demo", f"START={START}", f"END={END}", timeout=1200
    )
    assert "Sample prediction" in out, out[-3000:]
    assert _champion(settings) == "1"
    from pipelines.demo import sample_flight

    flight = sample_flight(settings, dt.date.fromisoformat(END))

    serve_env = {**env, "FLIGHTPATH_SERVE_PORT": str(free_port())}
    with _make_serve(serve_env, tmp_path / "serve.log") as base:
        assert _predict(base, flight)["model"]["version"] == "1"

        # 2. The pipeline again, triggered the way the UI's button does it: REST API v2.
        with _airflow_standalone(env, settings, tmp_path / "airflow.log") as api, VersionWatcher(base) as watcher:
            run = run_demo_dag(api, START, END, timeout=900, parse_timeout=180)  # what `make trigger` runs
            assert run.state == "success", run.tasks
            assert _champion(settings) == "2", "the gate did not promote the second run's model"
            lag = _wait_for_version(base, "2", FOLLOW_S)
            time.sleep(3 * RELOAD_S)  # a few more polls: the service must stay on v2
        versions = [v for _, v in watcher.seen]
        assert versions[0] == "1" and versions[-1] == "2", versions
        assert versions == sorted(versions, key=int), "the service went back to an older version"
        assert _predict(base, flight)["model"]["version"] == "2"
        print(f"v2 answered {lag:.1f} s after the DAG run ended (reload interval {RELOAD_S} s)")

        # 3. make rollback: the running service follows the alias back.
        rolled = json.loads(_run_make(env, "-s", "rollback", timeout=300))
        assert (rolled["from_version"], rolled["to_version"]) == ("2", "1")
        _wait_for_version(base, "1", FOLLOW_S)
        body = _predict(base, flight)
        assert body["model"]["version"] == "1" and body["degraded"] is False

    # 4. A fresh start with an empty model cache fetches the current champion from the registry.
    shutil.rmtree(settings.models_dir)
    with _make_serve(serve_env, tmp_path / "serve-again.log") as base:
        info = httpx.get(f"{base}/v1/model", timeout=5).json()
        assert (info["version"], info["source"], info["stand_in_for"]) == ("1", "registry", None)
        assert _predict(base, flight)["model"]["version"] == "1"
    assert (settings.models_dir / settings.model_name / "1" / "model.onnx").is_file()
    assert stray_db.exists() == stray_before, "something opened MLflow's default store in the working directory"
