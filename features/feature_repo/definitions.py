"""The Feast declarations: what the features are, where their rows live, and how they join.

Declarations only: no data is read here. They are built by a function rather than at module
level because the source paths come from Settings (absolute: Feast resolves a relative
FileSource path against the current directory, not against this folder).

Names are the contract's (features/contract.py): the views are named like
contract.FEATURE_VIEWS, and feature names are unique across views, so training sets and
online responses can use them unprefixed.
"""

from __future__ import annotations

from typing import Any

from features import contract
from features.tables import EVENT_TIMESTAMP, source_glob
from flightpath.settings import Settings

# Each view's TTL lives in the contract (features.contract.VIEW_TTL): serving judges staleness
# with it and must not import Feast to read it.
VIEW_TTL = contract.VIEW_TTL

VIEW_DESCRIPTIONS: dict[str, str] = {
    "weather_at_origin": "Latest hourly weather observation at the origin airport.",
    "plane_profile": "Static plane profile from the planes registry snapshot.",
    "carrier_performance": "Carrier share of 15+ min delays in the 7 local days before the flight's day.",
    "origin_recent": "Mean delay of departures and flights still waiting at the origin, 2 hours before each hour.",
    "route_performance": "Route (origin-dest) share of 15+ min delays in the 14 local days before the flight's day.",
    "origin_schedule": "Departures scheduled from the origin in the flight's local hour (published before the day).",
}


def feature_objects(settings: Settings) -> list[Any]:
    """Every Feast object of the repo, ready for `FeatureStore.apply`.

    Args:
        settings: gives the lake (source paths) and the feature service name.
    Returns:
        Entities, file sources, feature views and the feature service, in that order.
    """
    from feast import Entity, FeatureService, FeatureView, Field, FileSource
    from feast.data_format import ParquetFormat
    from feast.types import Float64
    from feast.value_type import ValueType

    # An entity is a primary key features are looked up by. The join key is the column name the
    # entity dataframe and the online request carry (contract.VIEW_JOIN_KEYS).
    entities = {
        "origin": Entity(
            name="origin",
            join_keys=["origin"],
            value_type=ValueType.STRING,
            description="Departure airport (EWR, JFK, LGA).",
        ),
        "tailnum": Entity(
            name="tailnum",
            join_keys=["tailnum"],
            value_type=ValueType.STRING,
            description="Plane tail number; may be unknown (a missing feature, not an error).",
        ),
        "carrier": Entity(
            name="carrier", join_keys=["carrier"], value_type=ValueType.STRING, description="Two-letter airline code."
        ),
        # Composite keys, one string column each (features.keys builds them for every side).
        "route": Entity(
            name="route",
            join_keys=["route"],
            value_type=ValueType.STRING,
            description="Origin and destination, e.g. JFK-LAX (features.keys.route_key).",
        ),
        "origin_hour": Entity(
            name="origin_hour",
            join_keys=["origin_hour"],
            value_type=ValueType.STRING,
            description="Origin and local date-hour of the scheduled departure, e.g. "
            "JFK|2013-01-05T08 (features.keys.origin_hour_key).",
        ),
    }

    views = []
    for view, names in contract.FEATURE_VIEWS.items():
        (key,) = contract.VIEW_JOIN_KEYS[view]
        # A source says where rows live and which column says when each row became known.
        if settings.offline_store == "postgres":
            # The same rows, loaded into a warehouse table of the view's name (features/warehouse.py).
            from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource

            source: Any = PostgreSQLSource(name=f"{view}_source", table=view, timestamp_field=EVENT_TIMESTAMP)
        else:
            source = FileSource(
                name=f"{view}_source",
                path=source_glob(settings.lake_dir, view),
                file_format=ParquetFormat(),
                timestamp_field=EVENT_TIMESTAMP,
            )
        # A feature view: features of one entity from one source, with a validity window (ttl).
        views.append(
            FeatureView(
                name=view,
                entities=[entities[key]],
                ttl=VIEW_TTL[view],
                schema=[Field(name=name, dtype=Float64) for name in names],
                source=source,
                online=True,
                description=VIEW_DESCRIPTIONS[view],
            )
        )

    # A feature service is the named set of features one model consumes: training and serving
    # both ask for it by name, so they cannot drift apart. The version tag is a hash of the
    # feature references; the model records it too.
    service = FeatureService(
        name=settings.feature_service,
        features=[*views],
        description="Everything the flight-delay model reads from the feature store.",
        tags={"version": contract.feature_service_version()},
    )
    return [*entities.values(), *views, service]
