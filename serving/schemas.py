"""Request and response bodies. Validation lives here, so the routers stay thin.

The one subtle field is the scheduled departure: a New York wall-clock time. Two wall times a
year are special: 02:00-02:59 on the spring-forward day does not exist (422), and 01:00-01:59 on
the fall-back day happens twice (we take the first, EDT, unless an explicit offset says otherwise).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from features import contract
from flightpath.settings import DATA_FIRST_DAY, DATA_LAST_DAY, LOCAL_TZ, ORIGINS

NEW_YORK = ZoneInfo(LOCAL_TZ)
assert ORIGINS == ("EWR", "JFK", "LGA")  # the Literal below must list the same airports


def to_new_york(value: dt.datetime) -> dt.datetime:
    """A request's departure as an aware New York datetime. Raises ValueError (-> 422).

    Naive: local wall time; nonexistent -> error, ambiguous -> first occurrence (fold=0).
    Aware: must carry New York's own offset at that instant (so it names the same wall time).
    """
    # The range first: a wall date outside it can be refused as it stands, and near the ends of the
    # calendar (9999-12-31T23:00) the conversion to UTC below would overflow.
    if not DATA_FIRST_DAY <= value.date() <= DATA_LAST_DAY:
        raise ValueError(f"the model covers departures from {DATA_FIRST_DAY} to {DATA_LAST_DAY}")
    if value.tzinfo is None:
        local = value.replace(tzinfo=NEW_YORK, fold=0)
        # A wall time in the spring-forward gap does not survive a round trip through UTC.
        back = local.astimezone(dt.UTC).astimezone(NEW_YORK)
        if back.replace(tzinfo=None) != value:
            raise ValueError(f"{value.isoformat()} does not exist in {LOCAL_TZ} (clocks jump forward that night)")
    else:
        try:
            local = value.astimezone(NEW_YORK)
        except OverflowError:  # e.g. 0001-01-01T00:00+14:00: before year 1 in UTC (found by fuzzing)
            raise ValueError(f"{value.isoformat()} is out of range") from None
        if local.replace(tzinfo=None) != value.replace(tzinfo=None):
            raise ValueError(
                f"{value.isoformat()}: {LOCAL_TZ} was at {local.isoformat()[-6:]} then; "
                "send local New York time without an offset, or with the correct one"
            )
    if not DATA_FIRST_DAY <= local.date() <= DATA_LAST_DAY:
        raise ValueError(f"the model covers departures from {DATA_FIRST_DAY} to {DATA_LAST_DAY}")
    return local


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _printable(value: str) -> str:
    """Refuse control characters and lone surrogates: never part of a code or a tail number, and
    trouble downstream of the prediction log (UTF-8 cannot encode a lone surrogate; PostgreSQL's
    jsonb and text refuse NUL), so they get a clear 422 here instead."""
    if not value.isprintable():
        raise ValueError("only printable characters are allowed")
    return value


# float32 is what the model reads: a larger number would become infinity inside the graph.
FLOAT32_MAX = float(np.finfo(np.float32).max)

Code = Annotated[str, BeforeValidator(_upper), Field(min_length=2, max_length=8, pattern=r"^[A-Z0-9]+$")]
Origin = Annotated[Literal["EWR", "JFK", "LGA"], BeforeValidator(_upper)]
LocalDeparture = Annotated[dt.datetime, AfterValidator(to_new_york)]

FLIGHT_EXAMPLE: dict[str, Any] = {
    "carrier": "UA",
    "flight": 1545,
    "tailnum": "N14228",
    "origin": "EWR",
    "dest": "IAH",
    "sched_dep_local": "2013-01-01T05:15:00",
}


class FlightRequest(BaseModel):
    """A flight as a traveller knows it; the service fetches its features online."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [FLIGHT_EXAMPLE]})

    carrier: Code = Field(description="Two-letter carrier code, e.g. UA")
    flight: int = Field(ge=1, le=9999, description="Flight number")
    tailnum: Annotated[str, BeforeValidator(_upper), Field(max_length=10), AfterValidator(_printable)] | None = Field(
        None, description="Tail number if known; plane features are missing without it"
    )
    origin: Origin = Field(description="Departure airport: one of EWR, JFK, LGA")
    dest: Code = Field(description="Destination airport (FAA code)")
    sched_dep_local: LocalDeparture = Field(
        description="Scheduled departure, New York local wall time, ISO 8601 without offset "
        "(or with New York's offset at that time), within 2013"
    )


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"flights": [FLIGHT_EXAMPLE]}]})

    flights: list[FlightRequest] = Field(min_length=1, max_length=1000)


class ModelRef(BaseModel):
    name: str
    version: str


class Prediction(BaseModel):
    probability: float = Field(description="P(departure delay >= 15 min)")
    delayed: bool = Field(description="probability >= threshold")
    threshold: float
    model: ModelRef
    missing_features: list[str] = Field(description="Features the model imputed for this flight")
    degraded: bool = Field(description="True when the online store could not be read (all store features imputed)")
    unknown_categories: list[str] = Field(
        default_factory=list,
        description="Categorical inputs (carrier, origin, dest) whose value the model never saw in "
        "training: answered through its unknown bucket",
    )
    stale_views: list[str] = Field(
        default_factory=list,
        description="Feature views whose stored value is older than the view's TTL at prediction time "
        "(scheduled departure minus the horizon); their values were still used",
    )
    request_id: str


class BatchPrediction(BaseModel):
    predictions: list[Prediction]
    request_id: str


def _score_example() -> dict[str, Any]:
    example: dict[str, Any] = {name: None for name in contract.STORE_FEATURES}
    example.update({"wx_temp": 39.0, "wx_visib": 10.0, "carrier_delay_rate_7d": 0.21})
    example.update({"sched_hour": 5.25, "sched_weekday": 1.0, "sched_month": 1.0, "days_to_holiday": 0.0})
    example.update({"carrier": "UA", "origin": "EWR", "dest": "IAH"})
    return example


# Raw model inputs, one field per name in contract.MODEL_INPUTS, generated from the contract so
# the two can never drift apart. Every field is required; numbers may be null (= missing, NaN).
ScoreRequest = create_model(  # type: ignore[call-overload]
    "ScoreRequest",
    __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [_score_example()]}),
    __doc__="Raw model inputs (contract.MODEL_INPUTS): for clients that bring their own features.",
    **{
        name: (
            float | None,
            Field(
                description="numeric feature; null = missing",
                allow_inf_nan=False,
                ge=-FLOAT32_MAX,
                le=FLOAT32_MAX,
            ),
        )
        for name in contract.NUMERIC_FEATURES
    },
    **{
        name: (Annotated[str, Field(min_length=1, max_length=16), AfterValidator(_printable)], ...)
        for name in contract.CATEGORICAL_FEATURES
    },
)


class ScoreResponse(BaseModel):
    probability: float
    delayed: bool
    threshold: float
    model: ModelRef
    unknown_categories: list[str] = Field(
        default_factory=list, description="Categorical inputs whose value the model never saw in training"
    )
    request_id: str


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str | None
    threshold: float
    train_window: str | None
    feature_service: str | None
    feature_service_version: str | None
    sha256: str
    source: str = Field(description="'registry' or 'local' (started from the local copy, MLflow down)")
    loaded_at: dt.datetime
    stand_in_for: str | None = Field(
        None, description="set when this model answers in place of the registry's champion: that champion's version"
    )
    stand_in_reason: str | None = Field(
        None, description="why the champion is not served (download failed, refused, registry down at start-up)"
    )
    inputs: list[str]
    metadata: dict[str, str]
