"""Monitoring results as Prometheus metrics: a small HTTP service Prometheus scrapes.

    flightpath monitoring-exporter               # 127.0.0.1:8002 (FLIGHTPATH_MONITORING_EXPORTER_PORT)
    GET /metrics   the latest day's verdict on the champion, read from <reports_dir>/monitoring/*/summary.json
    GET /healthz   the process is up
    GET /readyz    the monitoring folder is readable (an empty one is ready: nothing monitored yet)

Monitoring runs once a day in Airflow, so there is no live process to instrument: the exporter reads
what the runs wrote at scrape time (a few kB of JSON). Every series describes the newest monitored
day; `flightpath_monitoring_last_day_timestamp_seconds` says which, so an alert can tell "no drift"
from "nobody monitored anything for a week". Rolling quality is the trailing window the decision
uses (settings.quality_window_days), with its 95% interval as `bound` = low | value | high.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from flightpath.settings import LOCAL_TZ, Settings

log = logging.getLogger(__name__)


def latest_summary(folder: Path) -> dict[str, Any] | None:
    """The summary of the newest monitored day (folders are named by day), or None."""
    for path in sorted(folder.glob("*/summary.json"), reverse=True):
        try:
            summary: dict[str, Any] = json.loads(path.read_text())
            return summary
        except (OSError, ValueError) as exc:  # a half-written or broken file: the day before answers
            log.warning("skipping unreadable %s: %s", path, exc)
    return None


def _day_timestamp(day: str) -> float:
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=ZoneInfo(LOCAL_TZ)).timestamp()


def families(summary: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
    """The metric families of one day's summary (pure: the tests call this)."""
    version = str(summary["model"]["version"])
    labels = ["model_version"]

    def gauge(name: str, doc: str, value: float | None, extra: dict[str, str] | None = None) -> GaugeMetricFamily:
        names = labels + list(extra or {})
        g = GaugeMetricFamily(f"flightpath_monitoring_{name}", doc, labels=names)
        if value is not None:
            g.add_metric([version, *(extra or {}).values()], float(value))
        return g

    yield gauge(
        "last_day_timestamp_seconds", "Local midnight starting the newest monitored day", _day_timestamp(summary["day"])
    )
    yield gauge("champion_test_auc", "The judged model's test ROC-AUC at promotion", summary["model"].get("test_auc"))
    yield gauge("flights", "Flights with an answer on the monitored day", summary["predictions"]["flights"])
    yield gauge(
        "retrain_recommended",
        "1 when the day's decision was to retrain",
        1.0 if summary["decision"]["retrain"] else 0.0,
    )
    yield gauge(
        "drift_alert",
        "1 when the inputs drifted on several days in a row (settings.drift_days_to_retrain)",
        1.0 if summary["decision"].get("drift_alert") else 0.0,
    )
    yield gauge(
        "quality_floor",
        "ROC-AUC under which (even at the top of its interval) the window counts as a quality drop",
        summary["model"].get("quality_floor"),
    )

    inputs = summary["drift"]["inputs"]
    tested = inputs.get("status") == "ok"
    yield gauge(
        "drift_share",
        "Share of model inputs that drifted against the training window",
        inputs.get("drift_share") if tested else None,
    )
    yield gauge(
        "drift_detected",
        "1 when the drift share reached the alert share",
        (1.0 if inputs.get("drift_detected") else 0.0) if tested else None,
    )
    scores = GaugeMetricFamily(
        "flightpath_monitoring_feature_drift_score",
        "Per-input drift score (method and threshold labelled; distances: higher = more drift, p-values: lower)",
        labels=[*labels, "feature", "method", "threshold"],
    )
    drifted = GaugeMetricFamily(
        "flightpath_monitoring_feature_drifted",
        "1 when Evidently's test flagged the input",
        labels=[*labels, "feature"],
    )
    if tested:
        flagged = set(inputs.get("drifted_columns", []))
        for feature, test in inputs.get("column_tests", {}).items():
            score = inputs.get("drift_scores", {}).get(feature)
            if score is not None:
                scores.add_metric([version, feature, str(test.get("method")), str(test.get("threshold"))], float(score))
            drifted.add_metric([version, feature], 1.0 if feature in flagged else 0.0)
    yield scores
    yield drifted

    answers = summary["drift"]["predictions"]
    rate = GaugeMetricFamily(
        "flightpath_monitoring_predicted_positive_rate",
        "Share answered 'delayed' at the served threshold: the day vs the training window",
        labels=[*labels, "window"],
    )
    if answers.get("status") == "ok":
        for window in ("current", "reference"):
            rate.add_metric([version, window], float(answers["positive_rate"][window]))
    yield rate

    for metric, doc in (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC (average precision)"), ("brier", "Brier score")):
        fam = GaugeMetricFamily(
            f"flightpath_monitoring_{metric}",
            f"{doc} of labelled answers; scope day|window, bound low|value|high (95% bootstrap)",
            labels=[*labels, "scope", "bound"],
        )
        for scope in ("day", "window"):
            q = summary["quality"][scope]
            if q.get("status") == "ok":
                for bound in ("low", "value", "high"):
                    if q[metric][bound] is not None:
                        fam.add_metric([version, scope, bound], float(q[metric][bound]))
        yield fam
    labelled = GaugeMetricFamily(
        "flightpath_monitoring_labelled", "Answers with a known outcome, by scope", labels=[*labels, "scope"]
    )
    for scope in ("day", "window"):
        labelled.add_metric([version, scope], float(summary["quality"][scope].get("n", 0)))
    yield labelled


class SummaryCollector(Collector):
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def collect(self) -> Iterator[GaugeMetricFamily]:
        summary = latest_summary(self.folder)
        if summary is not None:
            yield from families(summary)


def app(settings: Settings) -> Any:
    """A bare ASGI app (three GET routes do not need a framework)."""
    from monitoring.daily import monitoring_dir

    folder = monitoring_dir(settings)
    registry = CollectorRegistry()
    registry.register(SummaryCollector(folder))

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        status, ctype, body = 404, b"text/plain", b"not found\n"
        if path == "/healthz":
            status, body = 200, b"ok\n"
        elif path == "/readyz":
            readable = not folder.exists() or folder.is_dir()
            status, body = (200, b"ready\n") if readable else (503, f"{folder} is not a folder\n".encode())
        elif path == "/metrics":
            status, ctype, body = 200, b"text/plain; version=0.0.4; charset=utf-8", generate_latest(registry)
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype)]})
        await send({"type": "http.response.body", "body": body})

    return asgi


def run(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        app(settings),
        host=settings.serve_host,
        port=settings.monitoring_exporter_port,
        log_level="warning",
        access_log=False,
    )
