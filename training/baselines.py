"""The baselines every model is measured against, all fitted on the same train part.

majority  predicts the train positive rate for every flight: AUC 0.5 by construction; it is
          the floor for log loss and Brier (what "knowing nothing but the base rate" scores)
logreg    logistic regression with the network's treatment (median imputation,
          standardization, rare categories pooled, classes balanced), so a win for the MLP
          means the extra capacity helps, not that the baseline was handicapped. The first
          champion has to beat this one (registry.py).
gbdt      histogram gradient-boosted trees with native categorical splits: the strong
          tabular baseline. If the network cannot beat it, the network is not earning its
          export complexity, and the model card says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from features.contract import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from training.preprocess import MIN_CATEGORY_COUNT, categorical_strings

# key -> the name used in runs, sentences and the model card. `logreg` stays *the* baseline of
# the result's `baseline_*` metrics and of the first-champion gate.
BASELINE_NAMES: dict[str, str] = {
    "majority": "the majority-class baseline",
    "logreg": "logistic regression",
    "gbdt": "gradient-boosted trees",
}
# Gradient boosting: learning rate and leaf count are sklearn's defaults; early stopping on 10% of
# train (a random slice, not our validation days, so validation stays for the threshold).
# Measured on Jan-Mar 2013 (53k train rows, 2 busy vCPUs): 3-4.5 s, early-stopped after 83 iterations.
GBDT_PARAMS: dict[str, object] = {
    "max_iter": 300,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 10,
}


def _inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Numerics as float (NaN kept for the imputer), categoricals as str (missing -> "")."""
    out = frame[list(NUMERIC_FEATURES)].astype("float64")
    for name in CATEGORICAL_FEATURES:
        out[name] = categorical_strings(frame, name)
    return out


def fit_logistic_baseline(train: pd.DataFrame, label: np.ndarray, seed: int) -> Pipeline:
    """Fit imputer + scaler + one-hot + logistic regression on the train part.

    Args:
        train: raw train rows (MODEL_INPUTS columns).
        label: (N,) 0/1 labels.
        seed: for the solver (lbfgs is deterministic; kept for symmetry with the network).
    Returns:
        A fitted scikit-learn Pipeline; use `predict_baseline`.
    """
    columns = ColumnTransformer(
        [
            # keep_empty_features: a column all-NaN in train still occupies its slot (imputed to 0).
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
                list(NUMERIC_FEATURES),
            ),
            # infrequent_if_exist: rare and unseen categories share one column, like the network's OOV row.
            (
                "categorical",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY_COUNT),
                list(CATEGORICAL_FEATURES),
            ),
        ]
    )
    model = LogisticRegression(max_iter=1_000, class_weight="balanced", random_state=seed)
    return Pipeline([("columns", columns), ("model", model)]).fit(_inputs(train), np.asarray(label))


def predict_baseline(pipeline: Pipeline | DummyClassifier, frame: pd.DataFrame) -> np.ndarray:
    """(N,) probabilities of delay from any fitted baseline."""
    return pipeline.predict_proba(_inputs(frame))[:, 1]


def fit_majority_baseline(train: pd.DataFrame, label: np.ndarray) -> DummyClassifier:
    """Predict the train positive rate for every row (strategy="prior").

    Args:
        train: raw train rows (ignored apart from their count: the point of this baseline).
        label: (N,) 0/1 labels.
    Returns:
        A fitted DummyClassifier; use `predict_baseline`.
    """
    return DummyClassifier(strategy="prior").fit(_inputs(train), np.asarray(label))


def fit_gbdt_baseline(train: pd.DataFrame, label: np.ndarray, seed: int) -> Pipeline:
    """Fit histogram gradient boosting with native categorical splits on the train part.

    Categories become ordinal codes (rare ones pooled like the network's OOV bucket, unseen ones
    NaN, which the trees route like a missing value); numerics go in raw, NaN and all, since the
    trees learn where missing values go. No class weighting: AUC does not need it, and the
    threshold is chosen on validation anyway.

    Args:
        train: raw train rows (MODEL_INPUTS columns).
        label: (N,) 0/1 labels.
        seed: random_state for the early-stopping split (fixed: reruns give the same trees).
    Returns:
        A fitted scikit-learn Pipeline; use `predict_baseline`.
    """
    n_num = len(NUMERIC_FEATURES)
    columns = ColumnTransformer(
        [
            ("numeric", "passthrough", list(NUMERIC_FEATURES)),
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    min_frequency=MIN_CATEGORY_COUNT,
                    dtype=np.float64,
                ),
                list(CATEGORICAL_FEATURES),
            ),
        ]
    )
    categorical = [n_num + i for i in range(len(CATEGORICAL_FEATURES))]  # positions after the transform
    model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=seed, **GBDT_PARAMS)
    return Pipeline([("columns", columns), ("model", model)]).fit(_inputs(train), np.asarray(label))
