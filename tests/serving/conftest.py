"""Serving fixtures: a fresh MLflow registry per test, the tiny model as champion, a fake reader.

The helpers themselves (the model builder, the registry wrapper, the fake reader) live in
serving_fakes.py so test modules can import them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_fakes import STORE_VALUES, FakeReader, Registry, build_model, copy_registry, settings_for

from flightpath.settings import Settings


@pytest.fixture(scope="session")
def _registry_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow SQLite DB (creating one costs ~2.5 s; copying it costs nothing)."""
    import mlflow

    root = tmp_path_factory.mktemp("mlflow-template")
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    mlflow.create_experiment("serving-tests", artifact_location=str(root / "artifacts"))
    return root / "mlflow.db"


@pytest.fixture
def registry(_registry_template: Path, tmp_path: Path) -> Registry:
    """A fresh, empty registry per test (a copy of the template DB)."""
    return copy_registry(_registry_template, tmp_path / "mlflow")


@pytest.fixture
def serving_settings(tmp_path: Path, registry: Registry) -> Settings:
    return settings_for(tmp_path / "home", registry)


@pytest.fixture(scope="module")
def _served(_registry_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, FakeReader]]:
    """One app per test module (starting one costs ~0.7 s): the tiny model as champion v1."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    root = tmp_path_factory.mktemp("served")
    registry = copy_registry(_registry_template, root / "mlflow")
    registry.register(build_model())
    reader = FakeReader()
    with TestClient(create_app(settings_for(root / "home", registry), reader=reader, poll=False)) as c:
        yield c, reader


@pytest.fixture
def client(_served: tuple[object, FakeReader]) -> object:
    """The module's app, with the fake store healthy and the process not draining."""
    c, reader = _served
    reader.values, reader.down, reader.calls = dict(STORE_VALUES), False, []
    reader.event_timestamps = {}
    runtime = c.app.state.runtime  # type: ignore[attr-defined]
    runtime.draining = False
    runtime.check_online_store()
    return c


@pytest.fixture
def fake_reader(_served: tuple[object, FakeReader], client: object) -> FakeReader:
    return _served[1]
