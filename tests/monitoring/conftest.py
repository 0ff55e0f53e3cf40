"""Synthetic training-set-shaped frames for the monitoring tests (no lake, no Feast: fast)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from features.contract import CATEGORICAL_FEATURES, LABEL, MODEL_INPUTS, NUMERIC_FEATURES

# Plausible scale per numeric input: (mean, std). Only the scale matters to the drift tests.
_NUMERIC_SCALE: dict[str, tuple[float, float]] = {
    "wx_temp": (40.0, 10.0),
    "wx_dewp": (25.0, 10.0),
    "wx_humid": (60.0, 15.0),
    "wx_wind_speed": (10.0, 4.0),
    "wx_wind_gust": (25.0, 5.0),
    "wx_precip": (0.01, 0.005),
    "wx_pressure": (1018.0, 7.0),
    "wx_visib": (9.0, 1.0),
    "plane_year": (2000.0, 8.0),
    "plane_seats": (150.0, 60.0),
    "plane_engines": (2.0, 0.1),
    "carrier_delay_rate_7d": (0.2, 0.05),
    "carrier_flights_7d": (800.0, 200.0),
    "origin_dep_delay_2h": (8.0, 20.0),
    "origin_backlog_2h": (4.0, 3.0),
    "route_delay_rate_14d": (0.2, 0.08),
    "route_flights_14d": (150.0, 80.0),
    "origin_sched_departures_hour": (20.0, 8.0),
    "sched_hour": (13.0, 4.0),
    "sched_weekday": (3.0, 2.0),
    "sched_month": (2.0, 0.8),
    "days_to_holiday": (15.0, 8.0),
}
_CATEGORIES: dict[str, tuple[str, ...]] = {
    "carrier": ("UA", "B6", "EV", "DL", "AA", "MQ"),
    "origin": ("EWR", "JFK", "LGA"),
    "dest": ("ATL", "ORD", "LAX", "BOS", "MCO", "SJU"),
}
assert set(_NUMERIC_SCALE) == set(NUMERIC_FEATURES) and set(_CATEGORIES) == set(CATEGORICAL_FEATURES)

FrameFactory = Callable[..., pd.DataFrame]


def make_frame(
    n: int,
    seed: int,
    *,
    start: dt.date = dt.date(2013, 1, 1),
    n_days: int = 10,
    shift: dict[str, float] | None = None,
    label_rate: float = 0.2,
    origin_probs: tuple[float, ...] | None = None,
) -> pd.DataFrame:
    """n rows over n_days consecutive days; `shift` adds a constant to the named numeric columns."""
    rng = np.random.default_rng(seed)
    shift = shift or {}
    df = pd.DataFrame({c: rng.normal(mean, std, n) + shift.get(c, 0.0) for c, (mean, std) in _NUMERIC_SCALE.items()})
    # Missing values like the real set: no plane profile for ~15% of flights, gusts mostly unreported.
    df.loc[rng.random(n) < 0.15, ["plane_year", "plane_seats", "plane_engines"]] = np.nan
    df.loc[rng.random(n) < 0.7, "wx_wind_gust"] = np.nan
    for c, values in _CATEGORIES.items():
        p = origin_probs if c == "origin" and origin_probs else None
        df[c] = rng.choice(values, n, p=p).astype(object)
    labels = (rng.random(n) < label_rate).astype(float)
    labels[rng.random(n) < 0.1] = np.nan  # not known yet, or cancelled
    df[LABEL] = labels
    days = [start + dt.timedelta(days=int(i)) for i in rng.integers(0, n_days, n)]
    df["day"] = days
    df["sched_dep_utc"] = pd.to_datetime([d.isoformat() for d in days], utc=True) + pd.to_timedelta(
        rng.integers(10, 24, n), unit="h"
    )
    assert all(c in df.columns for c in MODEL_INPUTS)
    return df


@pytest.fixture(scope="session")
def frame_factory() -> FrameFactory:
    return make_frame
