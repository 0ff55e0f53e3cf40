"""The model's feature set by name: the contract between features/, training/ and serving/.

The ONNX model has one input per name below (float32 for NUMERIC, string for CATEGORICAL), so
the same list drives the training set's columns, the export and the serving request.
"""

from __future__ import annotations

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
