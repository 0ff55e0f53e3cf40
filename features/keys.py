"""Entity keys: the one place that turns a flight into the join keys the feature views use.

    entity_keys("JFK", "LAX", "N619AA", "AA", dt.datetime(2013, 1, 5, 8, 30))
    -> {"origin": "JFK", "tailnum": "N619AA", "carrier": "AA",
        "route": "JFK-LAX", "origin_hour": "JFK|2013-01-05T08"}

The training set's entity dataframe, the online reader and the feature-table builders all call
these functions, so a key written into the offline store is spelled exactly like the key a
request looks up. Composite keys are plain strings (Feast joins on one column per entity, and a
string is readable in a parquet file or a Redis dump). No heavy imports (no pandas, no Feast): serving imports this.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flightpath.settings import LOCAL_TZ

LOCAL_ZONE = ZoneInfo(LOCAL_TZ)
# Feast cannot look up a null entity value (it crashes sorting keys), so an absent tail number is
# sent as the empty string, which no plane has: the plane features come back missing.
NO_TAILNUM = ""


def route_key(origin: str, dest: str) -> str:
    """The route entity of a flight.

    Args:
        origin: departure airport code, e.g. "JFK".
        dest: arrival airport code, e.g. "LAX".
    Returns:
        "JFK-LAX". Airport codes never contain "-", so the key is unambiguous.
    """
    return f"{origin}-{dest}"


def local_wall_clock(sched_dep_local: dt.datetime) -> dt.datetime:
    """New York wall-clock time, naive.

    Args:
        sched_dep_local: naive New York wall time (as curated and as most requests give it), or
            any tz-aware time (converted to New York first).
    Returns:
        The naive wall-clock datetime. On the fall-back night both 01:30s map to 01:30: the
        schedule is published in wall-clock time, and that is what a traveller types.
    """
    if sched_dep_local.tzinfo is None:
        return sched_dep_local
    return sched_dep_local.astimezone(LOCAL_ZONE).replace(tzinfo=None)


def origin_hour_key(origin: str, sched_dep_local: dt.datetime) -> str:
    """The origin_hour entity: the origin and the local hour of the scheduled departure.

    Args:
        origin: departure airport code.
        sched_dep_local: scheduled departure, see `local_wall_clock`.
    Returns:
        "JFK|2013-01-05T08" (local date and hour, zero-padded, so keys sort in time order).
    """
    local = local_wall_clock(sched_dep_local)
    # Field by field rather than strftime: 5x faster, and the training set calls this per flight.
    return f"{origin}|{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}"


def entity_keys(
    origin: str, dest: str, tailnum: str | None, carrier: str, sched_dep_local: dt.datetime
) -> dict[str, str]:
    """Every join key the feature service needs for one flight (training and serving both call this).

    Args:
        origin: departure airport code.
        dest: arrival airport code.
        tailnum: tail number, or None/"" when unknown (sent as NO_TAILNUM: plane features missing).
        carrier: two-letter carrier code.
        sched_dep_local: scheduled departure, naive New York wall time or tz-aware.
    Returns:
        {"origin", "tailnum", "carrier", "route", "origin_hour"}: one value per join key in
        contract.VIEW_JOIN_KEYS, all strings.
    """
    return {
        "origin": origin,
        # isinstance, not truthiness: a missing tail number read from parquet is None, NaN or pd.NA.
        "tailnum": tailnum if isinstance(tailnum, str) and tailnum else NO_TAILNUM,
        "carrier": carrier,
        "route": route_key(origin, dest),
        "origin_hour": origin_hour_key(origin, sched_dep_local),
    }
