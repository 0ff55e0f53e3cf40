"""Prometheus metrics of one serving process, or of all workers of one server.

One worker (the default, and our Kubernetes layout: one worker per pod): each app gets its own
CollectorRegistry, so tests can build many apps in one process, and /metrics renders it.

Several workers (`serve_workers > 1`): `serving.server.run` gives the run a fresh, empty directory
in PROMETHEUS_MULTIPROC_DIR before the workers start. prometheus_client then keeps every value in
a per-process mmap file there, and /metrics, whichever worker answers, merges all the files:
counters and histograms are summed over workers (dead ones included, so totals never go back),
gauges are combined by the `multiprocess_mode` chosen per gauge below. A scrape sees the server.
Workers that died (crash, OOM kill, restart) are forgotten by the live* gauges at the next scrape.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from serving.metrics_env import MULTIPROC_ENV, SERVING_MULTIPROC_ENV

# Latency buckets in seconds: the budget is a few ms in-process, so resolve 0.25 ms .. 1 s.
LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # 0.05 .. 1.0
# Ours is SERVING_MULTIPROC_ENV, set by serving.server next to MULTIPROC_ENV. Not MULTIPROC_ENV
# alone: importing `feast.metrics` points it at a temp dir of Feast's own (serving/metrics_env.py).
# prometheus_client names a live* gauge file gauge_<mode>_<pid>.db
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    """The directory of the per-process metric files, or None for plain per-process metrics.

    prometheus_client picks its value storage once, when it is imported: a directory set after
    that would be rendered from but never written to (a /metrics without our numbers). Fail loudly.
    """
    path = os.environ.get(SERVING_MULTIPROC_ENV)
    if not path:
        return None
    if os.environ.get(MULTIPROC_ENV) != path:
        raise RuntimeError(f"{SERVING_MULTIPROC_ENV}={path} but {MULTIPROC_ENV}={os.environ.get(MULTIPROC_ENV)}")
    if not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError(f"{MULTIPROC_ENV} was set after prometheus_client was imported")
    return path


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def forget_dead_processes(path: str) -> list[int]:
    """mark_process_dead for every pid with live* gauge files but no process; returns those pids.

    Done at scrape time rather than in a worker's exit hook: a worker killed by SIGKILL or the OOM
    killer runs no hook, and its in-flight count or model version would otherwise stay forever.
    """
    pids = set()
    for name in map(os.path.basename, glob.glob(os.path.join(path, "gauge_live*_*.db"))):
        match = _LIVE_GAUGE_FILE.match(name)
        if match:
            pids.add(int(match.group(1)))
    dead = sorted(pid for pid in pids if not process_alive(pid))
    for pid in dead:
        # Two workers may scrape at once and race to delete the same file; the loser's leftovers
        # are picked up by the next scrape.
        with contextlib.suppress(FileNotFoundError):
            multiprocess.mark_process_dead(pid, path)
    return dead


class ServingMetrics:
    def __init__(self) -> None:
        self.multiprocess_dir = multiprocess_dir()
        # With several workers this registry only holds the metric objects; render() merges files.
        self.registry = CollectorRegistry(auto_describe=True)
        self._model_labels: tuple[str, ...] | None = None
        r = self.registry
        self.request_latency = Histogram(
            "flightpath_request_duration_seconds",
            "HTTP request latency by route template and status",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Gauge modes (used only with several workers; live* = a dead worker's value is dropped):
        # in flight: the server's load is the sum over the workers that are alive.
        self.in_flight = Gauge(
            "flightpath_requests_in_flight",
            "Requests being handled now",
            registry=r,
            multiprocess_mode="livesum",
        )
        # model info: one series per worker (a `pid` label is added), so a hot reload that has
        # reached one worker but not yet the other shows both versions instead of hiding one.
        self.model_info = Gauge(
            "flightpath_model_info",
            "The model this process serves (1; with several workers a replaced one stays, at 0)",
            ["name", "version", "sha256", "source"],
            registry=r,
            multiprocess_mode="liveall",
        )
        # model loaded: the minimum, so 0 as soon as any worker cannot answer (a share of requests
        # gets 503), which is what an alert wants; the max would hide a stuck worker.
        self.model_loaded = Gauge(
            "flightpath_model_loaded",
            "1 when a model is loaded",
            registry=r,
            multiprocess_mode="livemin",
        )
        # stand-in: the maximum, so 1 as soon as any worker answers with something other than the
        # registry's champion (the champion could not be fetched or was refused; see model_store).
        self.model_stand_in = Gauge(
            "flightpath_model_stand_in",
            "1 when the model served stands in for a champion that could not be fetched or was refused",
            registry=r,
            multiprocess_mode="livemax",
        )
        # cache ok: the minimum, so 0 as soon as any worker serves a model it could not write to
        # its local cache (disk full, read-only folder): a restart while MLflow is down would then
        # find no model to start from.
        self.model_cache_ok = Gauge(
            "flightpath_model_cache_ok",
            "1 when the model served has a verified local copy on disk (0: disk full or folder unwritable)",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.reloads = Counter(
            "flightpath_model_reloads",
            "Hot-reload attempts by outcome (swapped, refused, error)",
            ["outcome"],
            registry=r,
        )
        self.missing_features = Counter(
            "flightpath_missing_features",
            "Features imputed by the model, per feature",
            ["feature"],
            registry=r,
        )
        self.degraded = Counter(
            "flightpath_degraded_predictions",
            "Predictions made without the online store, by reason",
            ["reason"],
            registry=r,
        )
        # store up: the minimum, for the same reason: a worker that sees the store down answers
        # degraded, and that must not be averaged away by a healthy neighbour.
        self.online_store_up = Gauge(
            "flightpath_online_store_up",
            "1 when the last online store check succeeded",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.prediction_score = Histogram(
            "flightpath_prediction_score",
            "Predicted probability of a 15+ min delay",
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        # The prediction log (serving/prediction_spool.py, serving/log_shipper.py).
        self.log_accepted = Counter(
            "flightpath_prediction_log_accepted_rows",
            "Prediction-log rows taken by the spool (on disk, or in memory while the spool is unwritable)",
            registry=r,
        )
        self.log_dropped = Counter(
            "flightpath_prediction_log_dropped_rows",
            "Prediction-log rows not logged: spool_full (at its bound), spool_unwritable (memory backlog full too)",
            ["reason"],
            registry=r,
        )
        # spool ok: the minimum, so 0 as soon as one worker cannot append (disk full, unwritable).
        self.spool_ok = Gauge(
            "flightpath_prediction_spool_ok",
            "1 when this process's last append reached the spool and the spool is below its bound",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.spool_backlog = Gauge(
            "flightpath_prediction_spool_backlog_rows",
            "Rows held in memory until the spool takes writes again",
            registry=r,
            multiprocess_mode="livesum",
        )
        # The shipper's report (status.json): every worker reads the same file, so the max is it.
        self.spool_unshipped = Gauge(
            "flightpath_prediction_spool_unshipped_bytes",
            "Spooled rows not yet committed to the database, in bytes",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.spool_limit = Gauge(
            "flightpath_prediction_spool_limit_bytes",
            "The spool's bound: beyond it answers go on unlogged",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.log_lag = Gauge(
            "flightpath_prediction_log_lag_seconds",
            "Age of the oldest spooled row not yet in the database (0 when all are)",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.log_database_up = Gauge(
            "flightpath_prediction_log_database_up",
            "1 when the shipper's last write to the prediction-log database succeeded",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.log_shipped = Gauge(
            "flightpath_prediction_log_shipped_rows",
            "Rows the current log shipper has committed since it started",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.rejected = Counter(
            "flightpath_requests_rejected",
            "Requests refused before the app saw them: overload (503), body_too_large (413), body_timeout (408)",
            ["reason"],
            registry=r,
        )
        self.unknown_categories = Counter(
            "flightpath_unknown_categories",
            "Categorical values outside the model's vocabulary (answered via its unknown bucket)",
            ["feature"],
            registry=r,
        )
        self.feature_fetch = Histogram(
            "flightpath_feature_fetch_seconds",
            "Online feature read per request (batch), by outcome",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Freshness: in the 2013 replay "now" is the end of the materialized interval, not the
        # wall clock, so we export the timestamp itself and let the dashboard subtract its "now".
        # mostrecent: "the last read" of the server is the last read of any worker (the max would
        # be the newest read ever, which an old read could never lower). Not live: a dead worker's
        # last read is still the server's last read until another worker reads.
        self.feature_event_time = Gauge(
            "flightpath_feature_event_timestamp_seconds",
            "Event time (unix s) of the newest value read per feature view, last read",
            ["view"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.stale_views = Counter(
            "flightpath_stale_feature_views",
            "Predictions that used a view value older than the view's TTL at prediction time",
            ["view"],
            registry=r,
        )
        self.shadow_requests = Counter(
            "flightpath_shadow_requests",
            "Copies of answered requests sent to the shadow service (serving/shadow_mirror.py), by outcome",
            ["outcome"],
            registry=r,
        )

    def set_model(self, name: str, version: str, sha256: str, source: str, *, stand_in: bool = False) -> None:
        self._retire_model_info()
        self._model_labels = (name, version, sha256[:12], source)
        self.model_info.labels(*self._model_labels).set(1)
        self.model_loaded.set(1)
        self.model_stand_in.set(1 if stand_in else 0)

    def _retire_model_info(self) -> None:
        """Stop reporting the model this process served until now."""
        if self.multiprocess_dir is None:
            self.model_info.clear()
        elif self._model_labels is not None:
            # clear() cannot delete a series from the mmap file (prometheus_client only warns and
            # forgets it in memory, so the old version would keep reading 1): set it to 0 instead.
            self.model_info.labels(*self._model_labels).set(0)

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        forget_dead_processes(self.multiprocess_dir)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, self.multiprocess_dir)
        return generate_latest(merged), CONTENT_TYPE_LATEST
