"""The model's feature set by name: the contract between features/, training/ and serving/.

The ONNX model has one input per name below (float32 for NUMERIC, string for CATEGORICAL), so
the same list drives the training set's columns, the export and the serving request.
"""

from __future__ import annotations

import datetime as dt
import hashlib

# Known before departure from the flight itself (the request): strings, looked up inside the graph.
CATEGORICAL_FEATURES: tuple[str, ...] = ("carrier", "origin", "dest")

# Request-time calendar features, computed by features.request_time (shared by training and serving).
CALENDAR_FEATURES: tuple[str, ...] = ("sched_hour", "sched_weekday", "sched_month", "days_to_holiday")

# Feature view name -> feature names it serves (feature names are unique across views so the
# training set and the online response can use them unprefixed).
FEATURE_VIEWS: dict[str, tuple[str, ...]] = {
    # latest hourly observation at the origin at or before prediction time
    "weather_at_origin": (
        "wx_temp",
        "wx_dewp",
        "wx_humid",
        "wx_wind_speed",
        "wx_wind_gust",
        "wx_precip",
        "wx_pressure",
        "wx_visib",
    ),
    # plane profile (a dimension with no history in the data)
    "plane_profile": ("plane_year", "plane_seats", "plane_engines"),
    # carrier on-time performance over the 7 days before the flight's day (flights already departed)
    "carrier_performance": ("carrier_delay_rate_7d", "carrier_flights_7d"),
    # the origin in the 2 hours before the latest full hour: how late departures were, and how
    # many scheduled flights had still not left (delays propagate through a day)
    "origin_recent": ("origin_dep_delay_2h", "origin_backlog_2h"),
    # the route (origin-dest) over the 14 days before the flight's day (flights already departed):
    # 7 days hold too few flights of a thin route for a stable rate
    "route_performance": ("route_delay_rate_14d", "route_flights_14d"),
    # departures scheduled from the origin in the flight's local hour (cancelled ones included):
    # the published schedule, known before the day begins
    "origin_schedule": ("origin_sched_departures_hour",),
}

# Entity join keys per feature view (what the entity dataframe / online request must carry).
VIEW_JOIN_KEYS: dict[str, tuple[str, ...]] = {
    "weather_at_origin": ("origin",),
    "plane_profile": ("tailnum",),
    "carrier_performance": ("carrier",),
    "origin_recent": ("origin",),
    # composite keys as strings, built by features.keys (route_key, origin_hour_key)
    "route_performance": ("route",),
    "origin_schedule": ("origin_hour",),
}

# How long a row stays valid for the offline point-in-time join (Feast's `ttl`, set from here by
# features/feature_repo/definitions.py; serving flags values older than this as stale): the join takes
# the latest row at or before prediction time, and only if it is at most this old.
VIEW_TTL: dict[str, dt.timedelta] = {
    # Hourly observations with gaps: an observation up to 3 hours old is still "the weather";
    # older than that, we would rather say "missing" than pretend.
    "weather_at_origin": dt.timedelta(hours=3),
    # The planes snapshot never expires (0 means no TTL in Feast).
    "plane_profile": dt.timedelta(0),
    # One row per local day, valid until the next one: 24 h (25 h on the DST fall-back day), so 2 days.
    # Whole days because the duckdb join (ibis) rejects a timedelta mixing days and seconds.
    # If a carrier has no row for a day, the previous day's row (older, but known) is used.
    "carrier_performance": dt.timedelta(days=2),
    # One row per origin and every hour, quiet ones included (no departures: delay missing,
    # backlog 0), so the latest row is never the evening's when a morning flight is scored.
    "origin_recent": dt.timedelta(hours=2),
    # Daily rows stamped at local midnight like carrier_performance, hence the same 2 days.
    "route_performance": dt.timedelta(days=2),
    # Keys carry their own date, so a row can never be reused for another day whatever the TTL;
    # 2 days only has to cover the 24-25 h from the day's midnight to its last departure.
    "origin_schedule": dt.timedelta(days=2),
}

STORE_FEATURES: tuple[str, ...] = tuple(f for names in FEATURE_VIEWS.values() for f in names)
NUMERIC_FEATURES: tuple[str, ...] = STORE_FEATURES + CALENDAR_FEATURES
MODEL_INPUTS: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

LABEL = "delayed"  # dep_delay >= 15 minutes; cancelled flights have no label
DELAY_THRESHOLD_MIN = 15.0


def feature_references() -> list[str]:
    """Feast references ("view:feature") in a stable order."""
    return [f"{view}:{name}" for view, names in FEATURE_VIEWS.items() for name in names]


def feature_service_version() -> str:
    """A short hash of the feature references: it changes whenever the feature set does.

    The model records it (ONNX metadata + registry tag) so a model is never served features it
    was not trained on.
    """
    payload = "\n".join(feature_references() + list(CALENDAR_FEATURES) + list(CATEGORICAL_FEATURES))
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
