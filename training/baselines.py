"""The baseline every model must beat: logistic regression on the same inputs and split.

Same treatment as the network (median imputation, standardization, rare categories pooled,
classes balanced), so a win for the MLP means the extra capacity helps, not that the baseline
was handicapped. The first champion has to beat this (registry.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from features.contract import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from training.preprocess import MIN_CATEGORY_COUNT, categorical_strings


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


def predict_baseline(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """(N,) probabilities of delay."""
    return pipeline.predict_proba(_inputs(frame))[:, 1]
