"""Feature tables: the right rows, known at the right time, rebuilt byte-identically."""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
import pytest

from features import contract
from features.tables import (
    PLANE_SNAPSHOT_AT,
    build_feature_tables,
    carrier_performance_table,
    day_file,
    local_midnight_utc,
    origin_schedule_table,
    route_performance_table,
    view_dir,
    weather_table,
)
from flightpath import lake
from flightpath.settings import Settings

DAY = dt.date(2013, 1, 10)


def _flights(settings: Settings) -> pd.DataFrame:
    return lake.read_partitions(settings.lake_dir, "curated", "flights", settings.demo_days())


def test_every_view_has_the_contract_columns_and_utc_timestamps(feature_store_home: Settings) -> None:
    for view, names in contract.FEATURE_VIEWS.items():
        files = sorted(view_dir(feature_store_home.lake_dir, view).glob("*.parquet"))
        assert files, view
        frame = pd.read_parquet(files[-1])
        (key,) = contract.VIEW_JOIN_KEYS[view]
        assert list(frame.columns) == [key, "event_timestamp", *names]
        assert str(frame["event_timestamp"].dt.tz) == "UTC"


def test_weather_event_time_is_the_observation_hour(feature_store_home: Settings) -> None:
    curated = lake.read_partitions(feature_store_home.lake_dir, "curated", "weather", [DAY])
    table = weather_table(curated)
    assert len(table) == len(curated)
    row = table.iloc[5]
    source = curated[(curated["origin"] == row["origin"]) & (curated["time_hour"] == row["event_timestamp"])]
    assert source["temp"].item() == row["wx_temp"]
    assert source["pressure"].item() == pytest.approx(row["wx_pressure"], nan_ok=True)


def test_planes_are_known_before_the_data_starts(feature_store_home: Settings) -> None:
    planes = pd.read_parquet(view_dir(feature_store_home.lake_dir, "plane_profile") / "snapshot.parquet")
    assert (planes["event_timestamp"] == PLANE_SNAPSHOT_AT).all()
    assert PLANE_SNAPSHOT_AT < pd.Timestamp("2013-01-01", tz="UTC")
    assert planes["tailnum"].is_unique


def test_carrier_performance_ignores_the_flights_own_day(feature_store_home: Settings) -> None:
    flights = _flights(feature_store_home)
    before = carrier_performance_table(flights, DAY)
    # Make every flight of DAY (and later) very late: nothing known at DAY's midnight changes.
    future = flights["day"] >= DAY.isoformat()
    rewritten = flights.assign(dep_delay=flights["dep_delay"].mask(future & ~flights["cancelled"], 600.0))
    pd.testing.assert_frame_equal(carrier_performance_table(rewritten, DAY), before)
    # ...while the same change to the day before does move it (the test can fail).
    past = flights["day"] == (DAY - dt.timedelta(days=1)).isoformat()
    rewritten = flights.assign(dep_delay=flights["dep_delay"].mask(past & ~flights["cancelled"], 600.0))
    assert (carrier_performance_table(rewritten, DAY)["carrier_delay_rate_7d"] > before["carrier_delay_rate_7d"]).any()


def test_carrier_performance_matches_a_direct_count(feature_store_home: Settings) -> None:
    flights = _flights(feature_store_home)
    table = carrier_performance_table(flights, DAY).set_index("carrier")
    window = [(DAY - dt.timedelta(days=k)).isoformat() for k in range(1, 8)]
    ua = flights[(flights["carrier"] == "UA") & flights["day"].isin(window) & ~flights["cancelled"]]
    departed_at = ua["sched_dep_utc"] + pd.to_timedelta(ua["dep_delay"], unit="min")
    departed = ua[departed_at < local_midnight_utc(DAY)]
    assert table.loc["UA", "carrier_flights_7d"] == len(departed)
    assert table.loc["UA", "carrier_delay_rate_7d"] == pytest.approx((departed["dep_delay"] >= 15).mean())
    assert (table["event_timestamp"] == pd.Timestamp("2013-01-10 05:00", tz="UTC")).all()  # EST midnight


def test_a_flight_still_in_the_air_at_midnight_is_not_yet_counted() -> None:
    late_evening = pd.Timestamp("2013-01-09 23:50", tz="America/New_York").tz_convert("UTC")
    flights = pd.DataFrame(
        {
            "day": ["2013-01-09", "2013-01-09"],
            "carrier": ["UA", "UA"],
            "sched_dep_utc": [late_evening, late_evening - pd.Timedelta(hours=5)],
            "dep_delay": [30.0, 20.0],
            "cancelled": [False, False],
        }
    )
    table = carrier_performance_table(flights, DAY)
    assert table["carrier_flights_7d"].tolist() == [1.0]  # only the one that left before 00:00


def test_a_day_without_history_has_no_rows(feature_store_home: Settings) -> None:
    view = "carrier_performance"
    first = pd.read_parquet(day_file(feature_store_home.lake_dir, view, feature_store_home.demo_start))
    assert first.empty
    assert list(first.columns) == ["carrier", "event_timestamp", *contract.FEATURE_VIEWS[view]]


def test_rebuild_is_byte_identical(store_copy) -> None:
    settings = store_copy()

    def digests() -> dict[str, str]:
        root = settings.lake_dir / "features"
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))
        }

    before = digests()
    counts = build_feature_tables(settings, settings.demo_days())
    assert digests() == before
    assert counts["weather_at_origin"] > 900 and counts["plane_profile"] > 3000


def test_origin_recent_uses_only_what_had_happened_by_each_hour() -> None:
    from features.tables import origin_recent_table

    def flight(sched: str, delay: float | None) -> dict:
        return {"origin": "JFK", "sched_dep_utc": pd.Timestamp(sched, tz="UTC"), "dep_delay": delay}

    flights = pd.DataFrame(
        [
            flight("2013-01-10 15:00", 30.0),  # leaves 15:30
            flight("2013-01-10 15:30", None),  # cancelled: never leaves, waits forever
            flight("2013-01-10 16:30", 10.0),  # leaves 16:40
            flight("2013-01-10 16:50", 200.0),  # leaves 20:10: still waiting at 17:00 and 18:00
        ]
    )
    table = origin_recent_table(flights, dt.date(2013, 1, 10)).set_index("event_timestamp")
    at = lambda h: table.loc[pd.Timestamp(f"2013-01-10 {h}:00", tz="UTC")]  # noqa: E731
    # At 16:00 only the 15:30 departure had happened; the cancelled one is waiting.
    assert at(16)["origin_dep_delay_2h"] == 30.0 and at(16)["origin_backlog_2h"] == 1.0
    # At 17:00: departures 15:30 (30) and 16:40 (10); waiting: the cancelled one and the 16:50.
    assert at(17)["origin_dep_delay_2h"] == 20.0 and at(17)["origin_backlog_2h"] == 2.0
    # The 200-minute delay is unknown until 20:10: no row before 21:00 reflects it.
    assert all(
        table.loc[table.index < pd.Timestamp("2013-01-10 20:11", tz="UTC"), "origin_dep_delay_2h"].dropna() < 200
    )
    assert at(21)["origin_dep_delay_2h"] == 200.0


def test_a_quiet_hour_says_nothing_left_and_nobody_waiting() -> None:
    """Every hour of the day has its row: a night with no traffic reads "no departures, backlog 0"
    in training and online alike, never the last busy evening's values (the online store keeps the
    latest row and applies no TTL)."""
    from features.tables import origin_recent_table

    flights = pd.DataFrame(
        [{"origin": "EWR", "sched_dep_utc": pd.Timestamp("2013-03-19 21:20", tz="UTC"), "dep_delay": 341.0}]
    )  # 17:20 local on the 19th, left at 23:01 local: the evening's last, very late departure
    table = origin_recent_table(flights, dt.date(2013, 3, 20)).set_index("event_timestamp")
    assert len(table) == 24  # every local hour of the day
    busy = table.loc[pd.Timestamp("2013-03-20 04:00", tz="UTC")]  # 00:00 local: it left within 2 h
    assert busy["origin_dep_delay_2h"] == 341.0
    quiet = table.loc[pd.Timestamp("2013-03-20 08:00", tz="UTC")]  # 04:00 local, nothing since 02:41
    assert pd.isna(quiet["origin_dep_delay_2h"]) and quiet["origin_backlog_2h"] == 0.0


def _local(day: dt.date, hhmm: str) -> pd.Timestamp:
    return pd.Timestamp(f"{day.isoformat()} {hhmm}")


def _flight(origin: str, dest: str, day: dt.date, hhmm: str, delay: float | None) -> dict:
    """One curated-shaped flight (naive local wall time + UTC, as the lake holds them)."""
    local = _local(day, hhmm)
    return {
        "day": day.isoformat(),
        "origin": origin,
        "dest": dest,
        "carrier": "UA",
        "sched_dep_local": local,
        "sched_dep_utc": local.tz_localize("America/New_York", ambiguous=True).tz_convert("UTC"),
        "dep_delay": delay,
        "cancelled": delay is None,
    }


def test_route_performance_counts_only_the_14_days_before_and_departed_flights() -> None:
    d = lambda k: DAY - dt.timedelta(days=k)  # noqa: E731
    flights = pd.DataFrame(
        [
            _flight("JFK", "LAX", d(1), "10:00", 30.0),  # counts, late
            _flight("JFK", "LAX", d(14), "12:00", 0.0),  # counts, first day of the window
            _flight("JFK", "LAX", d(1), "23:50", 30.0),  # leaves 00:20 on DAY: unknown at midnight
            _flight("JFK", "LAX", d(15), "12:00", 60.0),  # before the window
            _flight("JFK", "LAX", DAY, "06:00", 100.0),  # the flight's own day
            _flight("JFK", "LAX", d(2), "09:00", None),  # cancelled: never departed
            _flight("EWR", "LAX", d(1), "09:00", 0.0),  # another route
        ]
    )
    table = route_performance_table(flights, DAY).set_index("route")
    assert table.index.tolist() == ["EWR-LAX", "JFK-LAX"]
    assert table.loc["JFK-LAX", "route_flights_14d"] == 2.0
    assert table.loc["JFK-LAX", "route_delay_rate_14d"] == 0.5
    assert table.loc["EWR-LAX", "route_delay_rate_14d"] == 0.0
    assert (table["event_timestamp"] == local_midnight_utc(DAY)).all()


def test_route_performance_ignores_the_flights_own_day(feature_store_home: Settings) -> None:
    flights = _flights(feature_store_home)
    before = route_performance_table(flights, DAY)
    assert len(before) > 100  # the tiny window's routes
    future = flights["day"] >= DAY.isoformat()
    rewritten = flights.assign(dep_delay=flights["dep_delay"].mask(future & ~flights["cancelled"], 600.0))
    pd.testing.assert_frame_equal(route_performance_table(rewritten, DAY), before)
    # ...while the same change to the day before does move it (the test can fail).
    past = flights["day"] == (DAY - dt.timedelta(days=1)).isoformat()
    rewritten = flights.assign(dep_delay=flights["dep_delay"].mask(past & ~flights["cancelled"], 600.0))
    assert (route_performance_table(rewritten, DAY)["route_delay_rate_14d"] > before["route_delay_rate_14d"]).any()


def test_route_performance_matches_a_direct_count(feature_store_home: Settings) -> None:
    flights = _flights(feature_store_home)
    table = route_performance_table(flights, DAY).set_index("route")
    window = [(DAY - dt.timedelta(days=k)).isoformat() for k in range(1, 15)]
    route = flights[
        (flights["origin"] == "JFK") & (flights["dest"] == "LAX") & flights["day"].isin(window) & ~flights["cancelled"]
    ]
    departed_at = route["sched_dep_utc"] + pd.to_timedelta(route["dep_delay"], unit="min")
    departed = route[departed_at < local_midnight_utc(DAY)]
    assert len(departed) > 50
    assert table.loc["JFK-LAX", "route_flights_14d"] == len(departed)
    assert table.loc["JFK-LAX", "route_delay_rate_14d"] == pytest.approx((departed["dep_delay"] >= 15).mean())


def test_origin_schedule_counts_every_scheduled_departure_of_the_hour() -> None:
    flights = pd.DataFrame(
        [
            _flight("JFK", "LAX", DAY, "08:05", 0.0),
            _flight("JFK", "SFO", DAY, "08:55", None),  # cancelled: still on the published schedule
            _flight("JFK", "LAX", DAY, "09:10", 300.0),  # counted in its scheduled hour, not when it left
            _flight("LGA", "ORD", DAY, "08:30", 0.0),
            _flight("JFK", "LAX", DAY - dt.timedelta(days=1), "08:15", 0.0),  # another day
        ]
    )
    table = origin_schedule_table(flights, DAY).set_index("origin_hour")
    assert table["origin_sched_departures_hour"].to_dict() == {
        "JFK|2013-01-10T08": 2.0,
        "JFK|2013-01-10T09": 1.0,
        "LGA|2013-01-10T08": 1.0,
    }
    # Known from the midnight that starts the day: before any of its departures.
    assert (table["event_timestamp"] == pd.Timestamp("2013-01-10 05:00", tz="UTC")).all()


def test_origin_schedule_on_the_fall_back_night_counts_both_01_hours_under_one_key() -> None:
    day = dt.date(2013, 11, 3)
    first, second = pd.Timestamp("2013-11-03 05:30", tz="UTC"), pd.Timestamp("2013-11-03 06:30", tz="UTC")
    flights = pd.DataFrame([_flight("JFK", "LAX", day, "01:30", 0.0), _flight("JFK", "SFO", day, "01:30", 0.0)])
    flights["sched_dep_utc"] = [first, second]  # EDT 01:30, then EST 01:30: one wall-clock hour
    table = origin_schedule_table(flights, day)
    assert table["origin_hour"].tolist() == ["JFK|2013-11-03T01"]
    assert table["origin_sched_departures_hour"].tolist() == [2.0]
    assert table["event_timestamp"].tolist() == [pd.Timestamp("2013-11-03 04:00", tz="UTC")]  # EDT midnight


def test_new_views_are_written_for_every_day_even_when_empty(feature_store_home: Settings) -> None:
    lake_dir = feature_store_home.lake_dir
    first = pd.read_parquet(day_file(lake_dir, "route_performance", feature_store_home.demo_start))
    assert first.empty  # day one has no history
    assert list(first.columns) == ["route", "event_timestamp", *contract.FEATURE_VIEWS["route_performance"]]
    for day in feature_store_home.demo_days():
        schedule = pd.read_parquet(day_file(lake_dir, "origin_schedule", day))
        curated = lake.read_partitions(lake_dir, "curated", "flights", [day])
        assert schedule["origin_sched_departures_hour"].sum() == len(curated)  # cancelled included
        assert (schedule["event_timestamp"] == local_midnight_utc(day)).all()
        assert day_file(lake_dir, "route_performance", day).exists()
