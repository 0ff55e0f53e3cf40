"""One typed settings object for every stage.

    FLIGHTPATH_PROFILE=embedded flightpath demo      # the default: files under .flightpath/
    FLIGHTPATH_PROFILE=stack    flightpath serve     # the compose stack: Postgres, Redis, MLflow server

Every path the project writes is derived here from `home`, so `make clean` (rm -r .flightpath)
resets everything and nothing else in the code builds a path by hand. Values come from
environment variables with the prefix FLIGHTPATH_ (e.g. FLIGHTPATH_HORIZON_HOURS=3).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The data covers only these three origins and this one year; requests outside them are refused
# with the allowed values named (docs/design.md, "Serving behaviour").
ORIGINS: tuple[str, ...] = ("EWR", "JFK", "LGA")
DATA_FIRST_DAY = dt.date(2013, 1, 1)
DATA_LAST_DAY = dt.date(2013, 12, 31)
LOCAL_TZ = "America/New_York"


def feast_redis_address(url: str) -> str:
    """A Redis address as Feast's connection string "host:port[,key=value...]".

    Accepts that form, and redis:// / rediss:// URLs ([user:]password@, port, /db), which Feast
    would otherwise take as a host named "redis" (every read failing while readiness said all was
    well). Raises ValueError, naming the accepted forms, for anything else.
    """
    from urllib.parse import unquote, urlsplit

    forms = (
        "host:port[,host:port...][,password=...,db=N,ssl=true], redis://[:password@]host[:port][/db] or rediss://..."
    )
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"redis_url {url!r}: expected {forms}")
        try:
            port = parts.port or 6379
        except ValueError:
            raise ValueError(f"redis_url {url!r}: the port is not a number; expected {forms}") from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        options = [f"{host}:{port}"]
        if parts.password:
            options.append(f"password={unquote(parts.password)}")
        db = parts.path.strip("/")
        if db:
            if not db.isdigit():
                raise ValueError(f"redis_url {url!r}: the database {db!r} is not a number; expected {forms}")
            options.append(f"db={db}")
        if parts.scheme == "rediss":
            options.append("ssl=true")
        return ",".join(options)
    items = [p.strip() for p in url.split(",")]
    # Leading host:port items, then key=value options; a Redis Cluster lists several nodes (any
    # one is enough to discover the rest, more survive a node being down at start).
    nodes = [p for p in items if "=" not in p]
    if not nodes or items[: len(nodes)] != nodes:
        raise ValueError(f"redis_url {url!r}: expected {forms}")
    for node in nodes:
        host, sep, port_text = node.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise ValueError(f"redis_url {url!r}: expected {forms}")
    return url


class Settings(BaseSettings):
    """Typed configuration; one instance per process (see `get_settings`)."""

    model_config = SettingsConfigDict(env_prefix="FLIGHTPATH_", env_file=".env", extra="ignore")

    profile: Literal["embedded", "stack"] = "embedded"
    # Runtime state of the embedded default: lake, Feast registry + online DB, MLflow, Airflow, logs.
    home: Path = PROJECT_ROOT / ".flightpath"

    # --- time contract -------------------------------------------------------------------------
    # A prediction is made `horizon_hours` before scheduled departure; no feature may be newer.
    horizon_hours: float = Field(2.0, gt=0, le=48)

    # --- the demo window ------------------------------------------------------------------------
    # One DAG run covers [demo_start, demo_end]; the last `monitor_days` of it are the "later
    # window" that evaluation and drift compare against the earlier days.
    demo_start: dt.date = dt.date(2013, 1, 1)
    demo_end: dt.date = dt.date(2013, 3, 31)
    monitor_days: int = Field(14, ge=1)
    validation_days: int = Field(14, ge=1)

    # --- training ---------------------------------------------------------------------------------
    seed: int = 13
    epochs: int = Field(8, ge=1)
    batch_size: int = Field(512, ge=16)
    learning_rate: float = 2e-3
    hidden_units: int = 128
    # Networks averaged in the exported graph (seeds seed..seed+k-1): one alone is within noise
    # of logistic regression on this data; the mean of three is steadier (training/NOTES.md).
    ensemble_size: int = Field(3, ge=1, le=10)

    # --- registry ------------------------------------------------------------------------------
    model_name: str = "flight-delay"
    experiment_name: str = "flight-delay"
    mlflow_tracking_uri_override: str | None = Field(None, alias="MLFLOW_TRACKING_URI")
    # Model signatures (flightpath/signing.py): the pipeline signs each registered version with the
    # private key; serving loads only versions whose signature its public key verifies. Default:
    # a pair under <home>/keys, made by the first registration. Split them where the pipeline and
    # serving are separate trust domains (Kubernetes: a Secret for one, a ConfigMap for the other).
    model_signing_key: Path | None = None
    model_verify_key: Path | None = None
    # Releases (k8s/NOTES.md "Releases"). "direct": a version that passes the gate becomes champion
    # at once. "staged": it stays `challenger` (served by canary or shadow pods) until
    # `flightpath release promote`; the first version of all is promoted either way (nothing to
    # compare it with, and nothing else to serve).
    release: Literal["direct", "staged"] = "direct"
    # The registry alias a serving process follows: champion, or challenger for a canary or shadow.
    model_alias: Literal["champion", "challenger"] = "champion"
    # Promotion gate (training/registry.py, training/NOTES.md "Promotion gate"): a challenger may
    # lose at most gate_auc_tolerance ROC-AUC to the champion on the same window, at most
    # gate_slice_max_auc_drop on any origin/carrier/month slice with >= gate_slice_min_rows labelled
    # rows, and be at most gate_latency_max_ratio times slower (p50 per batch, measured interleaved
    # over gate_latency_rounds rounds).
    gate_auc_tolerance: float = Field(0.01, ge=0)
    gate_slice_min_rows: int = Field(50, ge=1)
    gate_slice_max_auc_drop: float = Field(0.03, ge=0)
    gate_latency_max_ratio: float = Field(1.5, ge=1)
    gate_latency_rounds: int = Field(200, ge=1)

    # --- monitoring (monitoring/daily.py, monitoring/NOTES.md) ------------------------------------
    # Input drift: the day is drifted when at least this share of the model inputs drifted
    # (Evidently's per-column verdict). The daily check counts 22 of the 25 (three calendar inputs
    # cannot match a months-long window in one day): 0.3 = 7 of 22. Lower and any stormy day trips it.
    drift_alert_share: float = Field(0.3, gt=0, le=1)
    # Quality: retrain when the trailing week's ROC-AUC, upper end of its 95% interval included,
    # is more than this below the champion's own test ROC-AUC (the number the gate promoted it on).
    quality_max_auc_drop: float = Field(0.05, ge=0, le=1)
    # Days of labelled predictions the quality verdict looks at (the day itself and the ones before).
    quality_window_days: int = Field(7, ge=1, le=60)
    # Retrain on drift alone only after this many drifted days in a row (one stormy day is weather).
    drift_days_to_retrain: int = Field(3, ge=1)
    # Bootstrap resamples for the intervals of the quality report.
    quality_resamples: int = Field(200, ge=20)
    # No new retraining while the last one is younger than this (a rejected challenger would be
    # retrained from the same evidence every day otherwise).
    retrain_cooldown_days: int = Field(7, ge=0)
    # A retraining trains on the last this-many days up to the monitored day.
    retrain_window_days: int = Field(90, ge=28)
    # Prometheus scrapes monitoring results here (monitoring/exporter.py); Evidently's UI on the next.
    monitoring_exporter_port: int = 8002
    evidently_ui_port: int = 8001

    # --- feature store -------------------------------------------------------------------------
    online_store: Literal["sqlite", "redis"] = "sqlite"
    # Feast's form "host:port[,key=value...]"; redis://[:password@]host[:port][/db] and rediss://
    # (what most people write) are converted to it, anything else refused (`feast_redis_address`).
    redis_url: str = "localhost:6379"
    # "redis_cluster": a Redis Cluster (the keys spread over shards by hash slot; redis_url lists
    # one or more of its nodes), for the online store beyond one Redis's memory (k8s/NOTES.md).
    redis_type: Literal["redis", "redis_cluster"] = "redis"
    # Where point-in-time training joins run. "duckdb": over the lake's parquet files, in process
    # (one machine). "postgres": in a SQL warehouse (offline_store_url), the feature tables loaded
    # there by features/warehouse.py; the path beyond one machine's memory (features/NOTES.md).
    offline_store: Literal["duckdb", "postgres"] = "duckdb"
    offline_store_url: str = "postgresql://postgres@127.0.0.1:5432/flightpath_offline"
    feature_service: str = "flight_delay_v1"
    # Serving reads the views from features/contract.py and, before its first read, checks that the
    # pipeline applied the repo: the registry file (<home>/feast/registry.db) names the feature
    # service. Off where the registry is not on serving's disk (Kubernetes: it lives on the
    # pipeline's volume); an empty store then shows as missing features, not as "not applied".
    online_registry_check: bool = True

    # --- serving -------------------------------------------------------------------------------
    serve_host: str = "127.0.0.1"
    serve_port: int = 8000
    serve_workers: int = Field(1, ge=1)
    reload_interval_s: float = Field(10.0, gt=0)
    # Where a serving worker gets its model (serving/model_follower.py). "folder": from the verified
    # copies a model-sync process keeps (`flightpath serve` starts one per server; the worker never
    # talks to MLflow). "registry": the process asks MLflow itself (the model-sync process; a
    # process built by hand, as in tests).
    model_source: Literal["folder", "registry"] = "folder"
    prediction_log_url_override: str | None = Field(None, alias="FLIGHTPATH_PREDICTION_LOG_URL")
    # The prediction log goes through a local spool (serving/prediction_spool.py): workers append,
    # the log shipper loads it into the database above every prediction_ship_interval_s.
    prediction_spool_dir: Path | None = None  # default <home>/spool/predictions
    # "interval": the shipper fsyncs the spool each pass (a power cut loses at most one interval;
    # a killed worker loses nothing). "always": each row is fsynced before the answer (slower).
    prediction_spool_fsync: Literal["interval", "always"] = "interval"
    prediction_ship_interval_s: float = Field(0.5, gt=0, le=60)
    # Unshipped rows the spool may hold while the database is away; beyond, answers go on unlogged.
    prediction_spool_max_mb: int = Field(1024, ge=1)
    # A worker starts a new segment at this size (or after 30 s); the shipper can delete a segment
    # only once its worker moved on, so on a small disk smaller segments give space back sooner.
    prediction_spool_segment_kb: int = Field(4096, ge=16)
    # Shadow releases (serving/shadow_mirror.py): live pods copy each answered request to shadow_url
    # (at most shadow_max_in_flight at once, the rest dropped); a process with serving_role
    # "shadow" logs its answers as source "shadow", never read by monitoring as live traffic.
    shadow_url: str | None = None
    shadow_max_in_flight: int = Field(32, ge=1)
    serving_role: Literal["live", "shadow"] = "live"
    # A request body above this is a 413, refused before it is read (a batch of 1000 flights is ~150 KiB).
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # The whole body must arrive within this many seconds of the request's start (else 408): a slow
    # sender holds a socket and a buffer, never a thread or a place in `max_in_flight`.
    body_timeout_s: float = Field(10.0, gt=0, le=300)
    # Requests one worker handles at once; one more is shed with 503 + Retry-After instead of
    # queueing without bound (the sync handlers share a 40-thread pool; queueing only adds latency).
    max_in_flight: int = Field(64, ge=1)
    # After SIGTERM: /readyz says 503 for this long while requests are still served, so the load
    # balancer stops routing here before the listener closes (Kubernetes: < terminationGracePeriod).
    drain_seconds: float = Field(0.0, ge=0, le=60)
    # One JSON object per log line from `flightpath serve` (what log shippers expect).
    log_json: bool = True

    # --- orchestration -------------------------------------------------------------------------
    airflow_home_override: Path | None = Field(None, alias="AIRFLOW_HOME")

    @field_validator("redis_url")
    @classmethod
    def _redis_address(cls, value: str) -> str:
        return feast_redis_address(value)

    @model_validator(mode="after")
    def _window_is_in_the_data(self) -> Settings:
        for name in ("demo_start", "demo_end"):
            day = getattr(self, name)
            if not DATA_FIRST_DAY <= day <= DATA_LAST_DAY:
                raise ValueError(f"{name}={day} is outside the data ({DATA_FIRST_DAY}..{DATA_LAST_DAY})")
        if self.demo_end < self.demo_start:
            raise ValueError(f"demo_end {self.demo_end} is before demo_start {self.demo_start}")
        if self.profile == "stack" and self.online_store == "sqlite":
            # The stack's point is a shared online store; SQLite would silently give each pod its own.
            self.online_store = "redis"
        return self

    # --- derived paths (computed once, here) -----------------------------------------------------
    @computed_field  # type: ignore[prop-decorator]
    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def feast_repo_dir(self) -> Path:
        return PROJECT_ROOT / "features" / "feature_repo"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri_override or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def signing_key_path(self) -> Path:
        return self.model_signing_key or self.home / "keys" / "model-signing.key"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verify_key_path(self) -> Path:
        return self.model_verify_key or self.home / "keys" / "model-signing.pub"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def airflow_home(self) -> Path:
        return self.airflow_home_override or self.home / "airflow"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dags_dir(self) -> Path:
        return PROJECT_ROOT / "pipelines" / "dags"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def models_dir(self) -> Path:
        """Local verified copies of registered models (serving starts from here if MLflow is down)."""
        return self.home / "models"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def spool_dir(self) -> Path:
        return self.prediction_spool_dir or self.home / "spool" / "predictions"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prediction_log_url(self) -> str:
        return self.prediction_log_url_override or f"sqlite:///{self.home / 'predictions.db'}"

    @property
    def horizon(self) -> dt.timedelta:
        return dt.timedelta(hours=self.horizon_hours)

    def demo_days(self) -> list[dt.date]:
        return days_between(self.demo_start, self.demo_end)


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Inclusive list of days from start to end."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings(...)` instead)."""
    return Settings()
