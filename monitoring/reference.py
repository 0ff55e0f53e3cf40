"""The champion monitoring judges, and its reference: the rows it was trained on, scored by it.

    champ = current_champion(settings)                 # version, threshold, test ROC-AUC, train window, ONNX bytes
    ref = reference_frame(settings, champ)             # its training window's model inputs + its own scores

Drift is measured against the model's own training window, not against last week: an alert then
says "the model now sees inputs unlike the ones it learned from", which is the question that can be
acted on (monitoring/NOTES.md). The reference scores are the champion's answers on those rows, so
prediction drift compares like with like. Both are cached per version under
<reports_dir>/monitoring/reference/ (a day's run then takes seconds).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import CATEGORICAL_FEATURES, MODEL_INPUTS, NUMERIC_FEATURES
from flightpath import lake
from flightpath.artifact import (
    CHAMPION,
    OUTPUT_NAME,
    TAG_SHA256,
    TAG_THRESHOLD,
    TAG_TRAIN_WINDOW,
    new_session,
    sha256_hex,
)
from flightpath.atomic import write_parquet
from flightpath.registry_access import download_version, registry_client
from flightpath.settings import Settings, days_between


class NoChampionToMonitor(RuntimeError):
    """The registry has no champion (nothing was promoted yet): there is no model to judge."""


@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    threshold: float
    test_auc: float | None
    train_window: tuple[dt.date, dt.date]
    model: bytes = field(repr=False)


def parse_window(text: str) -> tuple[dt.date, dt.date]:
    """ "2013-01-01..2013-03-03" -> (date, date)."""
    try:
        first, last = text.split("..")
        return dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError:
        raise ValueError(f"train window {text!r} is not 'YYYY-MM-DD..YYYY-MM-DD'") from None


def current_champion(settings: Settings) -> Champion:
    """The registry's champion with its verified ONNX bytes. Raises NoChampionToMonitor."""
    from mlflow.exceptions import MlflowException

    client = registry_client(settings.mlflow_tracking_uri)
    try:
        mv = client.get_model_version_by_alias(settings.model_name, CHAMPION)
    except MlflowException as exc:
        raise NoChampionToMonitor(f"no {CHAMPION!r} of {settings.model_name!r}: {exc.message}") from exc
    tags = dict(mv.tags or {})
    with tempfile.TemporaryDirectory(prefix="flightpath-monitor-") as tmp:
        data = download_version(settings.mlflow_tracking_uri, settings.model_name, mv.version, Path(tmp)).read_bytes()
    if sha256_hex(data) != tags.get(TAG_SHA256, "").lower():
        raise RuntimeError(f"{settings.model_name} v{mv.version}: downloaded model.onnx does not match its sha256 tag")
    return Champion(
        name=settings.model_name,
        version=str(mv.version),
        threshold=float(tags[TAG_THRESHOLD]),
        test_auc=float(tags["test_auc"]) if tags.get("test_auc") else None,
        train_window=parse_window(tags[TAG_TRAIN_WINDOW]),
        model=data,
    )


def score(model: bytes, frame: pd.DataFrame) -> np.ndarray:
    """The ONNX model's probabilities for a frame with every model input (NaN = missing)."""
    session = new_session(model)
    feeds: dict[str, np.ndarray] = {name: frame[name].to_numpy(dtype=np.float32) for name in NUMERIC_FEATURES}
    for name in CATEGORICAL_FEATURES:
        feeds[name] = frame[name].astype(object).where(frame[name].notna(), "").astype(str).to_numpy(dtype=object)
    (probability,) = session.run([OUTPUT_NAME], feeds)
    return np.asarray(probability, dtype=np.float64).reshape(-1)


def _training_rows(settings: Settings, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The train window's rows, from a saved training frame that covers it, else rebuilt."""
    for path in sorted((settings.lake_dir / "training_sets").glob("*_*.parquet")):
        start, end = (dt.date.fromisoformat(p) for p in path.stem.split("_"))
        if start <= first and last <= end:
            frame = pd.read_parquet(path)
            days = pd.to_datetime(frame["day"]).dt.date
            return frame[(days >= first) & (days <= last)].reset_index(drop=True)
    from features.training_set import training_set  # the point-in-time join: tens of seconds

    return training_set(settings, days_between(first, last))


def reference_file(settings: Settings, champ: Champion) -> Path:
    return settings.reports_dir / "monitoring" / "reference" / f"{champ.name}_v{champ.version}.parquet"


def reference_frame(settings: Settings, champ: Champion) -> pd.DataFrame:
    """Model inputs of the champion's training window plus `probability` (its answers), cached."""
    path = reference_file(settings, champ)
    if path.exists():
        return pd.read_parquet(path)
    frame = _training_rows(settings, *champ.train_window)
    if frame.empty:
        raise ValueError(f"no training rows for {champ.name} v{champ.version}'s window {champ.train_window}")
    keep = [c for c in ("day", "delayed", *MODEL_INPUTS) if c in frame.columns]
    ref = frame[keep].copy()
    ref["probability"] = score(champ.model, ref)
    write_parquet(ref, path)
    return ref


def lake_flights(settings: Settings, days: list[dt.date]) -> pd.DataFrame:
    """Curated flights of the days that have been ingested (a day not ingested yet has no outcomes)."""
    have = set(lake.available_days(settings.lake_dir, "curated", "flights"))
    present = [d for d in days if d in have]
    if not present:
        return pd.DataFrame()
    return lake.read_partitions(settings.lake_dir, "curated", "flights", present)
