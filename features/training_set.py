"""Training sets: every flight of some days, with the features known at its prediction time.

    from features.training_set import training_set
    df = training_set(settings, days)       # one row per curated flight, cancelled included

Prediction time = scheduled departure - horizon. Feast's point-in-time join (duckdb offline
store) takes, per view, the latest row with event_timestamp <= prediction time and within the
view's TTL. Calendar features come from features.request_time, the same function serving calls.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features import contract
from features.keys import entity_keys
from features.request_time import calendar_columns
from features.store import PROJECT, feature_store
from features.tables import day_file
from flightpath import lake
from flightpath.settings import Settings

FLIGHT_KEY: tuple[str, ...] = (
    "carrier",
    "flight",
    "origin",
    "dest",
    "tailnum",
    "sched_dep_utc",
    "sched_dep_local",
    "day",
)
ORDER: list[str] = ["sched_dep_utc", "carrier", "flight", "origin"]
# views with one file per day (checked before a join: missing files would join as missing features)
DAILY_VIEWS = ("weather_at_origin", "carrier_performance", "route_performance", "origin_schedule")
ROW = "_row"  # our own row id: the join result is matched back on it, never on the keys


def columns() -> list[str]:
    """The training set's columns, in order, each once (carrier, origin and dest are both part
    of the flight key and model inputs)."""
    head = [*FLIGHT_KEY, "event_timestamp", "dep_delay", "cancelled", contract.LABEL]
    return head + [name for name in contract.MODEL_INPUTS if name not in head]


def label(dep_delay: pd.Series, cancelled: pd.Series) -> pd.Series:
    """1.0 if the flight left 15+ minutes late, 0.0 if not, NaN if cancelled (no label)."""
    delayed = (dep_delay >= contract.DELAY_THRESHOLD_MIN).astype("float64")
    return delayed.where(~cancelled, np.nan)


def entity_frame(flights: pd.DataFrame, horizon: dt.timedelta) -> pd.DataFrame:
    """The entity dataframe Feast joins against: keys + prediction time, one row per flight.

    The keys come from features.keys.entity_keys, the function the online reader calls too, so a
    composite key (route, origin_hour) is spelled the same on both sides. The keys are join
    columns only: training_set copies none of the composite ones into its output.

    Args:
        flights: curated flights (origin, dest, tailnum, carrier, sched_dep_local, sched_dep_utc),
            in the order the result should keep.
        horizon: how long before scheduled departure the prediction is made.
    Returns:
        _row, then one column per join key (origin, tailnum, carrier, route, origin_hour; an
        unknown tail number is keys.NO_TAILNUM), event_timestamp (tz-aware UTC).
    """
    keys = [
        entity_keys(*row)
        for row in zip(
            flights["origin"],
            flights["dest"],
            flights["tailnum"],
            flights["carrier"],
            flights["sched_dep_local"],
            strict=True,
        )
    ]
    names = list(dict.fromkeys(key for view_keys in contract.VIEW_JOIN_KEYS.values() for key in view_keys))
    frame = pd.DataFrame(keys, columns=names, index=flights.index, dtype=object)
    frame.insert(0, ROW, np.arange(len(flights), dtype="int64"))
    frame["event_timestamp"] = flights["sched_dep_utc"] - horizon
    return frame


def join_features(settings: Settings, entities: pd.DataFrame, project: str = PROJECT) -> pd.DataFrame:
    """Point-in-time join of the feature service onto `entities`, one output row per input row.

    Args:
        settings: the store.
        entities: output of `entity_frame`.
        project: Feast project name.
    Returns:
        `entities` in its own order with every contract.STORE_FEATURES column (float64, NaN = missing).
    Raises:
        RuntimeError: if the join lost or duplicated rows (it must do neither).
    """
    store = feature_store(settings, project)
    service = store.get_feature_service(settings.feature_service)
    job = store.get_historical_features(entity_df=entities, features=service, full_feature_names=False)
    joined = job.to_df()
    # The join returns rows in no particular order; flights sharing keys and prediction time
    # must each come back exactly once (the dask store used to collapse them).
    if len(joined) != len(entities) or not joined[ROW].is_unique:
        raise RuntimeError(
            f"point-in-time join returned {len(joined)} rows "
            f"({joined[ROW].nunique()} distinct) for {len(entities)} flights"
        )
    joined = joined.sort_values(ROW).reset_index(drop=True)
    out = entities.copy()
    for name in contract.STORE_FEATURES:
        out[name] = pd.to_numeric(joined[name]).astype("float64").to_numpy()
    return out


def require_feature_files(settings: Settings, days: list[dt.date]) -> None:
    """Fail loudly if the feature files of `days` were never built: the join would otherwise
    return all-missing features for them without a word."""
    missing = sorted({d for d in days for view in DAILY_VIEWS if not day_file(settings.lake_dir, view, d).exists()})
    if missing:
        raise FileNotFoundError(
            f"feature tables missing for {len(missing)} day(s) from {missing[0]}; "
            "run features.tables.build_feature_tables for them first"
        )


def training_set(settings: Settings, days: list[dt.date], project: str = PROJECT) -> pd.DataFrame:
    """Flights of `days` with label, point-in-time store features and calendar features.

    Args:
        settings: lake, store, horizon.
        days: local days whose curated flights become rows.
        project: Feast project name.
    Returns:
        Columns `columns()`: the flight key, event_timestamp (prediction time, UTC), dep_delay,
        cancelled, the label (NaN for cancelled flights: training drops them, evaluation may
        not), then contract.MODEL_INPUTS (numeric as float64 with NaN = missing, categoricals
        as str; tailnum may be None). Sorted by sched_dep_utc, carrier, flight, origin.
    """
    require_feature_files(settings, days)
    flights = lake.read_partitions(settings.lake_dir, "curated", "flights", sorted(days))
    flights = flights.sort_values(ORDER, kind="mergesort").reset_index(drop=True)
    entities = entity_frame(flights, settings.horizon)
    features = join_features(settings, entities, project)

    out = flights[list(FLIGHT_KEY)].copy()
    out["event_timestamp"] = entities["event_timestamp"].astype(pd.DatetimeTZDtype("us", "UTC"))
    out["dep_delay"] = flights["dep_delay"]
    out["cancelled"] = flights["cancelled"]
    out[contract.LABEL] = label(flights["dep_delay"], flights["cancelled"])
    for name in contract.STORE_FEATURES:
        out[name] = features[name]
    for name, values in calendar_columns(flights["sched_dep_local"]).items():
        out[name] = np.asarray(values, dtype="float64")
    for name in contract.CATEGORICAL_FEATURES:  # already present as key columns; always set
        out[name] = flights[name].astype(str)
    return out[columns()]
