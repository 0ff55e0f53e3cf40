"""Helpers for training tests: a synthetic training frame shaped like features.training_set.

A uniquely named module (not conftest.py): with several conftest.py files in the tree,
`from conftest import ...` resolves to whichever was imported first.

The label depends on a few features (snow = cold and wet, visibility, an evening peak, the
carrier, recent carrier delays), so a model that learns shows it in its AUC; NaNs and a rare
destination exercise imputation and the out-of-vocabulary bucket. Building it takes
milliseconds; no lake or Feast needed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES
from flightpath.settings import Settings

CARRIERS = ("9E", "AA", "B6", "DL", "EV", "MQ", "UA", "US", "WN")
CARRIER_EFFECT = {"EV": 0.8, "9E": 0.5, "B6": 0.3, "DL": -0.6, "AA": -0.3}  # log-odds; others 0
ORIGINS = ("EWR", "JFK", "LGA")
DESTS = ("ATL", "BOS", "CLT", "DFW", "FLL", "LAX", "MCO", "MIA", "ORD", "SFO", "SJU")  # + a rare one
START = dt.date(2013, 1, 1)


def synthetic_training_frame(
    days: int = 30, flights_per_day: int = 300, seed: int = 0, start: dt.date = START
) -> pd.DataFrame:
    """A frame with the columns of features.training_set and a learnable label.

    Args:
        days: consecutive local days from `start`.
        flights_per_day: rows per day (about 1% cancelled, unlabelled).
        seed: numpy seed (the frame is a pure function of the arguments).
    Returns:
        Flight key columns, event_timestamp, dep_delay, cancelled, LABEL, then MODEL_INPUTS.
    """
    rng = np.random.default_rng(seed)
    n = days * flights_per_day
    day_index = np.repeat(np.arange(days), flights_per_day)
    minutes = rng.integers(5 * 60, 23 * 60, n)
    local = pd.to_datetime([start] * n) + pd.to_timedelta(day_index, "D") + pd.to_timedelta(minutes, "min")
    local_aware = local.tz_localize("America/New_York")
    carrier = rng.choice(CARRIERS, n)
    dest = rng.choice(DESTS, n)
    dest[rng.random(n) < 0.002] = "PSE"  # rare: below MIN_CATEGORY_COUNT, so it trains the OOV row

    f: dict[str, np.ndarray] = {
        "wx_temp": rng.normal(35, 10, n),
        "wx_dewp": rng.normal(20, 8, n),
        "wx_humid": rng.uniform(30, 100, n),
        "wx_wind_speed": rng.gamma(2, 5, n),
        "wx_wind_gust": rng.gamma(2, 7, n),
        "wx_precip": np.where(rng.random(n) < 0.15, rng.exponential(0.1, n), 0.0),
        "wx_pressure": rng.normal(1015, 8, n),
        "wx_visib": np.clip(10 - rng.exponential(1.5, n), 0, 10),
        "plane_year": rng.integers(1985, 2013, n).astype(float),
        "plane_seats": rng.choice([20, 55, 149, 200], n),
        "plane_engines": rng.choice([1, 2], n, p=[0.05, 0.95]),
        "carrier_delay_rate_7d": rng.beta(2, 7, n),
        "carrier_flights_7d": rng.integers(50, 900, n).astype(float),
        "origin_dep_delay_2h": rng.normal(8, 20, n),
        "origin_backlog_2h": rng.poisson(4, n).astype(float),
        "route_delay_rate_14d": rng.beta(2, 7, n),
        "route_flights_14d": rng.integers(10, 400, n).astype(float),
        "origin_sched_departures_hour": rng.integers(1, 45, n).astype(float),
        "sched_hour": local.hour + local.minute / 60.0,
        "sched_weekday": local.weekday.to_numpy(),
        "sched_month": local.month.to_numpy(),
        "days_to_holiday": np.minimum(day_index, 20),
    }
    origin = rng.choice(ORIGINS, n)
    # Non-linear on purpose (snow = cold AND wet, an evening peak, one carrier bad at one airport):
    # logistic regression cannot represent these, so the MLP has something to beat the baseline with.
    snow = (f["wx_temp"] < 32) & (f["wx_precip"] > 0)
    logit = (
        -1.6
        + 2.5 * snow
        - 0.2 * (f["wx_visib"] - 10)
        - 0.03 * (f["sched_hour"] - 18) ** 2
        + 3.0 * (f["carrier_delay_rate_7d"] - 0.22)
        + np.vectorize(CARRIER_EFFECT.get)(carrier, 0.0)
        + 1.2 * ((carrier == "EV") & (origin == "EWR"))
    )
    delayed = rng.random(n) < 1 / (1 + np.exp(-logit))
    cancelled = rng.random(n) < 0.01
    dep_delay = np.where(delayed, rng.integers(15, 180, n), rng.integers(-10, 15, n)).astype(float)
    dep_delay[cancelled] = np.nan

    for name in ("wx_temp", "wx_dewp", "wx_humid", "wx_wind_gust", "wx_visib"):
        f[name] = np.where(rng.random(n) < 0.05, np.nan, f[name])  # weather gaps
    no_plane = np.isin(carrier, ("AA", "MQ"))  # as in the real data: their planes are missing
    for name in ("plane_year", "plane_seats", "plane_engines"):
        f[name] = np.where(no_plane, np.nan, f[name])

    sched_dep_utc = local_aware.tz_convert("UTC")
    frame = pd.DataFrame(
        {
            "carrier": carrier,
            "flight": rng.integers(1, 6000, n),
            "origin": origin,
            "dest": dest,
            "tailnum": [f"N{i:05d}" for i in rng.integers(0, 3000, n)],
            "sched_dep_utc": sched_dep_utc,
            "sched_dep_local": local,
            "day": [d.isoformat() for d in local.date],
            "event_timestamp": sched_dep_utc - pd.Timedelta(hours=2),
            "dep_delay": dep_delay,
            "cancelled": cancelled,
            LABEL: np.where(cancelled, np.nan, delayed.astype(float)),
        }
    )
    for name in NUMERIC_FEATURES:
        frame[name] = np.asarray(f[name], dtype=float)
    for name in CATEGORICAL_FEATURES:
        frame[name] = frame[name].astype(str)
    # Shuffle rows: the split must not rely on the input being sorted.
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return frame


def training_settings(home: Path, **overrides: object) -> Settings:
    """Fast training settings with every path under `home` (MLflow SQLite + artifacts included)."""
    base: dict[str, object] = {
        "home": home,
        "monitor_days": 4,
        "validation_days": 4,
        "epochs": 4,
        "batch_size": 256,
        "learning_rate": 5e-3,
        "hidden_units": 32,
        "ensemble_size": 1,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]
