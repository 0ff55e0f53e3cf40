"""Materialization: copy the latest offline row per key into the online store.

    from features.materialize import materialize
    materialize(settings, start, end)     # explicit UTC datetimes, e.g. one local day

Explicit dates, never `materialize_incremental`: its first run looks back one TTL from the wall
clock, which for 2013 data finds nothing (docs/design.md, stack facts). After this, "now" for serving is `end`:
the online store answers with what was known then.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from features import contract
from features.store import PROJECT, feature_store, registry_writer
from features.tables import PLANE_SNAPSHOT_AT
from flightpath.settings import Settings

# Views whose rows are dated once, before the data starts: they are materialized from their
# snapshot time, or a 2013 interval would never contain them.
SNAPSHOT_VIEWS: dict[str, dt.datetime] = {"plane_profile": PLANE_SNAPSHOT_AT.to_pydatetime()}


def _utc(ts: dt.datetime) -> dt.datetime:
    if ts.tzinfo is None:
        raise ValueError(f"{ts} has no timezone; pass tz-aware UTC datetimes (a naive one is ambiguous)")
    return ts.astimezone(dt.UTC)


def materialize(settings: Settings, start: dt.datetime, end: dt.datetime, project: str = PROJECT) -> dict[str, Any]:
    """Load rows with event_timestamp in [start, end] into the online store (latest per key).

    Args:
        settings: the store to use.
        start: interval start, tz-aware.
        end: interval end, tz-aware; becomes the online store's "now".
        project: Feast project name.
    Returns:
        The interval per view (ISO strings) and the wall time taken in seconds.
    """
    start, end = _utc(start), _utc(end)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    t0 = time.perf_counter()
    store = feature_store(settings, project)
    intervals: dict[str, list[str]] = {}
    series_views = [v for v in contract.FEATURE_VIEWS if v not in SNAPSHOT_VIEWS]
    with registry_writer(settings):  # materialization records its interval in the registry
        store.materialize(start_date=start, end_date=end, feature_views=series_views)
        intervals.update({v: [start.isoformat(), end.isoformat()] for v in series_views})
        for view, snapshot_at in SNAPSHOT_VIEWS.items():
            store.materialize(start_date=min(start, snapshot_at), end_date=end, feature_views=[view])
            intervals[view] = [min(start, snapshot_at).isoformat(), end.isoformat()]
    return {"intervals": intervals, "seconds": round(time.perf_counter() - t0, 3)}
