"""Where people look at a day's monitoring: MLflow, next to the model version it judged.

    run_id = log_to_mlflow(settings, summary)     # a run in "<experiment>-monitoring", reports as artifacts
    short_summary(summary)                        # the few numbers an Airflow XCom and a log line need

Each day is one MLflow run tagged with the model name, version and day; its metrics are the drift
share, the answers' positive rate, and the quality of the day and of the trailing window with
their intervals; its artifacts are the day's HTML and JSON reports. The model version gets the
tags `monitoring.last_day` and `monitoring.last_run`, so the registry page of a version links to
the latest verdict on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flightpath.registry_access import ensure_experiment, registry_client
from flightpath.settings import Settings


def monitoring_experiment(settings: Settings) -> str:
    return f"{settings.experiment_name}-monitoring"


def metrics_of(summary: dict[str, Any]) -> dict[str, float]:
    """Every number worth a chart, flat (MLflow metric names; absent = not enough data)."""
    out: dict[str, float] = {}
    inputs, answers = summary["drift"]["inputs"], summary["drift"]["predictions"]
    if inputs.get("status") == "ok":
        out["drift_share"] = float(inputs["drift_share"])
        out["drifted_columns"] = float(inputs["drifted_count"])
    if answers.get("status") == "ok":
        out["predicted_positive_rate"] = float(answers["positive_rate"]["current"])
        out["reference_positive_rate"] = float(answers["positive_rate"]["reference"])
        out["mean_score"] = float(answers["mean_score"]["current"])
    out["flights"] = float(summary["predictions"]["flights"])
    for scope in ("day", "window"):
        q = summary["quality"][scope]
        out[f"{scope}_labelled"] = float(q.get("n", 0))
        if q.get("status") != "ok":
            continue
        for metric in ("roc_auc", "pr_auc", "brier"):
            for part in ("value", "low", "high"):
                if q[metric][part] is not None:
                    name = f"{scope}_{metric}" if part == "value" else f"{scope}_{metric}_{part}"
                    out[name] = float(q[metric][part])
        out[f"{scope}_positive_rate"] = float(q["positive_rate"])
        out[f"{scope}_recall"] = float(q["recall"])
        if q["precision"] is not None:
            out[f"{scope}_precision"] = float(q["precision"])
        out[f"{scope}_ece"] = float(q["calibration"]["ece"])
    out["retrain"] = 1.0 if summary["decision"]["retrain"] else 0.0
    return out


def short_summary(summary: dict[str, Any]) -> dict[str, Any]:
    window = summary["quality"]["window"]
    inputs = summary["drift"]["inputs"]
    return {
        "day": summary["day"],
        "model_version": summary["model"]["version"],
        "flights": summary["predictions"]["flights"],
        "drift_share": inputs.get("drift_share"),
        "drift_detected": inputs.get("drift_detected"),
        "drifted_columns": inputs.get("drifted_columns", []),
        "window_roc_auc": window["roc_auc"] if window.get("status") == "ok" else window.get("reason"),
        "champion_test_auc": summary["model"]["test_auc"],
        "retrain": summary["decision"]["retrain"],
        "reasons": summary["decision"]["reasons"],
        "mlflow_run_id": summary.get("mlflow_run_id"),
        "seconds": summary["seconds"],
    }


def log_to_mlflow(settings: Settings, summary: dict[str, Any], report_dir: Path) -> str:
    """One MLflow run for the day, `report_dir`'s files as its artifacts; returns the run id."""
    client = registry_client(settings.mlflow_tracking_uri)
    name = monitoring_experiment(settings)
    experiment_id = ensure_experiment(settings, name)
    model = summary["model"]
    run = client.create_run(
        experiment_id,
        run_name=f"monitor {summary['day']} v{model['version']}",
        tags={
            "model_name": model["name"],
            "model_version": str(model["version"]),
            "day": summary["day"],
            "retrain": str(summary["decision"]["retrain"]).lower(),
            "decision.reasons": "; ".join(summary["decision"]["reasons"])[:5000],
        },
    )
    run_id = str(run.info.run_id)
    try:
        for key, value in metrics_of(summary).items():
            client.log_metric(run_id, key, value)
        client.log_artifacts(run_id, str(report_dir), artifact_path="monitoring")
    except Exception:  # the run says FAILED instead of staying RUNNING forever; the error goes on
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    client.set_model_version_tag(model["name"], str(model["version"]), "monitoring.last_day", summary["day"])
    client.set_model_version_tag(model["name"], str(model["version"]), "monitoring.last_run", run_id)
    return run_id
