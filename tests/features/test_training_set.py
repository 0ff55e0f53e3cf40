"""Training sets: every flight exactly once, with only what was known at prediction time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features import contract
from features.store import apply_repo
from features.tables import carrier_performance_table, day_file, local_midnight_utc
from features.training_set import columns, entity_frame, join_features, training_set
from flightpath import lake
from flightpath.settings import Settings

DAY = dt.date(2013, 1, 8)


def _curated(settings: Settings, days: list[dt.date]) -> pd.DataFrame:
    return lake.read_partitions(settings.lake_dir, "curated", "flights", days)


def test_one_row_per_curated_flight_in_a_stable_order(feature_store_home: Settings,
                                                      training_frame: pd.DataFrame) -> None:
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


def test_flights_sharing_keys_and_time_each_keep_their_row(feature_store_home: Settings,
                                                           training_frame: pd.DataFrame) -> None:
    shared = training_frame.duplicated(["origin", "carrier", "event_timestamp"], keep=False)
    assert shared.sum() > 100  # the real data has them (e.g. two UA departures at 06:00 from EWR)
    # Force the extreme case: the same entity row three times.
    flights = lake.read_partitions(feature_store_home.lake_dir, "curated", "flights", [DAY]).head(50)
    tripled = pd.concat([flights] * 3, ignore_index=True)
    joined = join_features(feature_store_home, entity_frame(tripled, feature_store_home.horizon))
    assert len(joined) == 150
    first, second = joined.iloc[:50].reset_index(drop=True), joined.iloc[50:100].reset_index(drop=True)
    pd.testing.assert_frame_equal(first.drop(columns="_row"), second.drop(columns="_row"))


def test_carrier_performance_comes_from_the_days_before(feature_store_home: Settings,
                                                        training_frame: pd.DataFrame) -> None:
    flights = _curated(feature_store_home, feature_store_home.demo_days())
    expected = carrier_performance_table(flights, DAY).set_index("carrier")["carrier_delay_rate_7d"]
    rows = training_frame[(training_frame["day"] == DAY.isoformat())
                          & (training_frame["event_timestamp"] >= local_midnight_utc(DAY))]
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
    row = out[(out["carrier"] == target["carrier"]) & (out["flight"] == target["flight"])
              & (out["origin"] == "JFK") & (out["sched_dep_utc"] == target["sched_dep_utc"])]
    assert row["wx_temp"].item() == -99.0
    seen_future = out[out["wx_temp"] == 999.0]
    assert (seen_future["event_timestamp"] >= planted["event_timestamp"].iloc[0]).all()
    assert (out["wx_temp"] == 999.0).any()  # flights predicted later do see it: it is in the data
