"""`make tour`: the stages in order, each with its real artifact, its note and where to look.

    flightpath tour            # runs the demo first if this home has none, then walks it

A stop is built by a pure-ish function that reads what the demo left in the home (the lake, the
Feast online store, the MLflow registry, the run summary) and returns text; `flightpath tour`
only prints them. Nothing here trains or writes: the one live action is the prediction, from the
service started as `make serve` starts it and stopped again.

Each stop quotes the five-line summary that opens the stage's NOTES.md, so the tour and the notes
cannot drift apart (tests/pipelines/test_tour.py checks every note has one).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from flightpath import lake
from flightpath.artifact import TAG_SHA256
from flightpath.registry_access import registry_client
from flightpath.settings import Settings
from pipelines import demo, steps

ROOT = Path(__file__).resolve().parent.parent
SUMMARY_LINES = 5


@dataclass(frozen=True)
class Stop:
    """One stage of the tour: what it made, what its note says, where to look at it."""

    title: str
    note: str  # the stage's NOTES.md, relative to the repository
    artifact: list[str]
    look: list[str] = field(default_factory=list)

    def render(self, number: int) -> str:
        excerpt = note_summary(ROOT / self.note)
        lines = [f"{number}. {self.title}", "", "   What it made (read from this home just now):"]
        lines += [f"     {line}" for line in self.artifact]
        lines += ["", f"   What it teaches ({self.note}):"] + [f"     {line}" for line in excerpt]
        if self.look:
            lines += ["", "   Where to look:"] + [f"     {line}" for line in self.look]
        return "\n".join(lines) + "\n"


def note_summary(path: Path) -> list[str]:
    """The five-line summary that opens a NOTES.md: the first list after its title.

    Raises:
        ValueError: the note does not open with a five-item list (the tour would show nothing).
    """
    lines = path.read_text().splitlines()
    body = [ln for ln in lines[1:] if ln.strip()]
    items: list[str] = []
    for ln in body:
        if ln.startswith(("- ", "* ")):
            items.append(ln[2:].strip())
        elif items and ln.startswith("  "):  # a wrapped item
            items[-1] += " " + ln.strip()
        else:
            break
    items = [re.sub(r"\s*<!-- fig:[\w.]+ -->", "", item) for item in items]  # citation markers
    if len(items) != SUMMARY_LINES:
        raise ValueError(
            f"{path.parent.name}/{path.name} should open with a {SUMMARY_LINES}-line summary list, "
            f"found {len(items)} lines"
        )
    return items


def _rows(path: Path) -> int:
    return int(pq.read_metadata(path).num_rows)


def lake_stop(settings: Settings, summary: dict[str, Any]) -> Stop:
    """Partition counts per zone, and a quarantined row (a real one, or a real row made invalid)."""
    from pipelines.ingest import validate

    artifact = [f"lake: {demo.relative(settings.lake_dir)}"]
    for zone in lake.ZONES:
        for dataset in ("flights", "weather"):
            days = lake.available_days(settings.lake_dir, zone, dataset)
            if days:
                rows = sum(_rows(lake.partition_file(settings.lake_dir, zone, dataset, d)) for d in days)
                artifact.append(f"{zone:<10} {dataset:<8} {len(days):>4} daily partitions, {rows:>7,} rows")
    quarantined = [
        path
        for d in lake.available_days(settings.lake_dir, "quarantine", "flights")
        if _rows(path := lake.partition_file(settings.lake_dir, "quarantine", "flights", d))
    ]
    if quarantined:
        row = pd.read_parquet(quarantined[0]).iloc[0]
        where = quarantined[0].parent.name
        artifact += [f"a quarantined row ({where}): reason {row['reason']!r}", f"  {_row_text(row)}"]
    else:
        # Nothing of this window broke a rule: show the rules at work on a real row made wrong,
        # in memory (the lake is not touched).
        day = dt.date.fromisoformat(summary["window"]["end"])
        raw = pd.read_parquet(lake.partition_file(settings.lake_dir, "raw", "flights", day)).head(1).copy()
        raw["distance"] = "-" + raw["distance"].astype(str)
        carriers = set(pd.read_parquet(lake.dimension_file(settings.lake_dir, "carriers"))["carrier"])
        result = validate.validate_flights(raw, day, carriers)
        row = result.quarantine.iloc[0]
        artifact += [
            "no row of this window broke a rule; a real row of "
            f"{day} with its distance made negative, through the same rules:",
            f"  quarantined, reason {row['reason']!r}: {_row_text(row)}",
        ]
    return Stop(
        "Ingest and validate: a daily, partitioned, idempotent lake",
        "pipelines/NOTES.md",
        artifact,
        [
            "Airflow: make airflow, http://127.0.0.1:8080, DAG flightpath_demo (or flightpath_daily), Grid view,",
            "  task ingest -> Logs (user admin, password printed by make airflow)",
            f"the partitions: ls {demo.relative(settings.lake_dir)}/curated/flights | head",
        ],
    )


def _row_text(row: pd.Series) -> str:
    keys = ("carrier", "flight", "origin", "dest", "year", "month", "day", "sched_dep_time", "distance")
    return ", ".join(f"{k}={row[k]}" for k in keys if k in row.index)


def features_stop(settings: Settings, flight: dict[str, Any]) -> Stop:
    """One flight's feature vector from Feast's online store, with each view's event timestamp."""
    from features.feast_online import OnlineFeatureReader
    from features.keys import entity_keys

    keys = entity_keys(
        flight["origin"],
        flight["dest"],
        flight["tailnum"],
        flight["carrier"],
        dt.datetime.fromisoformat(flight["sched_dep_local"]),
    )
    (got,) = OnlineFeatureReader(settings).read([dict(keys)])
    artifact = [
        f"flight {flight['carrier']}{flight['flight']} {flight['origin']}->{flight['dest']} "
        f"scheduled {flight['sched_dep_local']} (local)",
        f"entity keys: {json.dumps(keys)}",
        "values known at each view's event timestamp (UTC):",
    ]
    artifact += [f"  {view:<22} {ts.isoformat() if ts else 'none'}" for view, ts in got.event_timestamps.items()]
    shown = list(got.values.items())[:8]
    artifact += ["features (first 8 of " + f"{len(got.values)}):"]
    artifact += [f"  {name:<30} {'missing' if v is None else round(v, 4)}" for name, v in shown]
    if got.missing:
        artifact.append(f"missing (the model's graph imputes them): {', '.join(got.missing)}")
    return Stop(
        "Features: point-in-time correct offline, fresh online",
        "features/NOTES.md",
        artifact,
        [
            "the definitions: features/feature_repo/ (views, entities, the flight_delay_v1 service)",
            f"the online store: {settings.online_store} ({demo.relative(settings.feast_dir)})",
            "Airflow: task features -> Logs (apply, materialize)",
        ],
    )


def registry_stop(settings: Settings, summary: dict[str, Any]) -> Stop:
    """The MLflow run behind the champion and the aliases, read from the registry itself."""
    look = [
        f"MLflow: make mlflow-ui, http://127.0.0.1:5000, Model training: experiment {settings.experiment_name}",
        f"  -> the run (params, metrics, model_card.md); Models -> {settings.model_name} -> aliases and tags",
    ]
    title = "Training and the registry: a tracked run, honest baselines, a gated alias"
    promote = summary["steps"].get("promote", {})
    if not demo.has_champion(summary):
        return Stop(title, "training/NOTES.md", [f"no champion: the gate said {promote.get('reason')!r}"], look)
    client = registry_client(settings.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias(settings.model_name, "champion")
    run = client.get_run(champion.run_id)
    m = run.data.metrics
    train = summary["steps"]["train"]
    artifact = [
        f"model {settings.model_name} version {champion.version} @champion, run {champion.run_id}",
        f"  test ROC-AUC {m['test_auc']:.4f} (95% CI {m['test_auc_ci_low']:.4f}..{m['test_auc_ci_high']:.4f}) "
        f"on {train['split']['test_start']}..{train['split']['test_end']}",
        f"  gate: {champion.tags.get('gate.reason', 'no gate tag')}",
        f"  sha256 {champion.tags.get(TAG_SHA256, '?')[:16]}... (checked before serving loads it)",
        "against the baselines (paired bootstrap on the same test rows):",
        *[f"  {s}" for s in train.get("comparison_sentences", [])],
    ]
    return Stop(title, "training/NOTES.md", artifact, look)


def serving_stop(settings: Settings, flight: dict[str, Any]) -> Stop:
    """A live prediction: the service started as `make serve` starts it, asked once, stopped."""
    served = demo.serve_and_predict(settings, flight)
    body = served["response"]
    return Stop(
        "Serving: online features, ONNX Runtime, a logged answer",
        "serving/NOTES.md",
        [
            f"POST {served['url']}/v1/predict {json.dumps(flight)}",
            f"  probability {body['probability']:.4f}, delayed={body.get('delayed')}, "
            f"model v{body['model']['version']}, degraded={body['degraded']}",
            f"  request id {body.get('request_id', '?')}: the row the prediction log keeps for it",
        ],
        [
            "make serve, then http://127.0.0.1:8000/docs (try /v1/predict), /readyz, /metrics",
            "make up: Grafana http://127.0.0.1:3000, dashboard 'flightpath serving' (rate, latency, errors)",
        ],
    )


def monitoring_stop(settings: Settings, summary: dict[str, Any]) -> Stop:
    """Drift and quality figures of the demo's monitoring step."""
    mon = summary["steps"]["monitor"]
    w = mon["windows"]
    scores = sorted(mon.get("drift_scores", {}).items(), key=lambda kv: -kv[1])[:5]
    labels = mon.get("label_rate", {})
    artifact = [
        f"reference {w['reference_start']}..{w['reference_end']} ({mon['reference_rows']:,} rows) vs "
        f"current {w['current_start']}..{w['current_end']} ({mon['current_rows']:,} rows)",
        f"drift share {mon['drift_share']:.2f}: {mon['drifted_count']} of {mon['n_columns']} inputs drifted "
        f"(alert at {mon['alert_share']:.2f})",
        "largest drift scores: " + ", ".join(f"{k} {v:.2f}" for k, v in scores),
        "label rate (share delayed): reference {:.3f}, current {:.3f}".format(
            labels.get("reference", {}).get("rate", float("nan")), labels.get("current", {}).get("rate", float("nan"))
        ),
    ]
    return Stop(
        "Monitoring: drift, quality, and when to retrain",
        "monitoring/NOTES.md",
        artifact,
        [
            f"this drift report: {demo.relative(settings.reports_dir)}/drift/ (HTML, open it in a browser)",
            "a day's verdict: make monitor-day DAY=<a day of the window>, then make evidently-ui,",
            "  http://127.0.0.1:8001, project 'flightpath monitoring' (input and prediction drift per day)",
            "make up: Grafana http://127.0.0.1:3000, dashboard 'flightpath monitoring' (drift share, the verdict)",
        ],
    )


def stops(settings: Settings, serve: bool = True) -> list[Callable[[], Stop]]:
    """The tour's stops in stage order, each built when it is shown (the prediction starts a server)."""
    summary = json.loads(steps.summary_path(settings).read_text())
    flight = demo.sample_flight(settings, dt.date.fromisoformat(summary["window"]["end"]))
    tour: list[Callable[[], Stop]] = [
        lambda: lake_stop(settings, summary),
        lambda: features_stop(settings, flight),
        lambda: registry_stop(settings, summary),
    ]
    if serve and demo.has_champion(summary):
        tour.append(lambda: serving_stop(settings, flight))
    tour.append(lambda: monitoring_stop(settings, summary))
    return tour
