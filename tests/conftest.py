"""Shared fixtures. Expensive things (a small real lake) are built once per test session.

Tests that need PostgreSQL or Redis use the servers on 127.0.0.1 (see `require_service`): on a
laptop without them they skip with the reason; in CI (CI=true) a skip is a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from flightpath.settings import Settings, days_between

# A small window of real days: two weeks of January 2013 (~12k flights).
TINY_START = dt.date(2013, 1, 1)
TINY_END = dt.date(2013, 1, 14)

IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(msg: str) -> NoReturn:
    """The one place a test gives up on something missing from the machine (a server, a binary, a
    tool): on a laptop it skips with `msg`, so the rest of the suite still runs; with CI=true it
    fails, because CI must run every test."""
    if IN_CI:
        pytest.fail(f"CI requires it: {msg}")
    pytest.skip(msg)


def require_service(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (CI) when a real server the test needs is not listening."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        unavailable(f"{name} is not listening on {host}:{port} ({exc}); start it to run this test")


def make_settings(home: Path, **overrides: object) -> Settings:
    """Settings for a test: everything under `home`, the tiny window, a fast training config."""
    base: dict[str, object] = {
        "home": home,
        "demo_start": TINY_START,
        "demo_end": TINY_END,
        "monitor_days": 4,
        "validation_days": 3,
        "epochs": 3,
        "ensemble_size": 1,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fresh settings with an empty home (for tests that write)."""
    return make_settings(tmp_path / "home")


@pytest.fixture(scope="session")
def tiny_lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose lake holds TINY_START..TINY_END ingested from the real source (read-only use)."""
    from pipelines.ingest.run import ingest_day, ingest_dimensions

    s = make_settings(tmp_path_factory.mktemp("tiny") / "home")
    ingest_dimensions(s)
    for day in days_between(TINY_START, TINY_END):
        ingest_day(s, day)
    return s


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """`mlflow.set_tracking_uri` exports MLFLOW_TRACKING_URI to the environment, which Settings
    reads: without this, one test's registry would leak into the next test's Settings (module
    and session fixtures included, which is why this is a hook and not a fixture).

    The same for the registry URI: training's `mlflow.set_registry_uri` is a process global (and
    an env var), and an MlflowClient built with only a tracking URI would keep using the previous
    test's registry ("Registered Model ... not found" in tests/serving after tests/training)."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    mlflow = sys.modules.get("mlflow")  # only if a test imported it: importing it here costs seconds
    if mlflow is not None:
        mlflow.set_registry_uri(None)  # None = "follow the tracking URI"


@pytest.fixture(scope="session", autouse=True)
def _nothing_written_into_the_checkout() -> Iterator[None]:
    """No test leaves MLflow's default `./mlruns` in the checkout: artifacts go where settings say
    (an experiment created without a location writes them relative to the working directory)."""
    stray = Path(__file__).resolve().parents[1] / "mlruns"
    existed = stray.exists()
    yield
    assert existed or not stray.exists(), f"a test wrote MLflow artifacts into {stray.name}/ of the checkout"
