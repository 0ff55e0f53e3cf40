"""Training sets: every flight exactly once, with only what was known at prediction time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from features import contract
from features import training_set as training_set_module
from features.keys import entity_keys, origin_hour_key, route_key
from features.store import apply_repo
from features.tables import (
    carrier_performance_table,
    day_file,
    local_midnight_utc,
    route_performance_table,
)
from features.training_set import columns, entity_frame, join_features, training_set
from flightpath import lake
from flightpath.settings import Settings

DAY = dt.date(2013, 1, 8)


def _curated(settings: Settings, days: list[dt.date]) -> pd.DataFrame:
    return lake.read_partitions(settings.lake_dir, "curated", "flights", days)


def test_one_row_per_curated_flight_in_a_stable_order(
    feature_store_home: Settings, training_frame: pd.DataFrame
) -> None:
    flights = _curated(feature_store_home, feature_store_home.demo_days())
    assert len(training_frame) == len(flights)
    assert list(training_frame.columns) == columns()
    assert set(contract.MODEL_INPUTS) <= set(training_frame.columns)
    key = ["carrier", "flight", "origin", "sched_dep_utc"]
    assert not training_frame.duplicated(key).any()
    ordered = training_frame.sort_values(["sched_dep_utc", "carrier", "flight", "origin"], kind="mergesort")
    assert training_frame.index.equals(ordered.index)
    prediction_time = training_frame["sched_dep_utc"] - feature_store_home.horizon
    assert (training_frame["event_timestamp"] == prediction_time).all()


def test_label_and_types(feature_store_home: Settings, training_frame: pd.DataFrame) -> None:
    cancelled = training_frame["cancelled"]
    assert cancelled.any()
    assert training_frame.loc[cancelled, contract.LABEL].isna().all()
    flown = training_frame.loc[~cancelled]
    assert flown[contract.LABEL].tolist() == (flown["dep_delay"] >= 15).astype(float).tolist()
    training_frame[list(contract.NUMERIC_FEATURES)].astype(np.float32)  # castable, NaN for missing
    for name in contract.CATEGORICAL_FEATURES:
        assert training_frame[name].map(type).eq(str).all()
    # Real gaps are missing features, not dropped rows: most AA/MQ planes are not in planes.csv.
    planes = pd.read_parquet(lake.dimension_file(feature_store_home.lake_dir, "planes"))
    known = training_frame["tailnum"].isin(planes["tailnum"])
    assert 0.05 < (~known).mean() < 0.5
    assert training_frame.loc[~known, "plane_seats"].isna().all()
    assert training_frame.loc[known, "plane_seats"].notna().all()
    assert training_frame["wx_temp"].notna().mean() > 0.95


def test_flights_sharing_keys_and_time_each_keep_their_row(
    feature_store_home: Settings, training_frame: pd.DataFrame
) -> None:
    shared = training_frame.duplicated(["origin", "carrier", "event_timestamp"], keep=False)
    assert shared.sum() > 100  # the real data has them (e.g. two UA departures at 06:00 from EWR)
    # Force the extreme case: the same entity row three times.
    flights = lake.read_partitions(feature_store_home.lake_dir, "curated", "flights", [DAY]).head(50)
    tripled = pd.concat([flights] * 3, ignore_index=True)
    joined = join_features(feature_store_home, entity_frame(tripled, feature_store_home.horizon))
    assert len(joined) == 150
    first, second = joined.iloc[:50].reset_index(drop=True), joined.iloc[50:100].reset_index(drop=True)
    pd.testing.assert_frame_equal(first.drop(columns="_row"), second.drop(columns="_row"))


def test_carrier_performance_comes_from_the_days_before(
    feature_store_home: Settings, training_frame: pd.DataFrame
) -> None:
    flights = _curated(feature_store_home, feature_store_home.demo_days())
    expected = carrier_performance_table(flights, DAY).set_index("carrier")["carrier_delay_rate_7d"]
    rows = training_frame[
        (training_frame["day"] == DAY.isoformat()) & (training_frame["event_timestamp"] >= local_midnight_utc(DAY))
    ]
    assert len(rows) > 500
    got = rows.set_index("carrier")["carrier_delay_rate_7d"]
    assert np.allclose(got.to_numpy(), expected.reindex(got.index).to_numpy(), equal_nan=True)


def test_days_without_feature_tables_are_refused(feature_store_home: Settings) -> None:
    with pytest.raises(FileNotFoundError, match="build_feature_tables"):
        training_set(feature_store_home, [feature_store_home.demo_end + dt.timedelta(days=1)])


def test_a_weather_value_from_after_prediction_time_never_leaks(store_copy) -> None:
    settings = store_copy()
    flights = lake.read_partitions(settings.lake_dir, "curated", "flights", [DAY])
    # A flight predicted mid-hour, so a real hourly observation cannot sit between our plants.
    minute = flights["sched_dep_utc"].dt.minute
    target = flights[(flights["origin"] == "JFK") & minute.between(10, 40)].iloc[40]
    prediction_time = target["sched_dep_utc"] - settings.horizon
    # Plant two fake JFK observations: one a minute after the target's prediction time (the
    # future: must not reach it), one a minute before (the past: must, or the test proves nothing).
    path = day_file(settings.lake_dir, "weather_at_origin", DAY)
    weather = pd.read_parquet(path)
    planted = weather[weather["origin"] == "JFK"].head(2).copy()
    minute = pd.Timedelta(minutes=1)
    planted["event_timestamp"] = [prediction_time + minute, prediction_time - minute]
    planted["wx_temp"] = [999.0, -99.0]
    pd.concat([weather, planted]).sort_values(["event_timestamp", "origin"]).to_parquet(path, index=False)
    apply_repo(settings)

    out = training_set(settings, [DAY])
    row = out[
        (out["carrier"] == target["carrier"])
        & (out["flight"] == target["flight"])
        & (out["origin"] == "JFK")
        & (out["sched_dep_utc"] == target["sched_dep_utc"])
    ]
    assert row["wx_temp"].item() == -99.0
    seen_future = out[out["wx_temp"] == 999.0]
    assert (seen_future["event_timestamp"] >= planted["event_timestamp"].iloc[0]).all()
    assert (out["wx_temp"] == 999.0).any()  # flights predicted later do see it: it is in the data


def test_route_and_schedule_features_match_their_views(
    feature_store_home: Settings, training_frame: pd.DataFrame
) -> None:
    flights = _curated(feature_store_home, feature_store_home.demo_days())
    rows = training_frame[
        (training_frame["day"] == DAY.isoformat()) & (training_frame["event_timestamp"] >= local_midnight_utc(DAY))
    ]
    assert len(rows) > 500
    # Route: the DAY row of the route view, looked up by the route key of each flight.
    expected = route_performance_table(flights, DAY).set_index("route")["route_delay_rate_14d"]
    routes = [route_key(o, d) for o, d in zip(rows["origin"], rows["dest"], strict=True)]
    assert np.allclose(rows["route_delay_rate_14d"].to_numpy(), expected.reindex(routes).to_numpy(), equal_nan=True)
    assert rows["route_delay_rate_14d"].notna().mean() > 0.9
    # Schedule: counted independently, from the training set itself (cancelled flights included).
    hour = rows.assign(hour=rows["sched_dep_local"].dt.hour)
    same_hour = (
        training_frame[training_frame["day"] == DAY.isoformat()]
        .assign(hour=lambda f: f["sched_dep_local"].dt.hour)
        .groupby(["origin", "hour"])
        .size()
    )
    want = same_hour.reindex(pd.MultiIndex.from_frame(hour[["origin", "hour"]])).to_numpy(dtype=float)
    assert rows["origin_sched_departures_hour"].tolist() == want.tolist()


def test_composite_keys_are_join_keys_not_model_inputs(training_frame: pd.DataFrame) -> None:
    for key in ("route", "origin_hour"):
        assert key not in contract.MODEL_INPUTS
        assert key not in training_frame.columns
    # entity_keys yields exactly the join keys the views need: nothing missing, nothing extra.
    keys = entity_keys("JFK", "LAX", None, "AA", dt.datetime(2013, 1, 5, 8, 30))
    assert set(keys) == {k for view_keys in contract.VIEW_JOIN_KEYS.values() for k in view_keys}


def test_entity_frame_builds_its_keys_with_entity_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two flights at 01:30 on the fall-back night: EDT then EST, one wall-clock hour.
    local = pd.Series(pd.to_datetime(["2013-11-03 01:30", "2013-11-03 01:30", "2013-11-03 08:59"]))
    flights = pd.DataFrame(
        {
            "origin": ["JFK", "JFK", "LGA"],
            "dest": ["LAX", "SFO", "ORD"],
            "tailnum": ["N1", None, "N3"],
            "carrier": ["AA", "B6", "UA"],
            "sched_dep_local": local,
            "sched_dep_utc": pd.to_datetime(["2013-11-03 05:30", "2013-11-03 06:30", "2013-11-03 13:59"], utc=True),
        }
    )
    calls = []

    def spy(*args: object) -> dict[str, str]:
        calls.append(args)
        return entity_keys(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(training_set_module, "entity_keys", spy)
    frame = entity_frame(flights, dt.timedelta(hours=2))
    assert len(calls) == 3  # one call per flight: the frame has no key logic of its own
    assert frame["origin_hour"].tolist() == ["JFK|2013-11-03T01", "JFK|2013-11-03T01", "LGA|2013-11-03T08"]
    assert frame["route"].tolist() == ["JFK-LAX", "JFK-SFO", "LGA-ORD"]
    assert frame["tailnum"].tolist() == ["N1", "", "N3"]  # "" = unknown, as the online reader sends it
    # The online reader's spelling (a tz-aware request time, either occurrence) gives the same keys.
    ny = ZoneInfo("America/New_York")
    for fold in (0, 1):
        aware = dt.datetime(2013, 11, 3, 1, 30, tzinfo=ny, fold=fold)
        online = entity_keys("JFK", "LAX", "N1", "AA", aware)
        assert online == frame.drop(columns=["_row", "event_timestamp"]).iloc[0].to_dict()
    assert origin_hour_key("JFK", pd.Timestamp("2013-11-03 06:30", tz="UTC")) == "JFK|2013-11-03T01"


def test_route_and_schedule_rows_from_after_prediction_time_never_leak(store_copy) -> None:
    settings = store_copy()
    flights = lake.read_partitions(settings.lake_dir, "curated", "flights", [DAY])
    target = flights[(flights["origin"] == "JFK") & (flights["sched_dep_local"].dt.hour == 14)].iloc[0]
    prediction_time = target["sched_dep_utc"] - settings.horizon
    keys = entity_keys(
        target["origin"], target["dest"], target["tailnum"], target["carrier"], target["sched_dep_local"]
    )
    minute = pd.Timedelta(minutes=1)
    # Per view: a row one minute after the target's prediction time (must not reach it) and one
    # a minute before (must, or the test proves nothing; it also outranks the real midnight row).
    plants = {
        "route_performance": ("route", "route_delay_rate_14d", [0.999, 0.111]),
        "origin_schedule": ("origin_hour", "origin_sched_departures_hour", [999.0, 11.0]),
    }
    for view, (key, feature, values) in plants.items():
        path = day_file(settings.lake_dir, view, DAY)
        table = pd.read_parquet(path)
        planted = table[table[key] == keys[key]].head(1)
        assert len(planted) == 1
        planted = pd.concat([planted] * 2, ignore_index=True)
        planted["event_timestamp"] = [prediction_time + minute, prediction_time - minute]
        planted[feature] = values
        pd.concat([table, planted]).sort_values(["event_timestamp", key]).to_parquet(path, index=False)
    apply_repo(settings)

    out = training_set(settings, [DAY])
    row = out[
        (out["carrier"] == target["carrier"])
        & (out["flight"] == target["flight"])
        & (out["origin"] == "JFK")
        & (out["sched_dep_utc"] == target["sched_dep_utc"])
    ]
    assert row["route_delay_rate_14d"].item() == 0.111
    assert row["origin_sched_departures_hour"].item() == 11.0
    late = out[
        (out["event_timestamp"] >= prediction_time + minute)
        & (out["origin"] == "JFK")
        & (out["dest"] == target["dest"])
    ]
    assert (late["route_delay_rate_14d"] == 0.999).any()  # flights predicted later do see it
