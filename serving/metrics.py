"""Prometheus metrics of one serving process.

Each app gets its own CollectorRegistry (tests build many apps in one process). With several
uvicorn workers, each worker exposes its own numbers on /metrics and a scrape hits one of them at
random: fine for one worker per pod (our Kubernetes layout), a known gap otherwise (prometheus
multiprocess mode is the fix; see NOTES.md).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Latency buckets in seconds: the budget is a few ms in-process, so resolve 0.25 ms .. 1 s.
LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # 0.05 .. 1.0


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_latency = Histogram(
            "flightpath_request_duration_seconds", "HTTP request latency by route template and status",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.in_flight = Gauge("flightpath_requests_in_flight", "Requests being handled now", registry=r)
        self.model_info = Gauge(
            "flightpath_model_info", "The model this process serves (value 1)",
            ["name", "version", "sha256", "source"], registry=r,
        )
        self.model_loaded = Gauge("flightpath_model_loaded", "1 when a model is loaded", registry=r)
        self.reloads = Counter(
            "flightpath_model_reloads", "Hot-reload attempts by outcome (swapped, refused, error)",
            ["outcome"], registry=r,
        )
        self.missing_features = Counter(
            "flightpath_missing_features", "Features imputed by the model, per feature", ["feature"],
            registry=r,
        )
        self.degraded = Counter(
            "flightpath_degraded_predictions", "Predictions made without the online store, by reason",
            ["reason"], registry=r,
        )
        self.online_store_up = Gauge(
            "flightpath_online_store_up", "1 when the last online store check succeeded", registry=r,
        )
        self.prediction_score = Histogram(
            "flightpath_prediction_score", "Predicted probability of a 15+ min delay",
            buckets=SCORE_BUCKETS, registry=r,
        )
        self.log_dropped = Counter(
            "flightpath_prediction_log_dropped_rows",
            "Prediction-log rows dropped (queue full or write error)",
            ["reason"], registry=r,
        )
        self.log_written = Counter(
            "flightpath_prediction_log_written_rows", "Prediction-log rows written", registry=r,
        )
        self.rejected = Counter(
            "flightpath_requests_rejected",
            "Requests refused before the app saw them: overload (503) or body_too_large (413)",
            ["reason"], registry=r,
        )
        self.unknown_categories = Counter(
            "flightpath_unknown_categories",
            "Categorical values outside the model's vocabulary (answered via its unknown bucket)",
            ["feature"], registry=r,
        )
        self.feature_fetch = Histogram(
            "flightpath_feature_fetch_seconds", "Online feature read per request (batch), by outcome",
            ["outcome"], buckets=LATENCY_BUCKETS, registry=r,
        )
        # Freshness: in the 2013 replay "now" is the end of the materialized interval, not the
        # wall clock, so we export the timestamp itself and let the dashboard subtract its "now".
        self.feature_event_time = Gauge(
            "flightpath_feature_event_timestamp_seconds",
            "Event time (unix s) of the newest value read per feature view, last read",
            ["view"], registry=r,
        )
        self.stale_views = Counter(
            "flightpath_stale_feature_views",
            "Predictions that used a view value older than the view's TTL at prediction time",
            ["view"], registry=r,
        )

    def set_model(self, name: str, version: str, sha256: str, source: str) -> None:
        self.model_info.clear()
        self.model_info.labels(name=name, version=version, sha256=sha256[:12], source=source).set(1)
        self.model_loaded.set(1)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
