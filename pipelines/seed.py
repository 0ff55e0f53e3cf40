"""Seed an empty deployment: a champion in the registry and the online store filled, once.

    flightpath seed --start 2013-01-01 --end 2013-01-28     # the Kubernetes `seed` Job runs this

A fresh cluster (k8s/) has an MLflow with no model and a Redis with no features, so its serving pods
stay unready. This is the demo's pipeline without Airflow, against whatever the settings point at
(in the cluster: MLflow, Redis and PostgreSQL services): ingest the window, build features and
materialize them, train, register, promote. Run again it does nothing: a champion exists.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from flightpath.settings import Settings


def seed(settings: Settings, start: dt.date, end: dt.date) -> dict[str, Any]:
    """A champion trained on [start, end] and the online store as it stands at the end of `end`,
    unless a champion exists already (then nothing is touched: `seeded` is False)."""
    from pipelines.replay import ensure_initial_champion

    t0 = time.perf_counter()
    champion = ensure_initial_champion(settings, start, end)
    return {
        "window": [start.isoformat(), end.isoformat()],
        "seeded": champion["trained"],
        "champion": champion["version"],
        "test_auc": champion.get("test_auc"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
