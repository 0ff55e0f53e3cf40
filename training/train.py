"""The training pipeline step: split -> train -> baseline -> export + parity gate -> MLflow runs.

    from training.train import train_and_export
    result = train_and_export(settings, frame)      # frame from features.training_set
    result["run_id"], result["metrics"]["test_auc"], result["threshold"]

The Airflow task and the CLI call exactly this function; it returns a JSON-ready dict (XCom).
Registration is a separate step (training.registry) so a human or a gate can sit in between.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import onnx
import onnxruntime
import pandas as pd
from mlflow.models import infer_signature

from features.contract import LABEL, MODEL_INPUTS, feature_service_version
from flightpath.settings import Settings
from flightpath.timing import timed
from training import model as model_mod
from training.baselines import fit_logistic_baseline, predict_baseline
from training.evaluate import at_threshold, binary_metrics, choose_threshold
from training.export import (
    ExportParityError,
    check_parity,
    export_onnx,
    onnx_feeds,
    predict_onnx,
    save_onnx,
)
from training.model import Arrays, predict, train_ensemble
from training.preprocess import (
    MIN_CATEGORY_COUNT,
    Preprocessing,
    category_indices,
    fit_preprocessing,
    numeric_matrix,
)
from training.registry import score_champion
from training.split import Split, time_split
from training.tracking import code_version, configure_mlflow, lineage_tags

log = logging.getLogger(__name__)

INPUT_EXAMPLE_ROWS = 3


def encode(part: pd.DataFrame, prep: Preprocessing) -> Arrays:
    """A split part as model tensors (numeric NaN kept: the network imputes)."""
    return Arrays.of(numeric_matrix(part, prep.numeric), category_indices(part, prep), part[LABEL].to_numpy())


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": float(v) for k, v in metrics.items()}


def train_and_export(settings: Settings, frame: pd.DataFrame) -> dict[str, Any]:
    """Train the model and the baseline on a time split, export + verify ONNX, log to MLflow.

    Args:
        settings: training hyper-parameters, split lengths, MLflow location, names.
        frame: the training set: flight key columns, `cancelled`, the label and MODEL_INPUTS.
    Returns:
        {"run_id", "baseline_run_id", "model_uri", "sha256", "threshold", "metrics" (test_auc,
        baseline_test_auc, ...), "split" (boundaries and row counts), "train_window",
        "test_window", "parity", "champion_comparison", "epochs_run", "best_epoch",
        "phase_seconds"}; all JSON-serializable.
    Raises:
        SplitError: the frame is too short for the configured windows.
        ExportParityError: ONNX disagrees with torch; a FAILED run records the evidence.
    """
    missing = [
        c for c in (*MODEL_INPUTS, LABEL, "cancelled", "day", "sched_dep_utc") if c not in frame.columns
    ]
    if missing:
        raise ValueError(f"training frame lacks columns {missing}")
    seconds: dict[str, float] = {}

    with timed(seconds, "split"):
        split = time_split(frame, settings)
    log.info("split %s", split.summary())

    with timed(seconds, "train"):
        prep = fit_preprocessing(split.train)
        train_arrays, val_arrays, test_arrays = (
            encode(p, prep) for p in (split.train, split.validation, split.test)
        )
        trained = train_ensemble(prep, train_arrays, val_arrays, settings)

    with timed(seconds, "evaluate"):
        y_val, y_test = val_arrays.y.numpy(), test_arrays.y.numpy()
        p_val, p_test = predict(trained.net, val_arrays), predict(trained.net, test_arrays)
        threshold = choose_threshold(y_val, p_val)
        metrics = {
            **_prefixed("val", binary_metrics(y_val, p_val)),
            **_prefixed("test", binary_metrics(y_test, p_test)),
            **_prefixed("test", at_threshold(y_test, p_test, threshold)),
        }

    with timed(seconds, "baseline"):
        baseline = fit_logistic_baseline(split.train, train_arrays.y.numpy(), settings.seed)
        b_val, b_test = predict_baseline(baseline, split.validation), predict_baseline(baseline, split.test)
        b_threshold = choose_threshold(y_val, b_val)
        baseline_metrics = {
            **_prefixed("val", binary_metrics(y_val, b_val)),
            **_prefixed("test", binary_metrics(y_test, b_test)),
            **_prefixed("test", at_threshold(y_test, b_test, b_threshold)),
        }
    metrics.update(_prefixed("baseline", baseline_metrics))
    log.info(
        "test AUC model %.4f vs baseline %.4f; threshold %.4f",
        metrics["test_auc"],
        metrics["baseline_test_auc"],
        threshold,
    )

    with timed(seconds, "export_parity"):
        metadata = {
            "feature_service": settings.feature_service,
            "feature_service_version": feature_service_version(),
            "threshold": repr(threshold),
            "train_window": split.train_window,
            "code_version": code_version(),
            "model_name": settings.model_name,
        }
        onnx_model = export_onnx(trained.net, prep, metadata)
        try:
            parity = check_parity(onnx_model, trained.net, prep, split.test, settings.seed)
            parity_error = None
        except ExportParityError as exc:
            parity, parity_error = {}, exc

    with timed(seconds, "mlflow"):
        configure_mlflow(settings)
        if parity_error is not None:
            _log_failed_parity(settings, split, metrics, parity_error)
            raise parity_error
        # Compare with the current champion on *this* test window (same rows, same labels), so
        # the promotion gate is not comparing AUCs measured on different days.
        champion = score_champion(settings, split.test)
        baseline_run_id = _log_baseline_run(settings, split, baseline_metrics, b_threshold)
        logged = _log_model_run(
            settings, split, trained, prep, metrics, threshold, parity, champion, baseline_run_id, onnx_model
        )

    return {
        **logged,
        "baseline_run_id": baseline_run_id,
        "threshold": threshold,
        "metrics": metrics,
        "split": split.summary(),
        "train_window": split.train_window,
        "test_window": split.test_window,
        "parity": parity,
        "champion_comparison": champion,
        "epochs_run": trained.epochs_run,
        "best_epoch": trained.best_epoch,
        "phase_seconds": seconds,
    }


def _window_params(split: Split) -> dict[str, Any]:
    return {
        **split.boundaries,
        **{
            f"{k}_rows": v
            for k, v in (
                ("train", len(split.train)),
                ("validation", len(split.validation)),
                ("test", len(split.test)),
            )
        },
    }


def _log_baseline_run(settings: Settings, split: Split, metrics: dict[str, float], threshold: float) -> str:
    """The logistic-regression baseline as its own run (same split, same windows)."""
    with mlflow.start_run(run_name="baseline-logreg") as run:
        mlflow.set_tags(
            {
                **lineage_tags(settings),
                "role": "baseline",
                "train_window": split.train_window,
                "test_window": split.test_window,
            }
        )
        mlflow.log_params(
            {
                "model": "LogisticRegression(class_weight=balanced)",
                "seed": settings.seed,
                "min_category_count": MIN_CATEGORY_COUNT,
                **_window_params(split),
            }
        )
        mlflow.log_metrics({**metrics, "threshold": threshold})
    return run.info.run_id


def _log_model_run(
    settings: Settings,
    split: Split,
    trained: model_mod.TrainResult,
    prep: Preprocessing,
    metrics: dict[str, float],
    threshold: float,
    parity: dict[str, float],
    champion: dict[str, Any],
    baseline_run_id: str,
    onnx_model: onnx.ModelProto,
) -> dict[str, Any]:
    """The model run: params, per-epoch curves, metrics, lineage, and the verified ONNX model."""
    with mlflow.start_run(run_name="mlp") as run:
        tags = {
            **lineage_tags(settings),
            "role": "model",
            "train_window": split.train_window,
            "test_window": split.test_window,
            "threshold": repr(threshold),
            "parity.passed": "true",
            "baseline_run_id": baseline_run_id,
        }
        if "version" in champion:
            tags["champion.version_scored"] = str(champion["version"])
        else:
            tags["champion.scoring"] = champion.get("skipped", "")
        mlflow.set_tags(tags)
        mlflow.log_params(
            {
                "seed": settings.seed,
                "epochs": settings.epochs,
                "batch_size": settings.batch_size,
                "learning_rate": settings.learning_rate,
                "hidden_units": settings.hidden_units,
                "embedding_dim": model_mod.EMBEDDING_DIM,
                "dropout": model_mod.DROPOUT,
                "patience": model_mod.PATIENCE,
                "pos_weight": round(trained.pos_weight, 6),
                "min_category_count": MIN_CATEGORY_COUNT,
                "torch_threads": model_mod.use_threads(),
                "model_inputs": len(MODEL_INPUTS),
                **_window_params(split),
                **{f"vocab_{k}": len(v) for k, v in prep.vocabularies.items()},
            }
        )
        for row in trained.history:
            mlflow.log_metrics(
                {k: row[k] for k in ("train_loss", "val_loss", "val_auc")}, step=int(row["epoch"])
            )
        mlflow.log_metrics(
            {
                **metrics,
                "threshold": threshold,
                "parity_max_abs_diff": parity["max_abs_diff"],
                "best_epoch": trained.best_epoch,
                "epochs_run": trained.epochs_run,
            }
        )
        if "auc" in champion:
            mlflow.log_metric("champion_test_auc", champion["auc"])
        mlflow.log_dict(prep.to_dict(), "preprocessing.json")

        with tempfile.TemporaryDirectory() as tmp:
            # The hash of exactly the bytes MLflow stores; registration re-hashes the download.
            sha256 = save_onnx(onnx_model, Path(tmp) / "model.onnx")
        example = split.test.head(INPUT_EXAMPLE_ROWS)
        signature = infer_signature(onnx_feeds(example), predict_onnx(onnx_model, example))
        info = mlflow.onnx.log_model(
            onnx_model,
            name="model",
            signature=signature,
            input_example=onnx_feeds(example),
            save_as_external_data=False,
            onnx_execution_providers=["CPUExecutionProvider"],
            # Stated, not inferred: inference re-imports the model in a subprocess (~10 s here), and
            # the artifact needs exactly these two packages to run.
            pip_requirements=[f"onnx=={onnx.__version__}", f"onnxruntime=={onnxruntime.__version__}"],
        )
        mlflow.set_tags({"model_uri": info.model_uri, "model.sha256": sha256})
    return {"run_id": run.info.run_id, "model_uri": info.model_uri, "sha256": sha256}


def _log_failed_parity(settings: Settings, split: Split, metrics: dict[str, float], error: Exception) -> None:
    """Record a run that failed the export gate (status FAILED, no model), then the caller raises."""
    run = mlflow.start_run(run_name="mlp")
    mlflow.set_tags(
        {
            **lineage_tags(settings),
            "role": "model",
            "parity.passed": "false",
            "parity.error": str(error)[:500],
            "train_window": split.train_window,
        }
    )
    mlflow.log_metrics(metrics)
    mlflow.end_run(status="FAILED")
    log.error("export parity failed (run %s): %s", run.info.run_id, error)
