"""A feature store built once per session from the shared tiny lake.

The lake is copied into a home of our own, so nothing here writes into `tiny_lake`'s home
(other test packages read it). Tables are built, the repo applied and the window materialized
once; a test that changes data asks `store_copy` for its own copy.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from features.tables import local_midnight_utc
from flightpath.settings import Settings


def _copy_home(source: Settings, home: Path, **overrides: object) -> Settings:
    shutil.copytree(source.lake_dir, home / "lake")
    return source.model_copy(update={"home": home, **overrides})


def materialized_interval(settings: Settings) -> tuple[dt.datetime, dt.datetime]:
    """First local midnight of the window to the one that ends it (serving's "now")."""
    start = local_midnight_utc(settings.demo_start)
    end = local_midnight_utc(settings.demo_end + dt.timedelta(days=1))
    return start.to_pydatetime(), end.to_pydatetime()


@pytest.fixture(scope="session")
def feature_store_home(tiny_lake: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a home with feature tables built, the repo applied and the window materialized."""
    from features.materialize import materialize
    from features.store import apply_repo
    from features.tables import build_feature_tables

    settings = _copy_home(tiny_lake, tmp_path_factory.mktemp("features") / "home")
    build_feature_tables(settings, settings.demo_days())
    apply_repo(settings)
    materialize(settings, *materialized_interval(settings))
    return settings


@pytest.fixture(scope="session")
def materialized_end(feature_store_home: Settings) -> dt.datetime:
    return materialized_interval(feature_store_home)[1]


@pytest.fixture(scope="session")
def training_frame(feature_store_home: Settings) -> pd.DataFrame:
    """The training set of the whole tiny window."""
    from features.training_set import training_set

    return training_set(feature_store_home, feature_store_home.demo_days())


@pytest.fixture
def store_copy(feature_store_home: Settings, tmp_path: Path) -> Callable[..., Settings]:
    """Factory: settings of a fresh home with a copy of the built lake (not applied, nothing online)."""

    def make(**overrides: object) -> Settings:
        return _copy_home(feature_store_home, tmp_path / "home", **overrides)

    return make
