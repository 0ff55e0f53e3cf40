"""The feature tables in a SQL warehouse: the offline store beyond one machine.

    from features.warehouse import load_feature_tables
    load_feature_tables(settings)        # settings.offline_store == "postgres"

On one machine Feast's duckdb store joins the lake's parquet files in process. A team whose
training sets outgrow one machine's memory runs the point-in-time join where the data lives, in a
warehouse (BigQuery, Snowflake, Redshift; PostgreSQL here, the one every laptop has). The feature
tables are the same rows either way: this module copies each view's parquet files into a table of
the view's name (key, event_timestamp, the features), which the feature views' PostgreSQLSource
reads (features/feature_repo/definitions.py). In a real deployment the features step would write
to the warehouse directly; the copy keeps one way of building tables (features/tables.py).

A load replaces each view's table in one transaction: a reader sees the old rows or the new,
never a half-loaded table.
"""

from __future__ import annotations

import logging
from typing import Any

from features import contract
from features.store import offline_config
from features.tables import EVENT_TIMESTAMP, view_dir
from flightpath.settings import Settings

log = logging.getLogger(__name__)


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """psycopg connect() arguments from the same parsed URL Feast gets (one parser, no drift)."""
    config = offline_config(settings)
    if config["type"] != "postgres":
        raise ValueError(f"offline_store is {settings.offline_store!r}: nothing to load into a warehouse")
    return {
        "host": config["host"],
        "port": config["port"],
        "dbname": config["database"],
        "user": config["user"],
        "password": config["password"] or None,
        "options": f"-c search_path={config['db_schema']}",
        "sslmode": config["sslmode"],
    }


def load_feature_tables(settings: Settings) -> dict[str, int]:
    """Copy every view's feature tables from the lake into the warehouse.

    Returns:
        {view: rows loaded}.
    Raises:
        FileNotFoundError: a view has no tables in the lake yet (build them first).
        psycopg.OperationalError: the warehouse cannot be reached.
    """
    import psycopg
    import pyarrow.dataset as ds

    loaded: dict[str, int] = {}
    with psycopg.connect(**connection_kwargs(settings)) as conn:
        for view, features in contract.FEATURE_VIEWS.items():
            folder = view_dir(settings.lake_dir, view)
            files = sorted(folder.glob("*.parquet")) if folder.exists() else []
            if not files:
                raise FileNotFoundError(f"no feature tables for {view} under {folder}: build them first")
            (key,) = contract.VIEW_JOIN_KEYS[view]
            columns = [key, EVENT_TIMESTAMP, *features]
            table = ds.dataset([str(f) for f in files], format="parquet").to_table(columns=columns)
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(f'DROP TABLE IF EXISTS "{view}"')
                feature_columns = ", ".join(f'"{name}" double precision' for name in features)
                cur.execute(
                    f'CREATE TABLE "{view}" ("{key}" text NOT NULL, "{EVENT_TIMESTAMP}" timestamptz NOT NULL, '
                    f"{feature_columns})"
                )
                names = ", ".join(f'"{c}"' for c in columns)
                with cur.copy(f'COPY "{view}" ({names}) FROM STDIN') as copy:
                    for row in zip(*(table.column(c).to_pylist() for c in columns), strict=True):
                        copy.write_row(row)
                cur.execute(f'CREATE INDEX ON "{view}" ("{key}", "{EVENT_TIMESTAMP}")')
            loaded[view] = table.num_rows
            log.info("warehouse: %s <- %d rows", view, table.num_rows)
    return loaded
