"""Offline feature tables: the curated lake turned into the rows Feast joins and materializes.

    from features.tables import build_feature_tables
    build_feature_tables(settings, days)        # -> {"weather_at_origin": 1680, ...}

One parquet file per view and day, so a daily run adds its own files and never rewrites history:

    lake/features/weather_at_origin/2013-01-05.parquet     hourly observations of that local day
    lake/features/carrier_performance/2013-01-05.parquet   one row per carrier, known at midnight
    lake/features/route_performance/2013-01-05.parquet     one row per route, known at midnight
    lake/features/origin_schedule/2013-01-05.parquet       one row per origin and local hour of the day
    lake/features/plane_profile/snapshot.parquet           the planes dimension (no history)

Every row carries `event_timestamp` (tz-aware UTC): the moment from which the value was known.
That column is what makes the point-in-time join honest; it is never the time the file was
written. The builders below are pure functions of their input frames, and the files are a pure
function of the lake, so a rerun is byte-identical.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from features import contract
from features.keys import origin_hour_key, route_key
from flightpath import lake
from flightpath.atomic import write_parquet
from flightpath.settings import LOCAL_TZ, Settings

# Curated weather column -> feature name (the contract's order).
WEATHER_COLUMNS: dict[str, str] = {
    "temp": "wx_temp",
    "dewp": "wx_dewp",
    "humid": "wx_humid",
    "wind_speed": "wx_wind_speed",
    "wind_gust": "wx_wind_gust",
    "precip": "wx_precip",
    "pressure": "wx_pressure",
    "visib": "wx_visib",
}
# Curated planes column -> feature name.
PLANE_COLUMNS: dict[str, str] = {"year": "plane_year", "seats": "plane_seats", "engines": "plane_engines"}

# planes.csv is a snapshot with no history. Dating it before the data starts lets every 2013
# prediction use it; a real registry snapshot would be dated by its download instead.
PLANE_SNAPSHOT_AT = pd.Timestamp("2012-01-01", tz="UTC")
CARRIER_HISTORY_DAYS = 7
ROUTE_HISTORY_DAYS = 14
ORIGIN_RECENT_WINDOW = pd.Timedelta(hours=2)
EVENT_TIMESTAMP = "event_timestamp"
UTC = pd.DatetimeTZDtype("us", "UTC")


def view_dir(lake_dir: Path, view: str) -> Path:
    """Folder holding one feature view's parquet files."""
    if view not in contract.FEATURE_VIEWS:
        raise ValueError(f"unknown feature view {view!r}; known: {', '.join(contract.FEATURE_VIEWS)}")
    return lake.features_dir(lake_dir, view)


def day_file(lake_dir: Path, view: str, day: dt.date) -> Path:
    return view_dir(lake_dir, view) / f"{day.isoformat()}.parquet"


def source_glob(lake_dir: Path, view: str) -> str:
    """The absolute glob a Feast FileSource reads (duckdb expands it; relative paths would
    resolve against the current directory, not the repo)."""
    return str(view_dir(lake_dir, view).resolve() / "*.parquet")


def local_midnight_utc(day: dt.date) -> pd.Timestamp:
    """New York midnight that starts `day`, in UTC (05:00 in winter, 04:00 in summer)."""
    return pd.Timestamp(day).tz_localize(LOCAL_TZ).tz_convert("UTC").as_unit("us")


def _typed(frame: pd.DataFrame, key: str, view: str) -> pd.DataFrame:
    """Fix column order and dtypes so empty and full files share one schema (Feast reads them
    as one table through a glob)."""
    out = pd.DataFrame(
        {
            # "string", not object: an empty object column would be written as parquet type null,
            # and duckdb takes a glob's schema from its first file (day one has no carrier rows).
            key: frame[key].astype("string"),
            EVENT_TIMESTAMP: frame[EVENT_TIMESTAMP].astype(UTC),
        }
    )
    for name in contract.FEATURE_VIEWS[view]:
        # float64 for every feature: NaN marks a missing value, and the online store returns
        # exactly the number the offline join does (float32 would round on one side only).
        out[name] = frame[name].astype("float64").to_numpy()
    return out.sort_values([EVENT_TIMESTAMP, key], kind="mergesort").reset_index(drop=True)


def weather_table(weather: pd.DataFrame) -> pd.DataFrame:
    """weather_at_origin rows from curated weather: one per origin and observed hour.

    Args:
        weather: curated weather (origin, time_hour UTC, temp, dewp, ...).
    Returns:
        origin, event_timestamp (= time_hour, the hour the observation describes), wx_* floats.
    """
    frame = weather.rename(columns=WEATHER_COLUMNS).rename(columns={"time_hour": EVENT_TIMESTAMP})
    return _typed(frame, "origin", "weather_at_origin")


def plane_table(planes: pd.DataFrame) -> pd.DataFrame:
    """plane_profile rows from the curated planes dimension, all dated PLANE_SNAPSHOT_AT.

    Args:
        planes: curated planes (tailnum, year, seats, engines, ...).
    Returns:
        tailnum, event_timestamp, plane_year, plane_seats, plane_engines.
    """
    frame = planes.rename(columns=PLANE_COLUMNS).assign(**{EVENT_TIMESTAMP: PLANE_SNAPSHOT_AT})
    return _typed(frame, "tailnum", "plane_profile")


def departed_by_midnight(flights: pd.DataFrame, day: dt.date, history_days: int) -> pd.DataFrame:
    """Flights of the `history_days` local days before `day` that had departed when `day` began.

    Departed means not cancelled and scheduled departure + delay before local midnight (a 23:50
    flight that left at 00:20 is not yet known at midnight; it counts the next day). The flight's
    own day never counts. Shared by the carrier and route views so both follow one rule.

    Args:
        flights: curated flights; any rows, those outside day-history_days..day-1 are ignored.
        day: the local day the performance rows are for.
        history_days: how many local days before `day` to look back on.
    Returns:
        The matching rows of `flights`, unchanged.
    """
    midnight = local_midnight_utc(day)
    window = {(day - dt.timedelta(days=k)).isoformat() for k in range(1, history_days + 1)}
    departed_at = flights["sched_dep_utc"] + pd.to_timedelta(flights["dep_delay"], unit="min")
    return flights[flights["day"].isin(window) & ~flights["cancelled"] & (departed_at < midnight)]


def _performance_rows(
    known: pd.DataFrame, keys: pd.Series, day: dt.date, rate: str, count: str, view: str
) -> pd.DataFrame:
    """One row per key (sorted): share of 15+ minute delays as `rate`, flight count as `count`,
    stamped with the local midnight that starts `day`. `keys.name` is the join key column."""
    late = (known["dep_delay"] >= contract.DELAY_THRESHOLD_MIN).astype("float64")
    stats = late.groupby(keys).agg(["mean", "size"]).reset_index()
    frame = pd.DataFrame(
        {
            keys.name: stats[keys.name],
            EVENT_TIMESTAMP: local_midnight_utc(day),
            rate: stats["mean"],
            count: stats["size"],
        }
    )
    return _typed(frame, str(keys.name), view)


def carrier_performance_table(flights: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """carrier_performance rows for `day`: what each carrier did in the 7 local days before it.

    Only flights that had actually departed when `day` began count (`departed_by_midnight`).

    Args:
        flights: curated flights; any rows, those outside day-7..day-1 are ignored.
        day: the local day the rows are for.
    Returns:
        carrier, event_timestamp (= local midnight starting `day`, UTC), carrier_delay_rate_7d
        (share with dep_delay >= 15), carrier_flights_7d (count). No history -> no row.
    """
    known = departed_by_midnight(flights, day, CARRIER_HISTORY_DAYS)
    return _performance_rows(
        known, known["carrier"], day, "carrier_delay_rate_7d", "carrier_flights_7d", "carrier_performance"
    )


def route_performance_table(flights: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """route_performance rows for `day`: each route's delays in the 14 local days before it.

    Same rule as the carrier view (`departed_by_midnight`), keyed by `keys.route_key`.

    Args:
        flights: curated flights (origin, dest, day, sched_dep_utc, dep_delay, cancelled); those
            outside day-14..day-1 are ignored.
        day: the local day the rows are for.
    Returns:
        route, event_timestamp (= local midnight starting `day`, UTC), route_delay_rate_14d
        (share with dep_delay >= 15), route_flights_14d (count). A route with no departed flight
        in the window has no row (its features are missing, not zero).
    """
    known = departed_by_midnight(flights, day, ROUTE_HISTORY_DAYS)
    routes = pd.Series(
        [route_key(o, d) for o, d in zip(known["origin"], known["dest"], strict=True)],
        index=known.index,
        name="route",
        dtype=object,
    )
    return _performance_rows(known, routes, day, "route_delay_rate_14d", "route_flights_14d", "route_performance")


def origin_schedule_table(flights: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """origin_schedule rows for `day`: departures scheduled from each origin in each local hour.

    Every curated flight of `day` counts, cancelled ones included: the schedule is published
    ahead, and a cancellation is an outcome, not known when the day begins. Keys come from
    `keys.origin_hour_key` on the local wall-clock time, so on the fall-back night both 01:xx
    hours share one key (and one count), exactly as a request for "01:30" looks it up.

    Args:
        flights: curated flights (day, origin, sched_dep_local); rows of other days are ignored.
        day: the local day the rows are for.
    Returns:
        origin_hour, event_timestamp (= local midnight starting `day`, UTC: the schedule is known
        before the day begins), origin_sched_departures_hour (count). Hours with no scheduled
        departure have no row.
    """
    # An empty read has no columns at all (no partition for the day): no schedule, no rows.
    todays = flights[flights["day"] == day.isoformat()] if len(flights.columns) else None
    keys = (
        []
        if todays is None
        else [origin_hour_key(o, t) for o, t in zip(todays["origin"], todays["sched_dep_local"], strict=True)]
    )
    hours = pd.Series(keys, name="origin_hour", dtype=object)
    counts = hours.groupby(hours).size()
    frame = pd.DataFrame(
        {
            "origin_hour": counts.index.to_numpy(dtype=object),
            EVENT_TIMESTAMP: local_midnight_utc(day),
            "origin_sched_departures_hour": counts.to_numpy(),
        }
    )
    return _typed(frame, "origin_hour", "origin_schedule")


def origin_recent_table(flights: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """origin_recent rows for every UTC hour boundary H inside the local `day`.

    At H an airport knows which flights left in [H-2h, H) and how late they were, and which flights
    scheduled in that window have not left yet (the backlog; cancelled ones count, they never
    leave). Both are known at H, so H is the event timestamp. Nothing about a flight departing
    after H is used; a flight's own outcome cannot leak, since its prediction time is 2 hours before
    its departure.

    Args:
        flights: curated flights of `day` and the day before (late departures cross midnight).
        day: the local day whose hours the rows are for.
    Returns:
        origin, event_timestamp (= H, UTC), origin_dep_delay_2h (NaN when nothing left),
        origin_backlog_2h (0 when nobody waits); every hour of the day, quiet ones included.
    """
    start, end = local_midnight_utc(day), local_midnight_utc(day + dt.timedelta(days=1))
    hours = pd.date_range(start, end, freq="h", inclusive="left")
    departed_at = flights["sched_dep_utc"] + pd.to_timedelta(flights["dep_delay"], unit="min")
    rows = []
    for origin, group in flights.assign(departed_at=departed_at).groupby("origin", sort=True):
        sched, dep, delay = group["sched_dep_utc"], group["departed_at"], group["dep_delay"]
        for hour in hours:
            lo = hour - ORIGIN_RECENT_WINDOW
            left = (dep >= lo) & (dep < hour)
            waiting = (sched >= lo) & (sched < hour) & ~(dep < hour)  # NaT (cancelled) counts as waiting
            # A quiet hour gets its row too ("nothing left, nobody waiting"): without it the online
            # store, which keeps the latest row and applies no TTL, answered a 04:00 flight with the
            # evening's values (EWR, 2013-03-20: 341 minutes of "recent" delay after a silent night).
            rows.append(
                {
                    "origin": origin,
                    EVENT_TIMESTAMP: hour,
                    "origin_dep_delay_2h": float(delay[left].mean()) if left.any() else float("nan"),
                    "origin_backlog_2h": float(waiting.sum()),
                }
            )
    frame = pd.DataFrame(rows, columns=["origin", EVENT_TIMESTAMP, *contract.FEATURE_VIEWS["origin_recent"]])
    return _typed(frame, "origin", "origin_recent")


def _history_days(days: list[dt.date], available: set[dt.date]) -> list[dt.date]:
    """Curated flight days any of `days` looks back on (those not ingested are simply absent:
    the window's first days get partial history, day one none)."""
    longest = max(CARRIER_HISTORY_DAYS, ROUTE_HISTORY_DAYS)
    wanted = {d - dt.timedelta(days=k) for d in days for k in range(1, longest + 1)}
    return sorted(wanted & available)


def build_feature_tables(settings: Settings, days: list[dt.date]) -> dict[str, int]:
    """Recompute the feature files of `days` (and the planes snapshot) from the curated lake.

    Args:
        settings: where the lake is.
        days: local days to (re)build; their curated weather must exist.
    Returns:
        Rows written per feature view.
    """
    lake_dir = settings.lake_dir
    counts = dict.fromkeys(contract.FEATURE_VIEWS, 0)

    planes = plane_table(pd.read_parquet(lake.dimension_file(lake_dir, "planes")))
    write_parquet(planes, view_dir(lake_dir, "plane_profile") / "snapshot.parquet")
    counts["plane_profile"] = len(planes)

    available = set(lake.available_days(lake_dir, "curated", "flights"))
    history = _history_days(days, available)
    flights = lake.read_partitions(lake_dir, "curated", "flights", history)
    if flights.empty:  # no history at all: keep the columns the builder selects on
        flights = pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in {
                    "day": str,
                    "carrier": str,
                    "origin": str,
                    "dest": str,
                    "sched_dep_utc": UTC,
                    "dep_delay": "float64",
                    "cancelled": bool,
                }.items()
            }
        )
    for day in sorted(days):
        weather = weather_table(lake.read_partitions(lake_dir, "curated", "weather", [day]))
        carriers = carrier_performance_table(flights, day)
        recent_days = [d for d in (day - dt.timedelta(days=1), day) if d in available]
        recent_flights = lake.read_partitions(lake_dir, "curated", "flights", recent_days)
        recent = origin_recent_table(recent_flights, day)
        routes = route_performance_table(flights, day)
        schedule = origin_schedule_table(recent_flights, day)  # keeps only `day`'s own flights
        # Written even when empty (Dec 31 has no weather; day one has no carrier history) so
        # the view's glob always matches and a rerun replaces a stale file.
        write_parquet(weather, day_file(lake_dir, "weather_at_origin", day))
        write_parquet(carriers, day_file(lake_dir, "carrier_performance", day))
        write_parquet(recent, day_file(lake_dir, "origin_recent", day))
        write_parquet(routes, day_file(lake_dir, "route_performance", day))
        write_parquet(schedule, day_file(lake_dir, "origin_schedule", day))
        counts["weather_at_origin"] += len(weather)
        counts["carrier_performance"] += len(carriers)
        counts["origin_recent"] += len(recent)
        counts["route_performance"] += len(routes)
        counts["origin_schedule"] += len(schedule)
    return counts
