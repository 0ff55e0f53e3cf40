"""features/warehouse.py: the offline store in a SQL warehouse (PostgreSQL) gives the training set
duckdb gives over the lake, row for row."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from features import contract
from features.store import apply_repo, offline_config
from features.training_set import training_set
from features.warehouse import load_feature_tables
from flightpath.settings import Settings
from tests.conftest import require_service


@pytest.fixture
def warehouse_url() -> Iterator[str]:
    """A database of its own on the shared PostgreSQL, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    name = f"fptest_wh_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_offline_config_from_a_url(tmp_path) -> None:
    s = Settings(
        home=tmp_path, offline_store="postgres", offline_store_url="postgresql://fp:p%40ss@wh:6543/feat?schema=x"
    )
    assert offline_config(s) == {
        "type": "postgres",
        "host": "wh",
        "port": 6543,
        "database": "feat",
        "db_schema": "x",
        "user": "fp",
        "password": "p@ss",
        "sslmode": "prefer",
    }
    assert offline_config(Settings(home=tmp_path)) == {"type": "duckdb"}
    with pytest.raises(ValueError, match="offline_store_url"):
        offline_config(s.model_copy(update={"offline_store_url": "mysql://wh/feat"}))


@pytest.mark.integration
def test_a_training_set_joined_in_the_warehouse_equals_duckdbs(
    feature_store_home: Settings, store_copy, training_frame: pd.DataFrame, warehouse_url: str
) -> None:
    settings = store_copy(offline_store="postgres", offline_store_url=warehouse_url)
    loaded = load_feature_tables(settings)
    assert set(loaded) == set(contract.FEATURE_VIEWS) and all(n > 0 for n in loaded.values()), loaded
    project = f"fptest_{uuid.uuid4().hex[:10]}"
    apply_repo(settings, project)
    joined = training_set(settings, feature_store_home.demo_days(), project)
    expected = training_frame
    assert len(joined) == len(expected) > 1000
    pd.testing.assert_frame_equal(
        joined[["event_timestamp", *contract.STORE_FEATURES]].reset_index(drop=True),
        expected[["event_timestamp", *contract.STORE_FEATURES]].reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
    )
    # Not vacuous: most features are present, some missing (planes without a profile).
    values = joined[list(contract.STORE_FEATURES)].to_numpy()
    assert 0 < np.isnan(values).mean() < 0.5


@pytest.mark.integration
def test_a_reload_replaces_the_tables(store_copy, warehouse_url: str) -> None:
    import psycopg

    settings = store_copy(offline_store="postgres", offline_store_url=warehouse_url)
    first = load_feature_tables(settings)
    second = load_feature_tables(settings)
    assert first == second
    with psycopg.connect(warehouse_url) as conn:
        (rows,) = conn.execute('SELECT count(*) FROM "weather_at_origin"').fetchone()  # type: ignore[misc]
    assert rows == first["weather_at_origin"]


def test_loading_with_the_duckdb_store_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="nothing to load"):
        load_feature_tables(Settings(home=tmp_path))
