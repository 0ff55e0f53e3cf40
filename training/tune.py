"""A small, honest hyper-parameter search: a handful of configurations, chosen on validation only.

    from training.tune import search
    result = search(settings, frame)              # 4 default configurations
    result["chosen"], result["justification"]     # e.g. {"hidden_units": 128, "learning_rate": 0.002}

Each configuration is one MLflow run nested under a parent run ("tune"), trained on the train
window and scored on the validation window. The test window is never encoded, predicted or
logged here: it stays an unbiased estimate for the model trained afterwards with the chosen
configuration (train_and_export with those settings). Validation is also what early stopping
watches, so the chosen config's validation AUC is slightly optimistic; the test window is the
check on that. Nothing is exported or registered: search runs carry `role=tune`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import mlflow
import pandas as pd

from flightpath.settings import Settings
from training.evaluate import binary_metrics
from training.model import predict, train_ensemble
from training.preprocess import fit_preprocessing
from training.split import time_split
from training.tracking import configure_mlflow, lineage_tags
from training.train import encode

log = logging.getLogger(__name__)

# Settings fields a configuration may set; anything else is a typo and is refused.
TUNABLE = ("hidden_units", "learning_rate", "epochs", "batch_size", "ensemble_size")
# Two widths x two step sizes around the defaults (128, 2e-3); one network each, for speed.
DEFAULT_CONFIGS: tuple[dict[str, Any], ...] = (
    {"hidden_units": 64, "learning_rate": 2e-3},
    {"hidden_units": 64, "learning_rate": 5e-3},
    {"hidden_units": 128, "learning_rate": 2e-3},
    {"hidden_units": 128, "learning_rate": 5e-3},
)


def search(settings: Settings, frame: pd.DataFrame, configs: list[dict] | None = None) -> dict[str, Any]:
    """Train each configuration on the train window, score it on validation, pick the best.

    Args:
        settings: base training settings, split lengths and MLflow location; each configuration
            overrides some of its TUNABLE fields (ensemble_size defaults to 1 here).
        frame: the training set (as for train_and_export).
        configs: the configurations; DEFAULT_CONFIGS when None.
    Returns:
        {"parent_run_id", "chosen" (the winning config, ensemble_size included), "val_auc",
        "justification" (one line), "validation_window", "trials" ([{"config", "val_auc",
        "run_id", "epochs_run", "seconds"}] in the given order)}; JSON-ready.
    Raises:
        ValueError: empty configs, or a key outside TUNABLE.
        SplitError: the frame is too short for the configured windows.
    """
    configs = [dict(c) for c in (DEFAULT_CONFIGS if configs is None else configs)]
    if not configs:
        raise ValueError("need at least one configuration")
    for config in configs:
        unknown = sorted(set(config) - set(TUNABLE))
        if unknown:
            raise ValueError(f"configuration {config} sets {unknown}; tunable: {list(TUNABLE)}")
        config.setdefault("ensemble_size", 1)

    split = time_split(frame, settings)
    validation_window = f"{split.boundaries['validation_start']}..{split.boundaries['validation_end']}"
    prep = fit_preprocessing(split.train)
    train_arrays, val_arrays = encode(split.train, prep), encode(split.validation, prep)
    y_val = val_arrays.y.numpy()

    configure_mlflow(settings)
    trials: list[dict[str, Any]] = []
    with mlflow.start_run(run_name="tune") as parent:
        mlflow.set_tags(
            {
                **lineage_tags(settings),
                "role": "tune",
                "train_window": split.train_window,
                "validation_window": validation_window,
            }
        )
        mlflow.log_params(
            {"configs": len(configs), "train_rows": len(split.train), "validation_rows": len(split.validation)}
        )
        for i, config in enumerate(configs):
            trial_settings = settings.model_copy(update=config)
            t0 = time.perf_counter()
            with mlflow.start_run(run_name=f"tune-{i}", nested=True) as child:
                trained = train_ensemble(prep, train_arrays, val_arrays, trial_settings)
                metrics = binary_metrics(y_val, predict(trained.net, val_arrays))
                mlflow.set_tags({"role": "tune", "validation_window": validation_window})
                mlflow.log_params(
                    {
                        **config,
                        "seed": trial_settings.seed,
                        "epochs": trial_settings.epochs,
                        "batch_size": trial_settings.batch_size,
                    }
                )
                mlflow.log_metrics(
                    {
                        **{f"val_{k}": v for k, v in metrics.items()},
                        "epochs_run": trained.epochs_run,
                        "best_epoch": trained.best_epoch,
                    }
                )
            trials.append(
                {
                    "config": config,
                    "val_auc": metrics["auc"],
                    "run_id": child.info.run_id,
                    "epochs_run": trained.epochs_run,
                    "seconds": round(time.perf_counter() - t0, 2),
                }
            )
            log.info("tune %d/%d %s: validation AUC %.4f", i + 1, len(configs), config, metrics["auc"])

        # Highest validation AUC; ties go to the earlier (listed first = simpler/default) config.
        best = max(range(len(trials)), key=lambda i: (trials[i]["val_auc"], -i))
        chosen = trials[best]
        runner_up = max((t["val_auc"] for j, t in enumerate(trials) if j != best), default=None)
        margin = "" if runner_up is None else f" (next best {runner_up:.4f})"
        justification = (
            f"highest validation AUC {chosen['val_auc']:.4f}{margin} of {len(trials)} configurations on "
            f"{validation_window}; test window untouched"
        )
        mlflow.log_params({f"chosen_{k}": v for k, v in chosen["config"].items()})
        mlflow.log_metric("chosen_val_auc", chosen["val_auc"])
        mlflow.set_tags({"tune.chosen_run_id": chosen["run_id"], "tune.justification": justification})

    return {
        "parent_run_id": parent.info.run_id,
        "chosen": chosen["config"],
        "val_auc": chosen["val_auc"],
        "justification": justification,
        "validation_window": validation_window,
        "trials": trials,
    }
