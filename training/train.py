"""The training pipeline step: split -> train -> baselines -> evaluate -> export + parity gate -> MLflow.

    from training.train import train_and_export
    result = train_and_export(settings, frame)      # frame from features.training_set
    result["run_id"], result["metrics"]["test_auc"], result["threshold"]
    result["comparison_sentences"]                  # network vs each baseline, paired bootstrap
    result["model_card"]                            # runs:/<run_id>/model_card.md

The Airflow task and the CLI call exactly this function; it returns a JSON-ready dict (XCom).
Registration is a separate step (training.registry) so a human or a gate can sit in between.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import mlflow
import numpy as np
import onnx
import onnxruntime
import pandas as pd
from mlflow.models import infer_signature

from features.contract import LABEL, MODEL_INPUTS, feature_service_version
from flightpath.settings import Settings
from flightpath.timing import timed
from training import model as model_mod
from training.baselines import (
    BASELINE_NAMES,
    GBDT_PARAMS,
    fit_gbdt_baseline,
    fit_logistic_baseline,
    fit_majority_baseline,
    predict_baseline,
)
from training.evaluate import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    at_threshold,
    binary_metrics,
    bootstrap_aucs,
    choose_threshold,
    compare_bootstraps,
)
from training.evidence import log_test_rows, score_champion
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
from training.report import MODEL_CARD, Report, ReportInputs, build_report
from training.split import Split, time_split
from training.tracking import code_version, configure_mlflow, dataset_fingerprint, lineage_tags

log = logging.getLogger(__name__)

INPUT_EXAMPLE_ROWS = 3


def encode(part: pd.DataFrame, prep: Preprocessing) -> Arrays:
    """A split part as model tensors (numeric NaN kept: the network imputes)."""
    return Arrays.of(numeric_matrix(part, prep.numeric), category_indices(part, prep), part[LABEL].to_numpy())


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": float(v) for k, v in metrics.items()}


class LoggedRun(TypedDict):
    """The model run as MLflow recorded it."""

    run_id: str
    model_uri: str
    sha256: str  # of the logged model.onnx bytes


class BaselineOutcome(TypedDict):
    run_id: str
    threshold: float
    metrics: dict[str, float]  # test_* only


class ComparisonOutcome(TypedDict):
    """The network against one baseline: paired bootstrap on the same test rows."""

    baseline: str
    auc_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    resamples: int
    sentence: str


class TrainingOutcome(LoggedRun):
    """What `train_and_export` returns: a dict (it crosses Airflow's XCom as JSON), with its keys typed."""

    baseline_run_id: str  # the logistic regression, which the first promotion must beat
    baseline_run_ids: dict[str, str]  # majority, logreg, gbdt
    baselines: dict[str, BaselineOutcome]
    comparisons: dict[str, ComparisonOutcome]
    comparison_sentences: list[str]
    model_card: str  # runs:/ URI
    evaluation_artifacts: list[str]
    slices: dict[str, Any]  # summary of the slice report
    threshold: float
    metrics: dict[str, float]  # test_auc, test_auc_ci_low/high, baseline_test_auc, vs_<baseline>.*, ...
    split: dict[str, Any]  # boundaries and row counts
    train_window: str
    test_window: str
    parity: dict[str, float]
    champion_comparison: dict[str, Any]
    epochs_run: int
    best_epoch: int
    phase_seconds: dict[str, float]


@dataclass
class Scored:
    """One model's validation-chosen threshold and metrics, and its test scores."""

    threshold: float
    metrics: dict[str, float]  # val_*, test_*, test_auc_ci_low/high
    p_test: np.ndarray  # (N_test,)
    boot_aucs: np.ndarray  # (BOOTSTRAP_RESAMPLES,) test AUC per resample (shared seed: paired)


def score(y_val: np.ndarray, p_val: np.ndarray, y_test: np.ndarray, p_test: np.ndarray) -> Scored:
    """Threshold on validation (max F1), then every metric on test plus a bootstrap AUC interval.

    Args:
        y_val, p_val: validation labels and probabilities (only the threshold comes from here).
        y_test, p_test: test labels and probabilities.
    Returns:
        Scored; every model (network and baselines) goes through this, so their numbers compare.
    """
    threshold = choose_threshold(y_val, p_val)
    boot = bootstrap_aucs(y_test, p_test, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    metrics = {
        **_prefixed("val", binary_metrics(y_val, p_val)),
        **_prefixed("test", binary_metrics(y_test, p_test)),
        **_prefixed("test", at_threshold(y_test, p_test, threshold)),
        "test_auc_ci_low": float(low),
        "test_auc_ci_high": float(high),
    }
    return Scored(threshold, metrics, np.asarray(p_test), boot)


def fit_baselines(split: Split, y_train: np.ndarray, seed: int) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Every baseline fitted on the train part: key -> (fitted estimator, params to log)."""
    return {
        "majority": (fit_majority_baseline(split.train, y_train), {"model": "DummyClassifier(strategy=prior)"}),
        "logreg": (
            fit_logistic_baseline(split.train, y_train, seed),
            {"model": "LogisticRegression(class_weight=balanced)", "min_category_count": MIN_CATEGORY_COUNT},
        ),
        "gbdt": (
            fit_gbdt_baseline(split.train, y_train, seed),
            {
                "model": "HistGradientBoostingClassifier(native categoricals)",
                "min_category_count": MIN_CATEGORY_COUNT,
                **GBDT_PARAMS,
            },
        ),
    }


def train_and_export(settings: Settings, frame: pd.DataFrame) -> TrainingOutcome:
    """Train the model and the baseline on a time split, export + verify ONNX, log to MLflow.

    Args:
        settings: training hyper-parameters, split lengths, MLflow location, names.
        frame: the training set: flight key columns, `cancelled`, the label and MODEL_INPUTS.
    Returns:
        TrainingOutcome: a JSON-serializable dict whose keys and types the class names.
    Raises:
        SplitError: the frame is too short for the configured windows.
        ExportParityError: ONNX disagrees with torch; a FAILED run records the evidence.
    """
    missing = [c for c in (*MODEL_INPUTS, LABEL, "cancelled", "day", "sched_dep_utc") if c not in frame.columns]
    if missing:
        raise ValueError(f"training frame lacks columns {missing}")
    seconds: dict[str, float] = {}

    with timed(seconds, "split"):
        split = time_split(frame, settings)
    log.info("split %s", split.summary())

    with timed(seconds, "train"):
        prep = fit_preprocessing(split.train)
        train_arrays, val_arrays, test_arrays = (encode(p, prep) for p in (split.train, split.validation, split.test))
        trained = train_ensemble(prep, train_arrays, val_arrays, settings)

    y_val, y_test = val_arrays.y.numpy(), test_arrays.y.numpy()
    with timed(seconds, "baseline"):
        fitted = fit_baselines(split, train_arrays.y.numpy(), settings.seed)
        baselines = {
            key: score(y_val, predict_baseline(est, split.validation), y_test, predict_baseline(est, split.test))
            for key, (est, _) in fitted.items()
        }

    with timed(seconds, "evaluate"):
        net = score(y_val, predict(trained.net, val_arrays), y_test, predict(trained.net, test_arrays))
        threshold = net.threshold
        # Paired: every model was bootstrapped on the same resamples (same seed, same rows).
        comparisons = {
            key: compare_bootstraps(net.boot_aucs, b.boot_aucs, BASELINE_NAMES[key]) for key, b in baselines.items()
        }
        metrics = dict(net.metrics)
        metrics.update(_prefixed("baseline", baselines["logreg"].metrics))  # the gate's baseline
        for key in ("gbdt", "majority"):
            metrics[f"{key}_test_auc"] = baselines[key].metrics["test_auc"]
        for key, comparison in comparisons.items():
            metrics.update(comparison.metrics(key))
        report = build_report(
            ReportInputs(
                test=split.test,
                y=y_test,
                scores={"network": net.p_test, **{k: b.p_test for k, b in baselines.items()}},
                names={"network": "network", **BASELINE_NAMES},
                threshold=threshold,
                metrics=metrics,
                comparisons=comparisons,
                facts={
                    "model_name": settings.model_name,
                    "split": split.summary(),
                    "feature_service": settings.feature_service,
                    "feature_service_version": feature_service_version(),
                    "code_version": code_version(),
                    "baseline_metrics": {k: b.metrics for k, b in baselines.items()},
                    "resamples": BOOTSTRAP_RESAMPLES,
                },
            )
        )
    for comparison in comparisons.values():
        log.info("the network %s", comparison.sentence())
    log.info(
        "test AUC %.4f (95%% CI %.4f..%.4f); threshold %.4f",
        metrics["test_auc"],
        metrics["test_auc_ci_low"],
        metrics["test_auc_ci_high"],
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
        baseline_run_ids = {
            key: _log_baseline_run(settings, split, key, params, baselines[key]) for key, (_, params) in fitted.items()
        }
        logged = _log_model_run(
            settings, split, trained, prep, metrics, threshold, parity, champion, baseline_run_ids, onnx_model, report
        )

    return {
        "run_id": logged["run_id"],
        "model_uri": logged["model_uri"],
        "sha256": logged["sha256"],
        "baseline_run_id": baseline_run_ids["logreg"],
        "baseline_run_ids": baseline_run_ids,
        "baselines": {
            key: {
                "run_id": baseline_run_ids[key],
                "threshold": b.threshold,
                "metrics": {k: v for k, v in b.metrics.items() if k.startswith("test_")},
            }
            for key, b in baselines.items()
        },
        "comparisons": {
            key: {
                "baseline": c.baseline,
                "auc_diff": c.auc_diff,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "p_value": c.p_value,
                "resamples": c.resamples,
                "sentence": f"The network {c.sentence()}.",
            }
            for key, c in comparisons.items()
        },
        "comparison_sentences": [f"The network {c.sentence()}." for c in comparisons.values()],
        "model_card": f"runs:/{logged['run_id']}/{MODEL_CARD}",
        "evaluation_artifacts": sorted(report.artifacts),
        "slices": report.summary,
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


def _log_baseline_run(settings: Settings, split: Split, key: str, params: dict[str, Any], scored: Scored) -> str:
    """One baseline as its own run (same split, same windows, the same metrics as the network).

    Args:
        key: "majority", "logreg" or "gbdt" (run name `baseline-<key>`, tag `baseline`).
        params: the baseline's own parameters; scored: its threshold and metrics.
    Returns:
        The run id.
    """
    with mlflow.start_run(run_name=f"baseline-{key}") as run:
        mlflow.set_tags(
            {
                **lineage_tags(settings),
                "role": "baseline",
                "baseline": key,
                "train_window": split.train_window,
                "test_window": split.test_window,
            }
        )
        mlflow.log_params({**params, "seed": settings.seed, **_window_params(split)})
        mlflow.log_metrics({**scored.metrics, "threshold": scored.threshold})
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
    baseline_run_ids: dict[str, str],
    onnx_model: onnx.ModelProto,
    report: Report,
) -> LoggedRun:
    """The model run: params, curves, metrics, lineage, the evaluation report and the ONNX model."""
    with mlflow.start_run(run_name="mlp") as run:
        tags = {
            **lineage_tags(settings),
            "role": "model",
            "train_window": split.train_window,
            "test_window": split.test_window,
            "threshold": repr(threshold),
            "parity.passed": "true",
            "baseline_run_id": baseline_run_ids["logreg"],
            "dataset_fingerprint": dataset_fingerprint(pd.concat([split.train, split.validation, split.test])),
            **{f"baseline_run_id.{k}": v for k, v in baseline_run_ids.items()},
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
                "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
                "bootstrap_seed": BOOTSTRAP_SEED,
                **_window_params(split),
                **{f"vocab_{k}": len(v) for k, v in prep.vocabularies.items()},
            }
        )
        for row in trained.history:
            mlflow.log_metrics({k: row[k] for k in ("train_loss", "val_loss", "val_auc")}, step=int(row["epoch"]))
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
        # The gate re-scores champion and challenger on exactly these rows (slices, latency), even
        # when registration happens later, from `flightpath promote RUN_ID`.
        log_test_rows(split.test)
        with tempfile.TemporaryDirectory() as tmp:
            for relative, data in report.artifacts.items():
                (Path(tmp) / relative).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / relative).write_bytes(data)
            mlflow.log_artifacts(tmp)  # model_card.md at the run's root, the rest under evaluation/

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
