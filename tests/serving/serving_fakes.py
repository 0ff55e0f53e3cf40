"""Test doubles for serving: a tiny contract-conforming ONNX model, a throwaway registry, a fake reader.

The model is built by hand with onnx.helper (no training/ import, no torch): a logistic
regression whose weights we know, so tests can check the exact probability the service returns
and therefore that every feature reached the right model input.

    logit = bias + sum_i w_i * (x_i if not NaN else 0) + table_c[carrier] + table_o[origin] + table_d[dest]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import onnx
from onnx import TensorProto, helper

from features import contract
from features.online import OnlineFeatures, OnlineStoreUnavailable
from flightpath.settings import Settings
from flightpath.signing import sign_version

MODEL_NAME = "flight-delay"
THRESHOLD = 0.5
BIAS = -1.0
# One weight per numeric input, scaled to its units so the logit stays in a useful range and
# every input moves the output.
WEIGHTS: dict[str, float] = {
    "wx_temp": 0.005,
    "wx_dewp": 0.003,
    "wx_humid": 0.004,
    "wx_wind_speed": 0.02,
    "wx_wind_gust": 0.01,
    "wx_precip": 3.0,
    "wx_pressure": -0.0005,
    "wx_visib": -0.1,
    "plane_year": 0.0002,
    "plane_seats": 0.001,
    "plane_engines": 0.05,
    "carrier_delay_rate_7d": 2.0,
    "carrier_flights_7d": 0.0005,
    "origin_dep_delay_2h": 0.01,
    "origin_backlog_2h": 0.05,
    "route_delay_rate_14d": 1.5,
    "route_flights_14d": 0.001,
    "origin_sched_departures_hour": 0.02,
    "sched_hour": 0.08,
    "sched_weekday": 0.03,
    "sched_month": 0.02,
    "days_to_holiday": -0.02,
}
assert set(WEIGHTS) == set(contract.NUMERIC_FEATURES)
CATEGORY_WEIGHTS: dict[str, dict[str, float]] = {
    "carrier": {"UA": 0.2, "AA": -0.1, "B6": 0.3},
    "origin": {"EWR": 0.25, "JFK": 0.0, "LGA": 0.1},
    "dest": {"IAH": 0.05, "ORD": 0.15},
}


def build_model(
    *,
    inputs: tuple[str, ...] = contract.MODEL_INPUTS,
    bias: float = BIAS,
    threshold: float = THRESHOLD,
    metadata: dict[str, str] | None = None,
    sigmoid: bool = True,
) -> onnx.ModelProto:
    """A logistic regression over `inputs` as an ONNX graph (1-D inputs, output "probability")."""
    nodes, terms, inits = [], [], []
    graph_inputs = []
    inits.append(helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]))
    inits.append(helper.make_tensor("bias", TensorProto.FLOAT, [], [bias]))
    for name in inputs:
        if name in contract.CATEGORICAL_FEATURES:
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.STRING, ["batch"]))
            table = CATEGORY_WEIGHTS[name]
            nodes.append(
                helper.make_node(
                    "LabelEncoder",
                    [name],
                    [f"{name}_w"],
                    domain="ai.onnx.ml",
                    keys_strings=list(table),
                    values_floats=list(table.values()),
                    default_float=0.0,
                )
            )
        else:
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch"]))
            inits.append(helper.make_tensor(f"{name}_coef", TensorProto.FLOAT, [], [WEIGHTS[name]]))
            nodes += [
                helper.make_node("IsNaN", [name], [f"{name}_isnan"]),
                helper.make_node("Where", [f"{name}_isnan", "zero", name], [f"{name}_clean"]),
                helper.make_node("Mul", [f"{name}_clean", f"{name}_coef"], [f"{name}_w"]),
            ]
        terms.append(f"{name}_w")
    nodes += [
        helper.make_node("Sum", terms, ["sum"]),
        helper.make_node("Add", ["sum", "bias"], ["logit"]),
        helper.make_node("Sigmoid" if sigmoid else "Identity", ["logit"], ["probability"]),
    ]
    out = helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch"])
    graph = helper.make_graph(nodes, "tiny_logreg", graph_inputs, [out], initializer=inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)],
    )
    model.ir_version = 9
    props = {
        "feature_service": "flight_delay_v1",
        "feature_service_version": contract.feature_service_version(),
        "threshold": str(threshold),
        "train_window": "2013-01-01..2013-01-14",
        "code_version": "test",
        "model_name": MODEL_NAME,
    }
    props.update(metadata or {})
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def expected_probability(row: dict[str, float | str | None], bias: float = BIAS) -> float:
    """What build_model() computes for one row, in plain Python."""
    logit = bias
    for name in contract.NUMERIC_FEATURES:
        x = row.get(name)
        if x is not None and not math.isnan(float(x)):
            logit += WEIGHTS[name] * float(x)
    for name in contract.CATEGORICAL_FEATURES:
        logit += CATEGORY_WEIGHTS[name].get(str(row[name]), 0.0)
    return 1.0 / (1.0 + math.exp(-logit))


def sha256_of(model: onnx.ModelProto) -> str:
    return hashlib.sha256(model.SerializeToString()).hexdigest()


# A real flight of the tiny window, as a user describes it.
FLIGHT = {
    "carrier": "UA",
    "flight": 1545,
    "tailnum": "N14228",
    "origin": "EWR",
    "dest": "IAH",
    "sched_dep_local": "2013-01-01T05:15",
}


# --- a throwaway MLflow registry ------------------------------------------------------------------
@dataclass
class Registry:
    tracking_uri: str

    @property
    def keys_dir(self) -> Path:
        return Path(self.tracking_uri.removeprefix("sqlite:///")).parent / "keys"

    @property
    def verify_key(self) -> Path:
        """The pipeline's public key: what a service under test must be configured with."""
        return self.keys_dir / "model-signing.pub"

    def _signer(self, forged: bool) -> Settings:
        """Key settings of the pipeline, or of an attacker with keys of their own."""
        keys = self.keys_dir / ("forger" if forged else "")
        return Settings(
            home=keys,
            model_signing_key=keys / "model-signing.key",
            model_verify_key=keys / "model-signing.pub",
        )

    def register(
        self,
        model: onnx.ModelProto,
        *,
        sha256: str | None = None,
        champion: bool = True,
        threshold: float = THRESHOLD,
        signature: Literal["pipeline", "forged", "none"] = "pipeline",
    ) -> str:
        """Log + register like training does; tag sha256 (of the bytes unless overridden), the
        signature (the pipeline's unless told otherwise); alias."""
        import mlflow

        # MLflow's fluent API needs process globals; they are cleared again afterwards, so the
        # service under test finds the registry only through its own settings, as `make serve` does.
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            if mlflow.get_experiment_by_name("serving-tests") is None and self.tracking_uri.startswith("sqlite:///"):
                # Artifacts beside the DB: without a location MLflow writes them to ./mlruns of the cwd.
                db = Path(self.tracking_uri.removeprefix("sqlite:///"))
                mlflow.create_experiment("serving-tests", artifact_location=(db.parent / "artifacts").as_uri())
            mlflow.set_experiment("serving-tests")
            info = mlflow.onnx.log_model(
                model,
                name="model",
                registered_model_name=MODEL_NAME,
                save_as_external_data=False,
                pip_requirements=["onnxruntime"],  # skip requirement inference (slow, irrelevant here)
            )
        finally:
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None: unset (and the env var)
            mlflow.set_registry_uri(None)  # type: ignore[arg-type]
            os.environ.pop("MLFLOW_REGISTRY_URI", None)  # set_registry_uri(None) leaves the env var
        version = str(info.registered_model_version)
        client = self.client()
        tags = {
            "sha256": sha256 or sha256_of(model),
            "threshold": str(threshold),
            "feature_service": "flight_delay_v1",
            "train_window": "2013-01-01..2013-01-14",
        }
        if signature != "none":
            tags.update(sign_version(self._signer(signature == "forged"), MODEL_NAME, version, tags["sha256"]))
        for key, value in tags.items():
            client.set_model_version_tag(MODEL_NAME, version, key, value)
        if champion:
            self.promote(version)
        return version

    def client(self):  # type: ignore[no-untyped-def]
        from mlflow import MlflowClient

        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def promote(self, version: str) -> None:
        """What the promotion gate does: tag the champion it replaces, then move the alias."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            current = client.get_model_version_by_alias(MODEL_NAME, "champion").version
        except MlflowException:
            current = None
        if current is not None and str(current) != version:
            client.set_model_version_tag(MODEL_NAME, version, "previous_champion", str(current))
        self.move_alias(version)

    def lose_artifacts(self, version: str) -> None:
        """Delete a version's stored artifacts (a purged bucket, a lost disk): it can no longer be fetched."""
        location = self.client().get_model_version_download_uri(MODEL_NAME, version)
        shutil.rmtree(location.removeprefix("file://"))

    def move_alias(self, version: str) -> None:
        """What rollback does: move `champion` without touching the lineage."""
        self.client().set_registered_model_alias(MODEL_NAME, "champion", version)


# --- a fake online store --------------------------------------------------------------------------
STORE_VALUES: dict[str, float | None] = {
    "wx_temp": 39.0,
    "wx_dewp": 26.1,
    "wx_humid": 59.4,
    "wx_wind_speed": 12.7,
    "wx_wind_gust": None,
    "wx_precip": 0.0,
    "wx_pressure": 1012.0,
    "wx_visib": 10.0,
    "plane_year": 1999.0,
    "plane_seats": 149.0,
    "plane_engines": 2.0,
    "carrier_delay_rate_7d": 0.25,
    "carrier_flights_7d": 410.0,
    "origin_dep_delay_2h": 12.5,
    "origin_backlog_2h": 3.0,
    "route_delay_rate_14d": 0.18,
    "route_flights_14d": 120.0,
    "origin_sched_departures_hour": 22.0,
}
# Every store feature has a value here (wx_wind_gust: None, a real gap), so tests can name the
# one missing feature exactly; a feature left out of this dict would be reported missing too.
assert set(STORE_VALUES) == set(contract.STORE_FEATURES)


@dataclass
class FakeReader:
    """Implements serving.features.FeatureReader; `down=True` behaves like a dead store."""

    values: dict[str, float | None] = field(default_factory=lambda: dict(STORE_VALUES))
    down: bool = False
    calls: list[list[dict[str, str | None]]] = field(default_factory=list)
    event_timestamps: dict[str, dt.datetime | None] = field(default_factory=dict)  # per view, every row

    def read(self, entities: list[dict[str, str | None]]) -> list[OnlineFeatures]:
        self.calls.append(entities)
        if self.down:
            raise OnlineStoreUnavailable("redis://localhost:6379 refused the connection")
        out = []
        for entity in entities:
            values = dict(self.values)
            if not entity.get("tailnum"):
                values.update(plane_year=None, plane_seats=None, plane_engines=None)
            missing = [k for k in contract.STORE_FEATURES if values.get(k) is None]
            out.append(OnlineFeatures(values=values, missing=missing, event_timestamps=dict(self.event_timestamps)))
        return out

    def ping(self) -> bool:
        return not self.down


def settings_for(home: Path, registry: Registry, **overrides: object) -> Settings:
    return Settings(
        home=home,
        MLFLOW_TRACKING_URI=registry.tracking_uri,  # type: ignore[call-arg]
        model_verify_key=registry.verify_key,
        model_source="registry",  # the process follows MLflow itself (no model-sync beside it)
        reload_interval_s=60,
        **overrides,
    )


def copy_registry(template: Path, into: Path) -> Registry:
    """A registry from a copy of a template SQLite DB (creating MLflow's tables is the slow part)."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, into / "mlflow.db")
    return Registry(f"sqlite:///{into / 'mlflow.db'}")
