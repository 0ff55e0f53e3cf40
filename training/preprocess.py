"""Preprocessing constants learnt on the train part only, and the raw-frame -> array encoders.

The constants end up *inside* the ONNX graph (medians, means and stds as torch buffers; the
vocabularies in an ONNX-ML LabelEncoder), so serving sends raw values and can never drift from
what training did. Fitting them on train only keeps validation and test honest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import CATEGORICAL_FEATURES, NUMERIC_FEATURES

# A category seen fewer times than this in train joins the out-of-vocabulary bucket. That way the
# OOV embedding is *trained* (on rare destinations) instead of staying at its random init, and an
# unseen category at serving time lands on a row that means "rare", not on noise.
MIN_CATEGORY_COUNT = 20


@dataclass(frozen=True)
class Preprocessing:
    """Everything needed to turn raw feature values into model inputs."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    medians: np.ndarray  # (n_numeric,) float32: fills NaN
    means: np.ndarray  # (n_numeric,) float32: of the imputed train values
    stds: np.ndarray  # (n_numeric,) float32: never 0 (a constant column gets 1)
    vocabularies: dict[str, tuple[str, ...]]  # index i <-> vocab[i]; len(vocab) is the OOV index

    def oov_index(self, feature: str) -> int:
        return len(self.vocabularies[feature])

    def to_dict(self) -> dict[str, object]:
        """JSON-ready copy (logged to MLflow next to the model for audit)."""
        return {
            "numeric": {
                name: {
                    "median": float(self.medians[i]),
                    "mean": float(self.means[i]),
                    "std": float(self.stds[i]),
                }
                for i, name in enumerate(self.numeric)
            },
            "vocabularies": {k: list(v) for k, v in self.vocabularies.items()},
            "min_category_count": MIN_CATEGORY_COUNT,
        }


def categorical_strings(frame: pd.DataFrame, feature: str) -> np.ndarray:
    """A categorical column as an object array of str; missing becomes "" (which is OOV)."""
    return frame[feature].fillna("").astype(str).to_numpy(dtype=object)


def numeric_matrix(frame: pd.DataFrame, names: tuple[str, ...] = NUMERIC_FEATURES) -> np.ndarray:
    """(rows, n_numeric) float32 with NaN kept: the model imputes, not the caller."""
    return frame[list(names)].to_numpy(dtype=np.float32, na_value=np.nan)


def fit_preprocessing(train: pd.DataFrame) -> Preprocessing:
    """Learn imputation, scaling and vocabularies from the train part.

    Args:
        train: train rows with every name in NUMERIC_FEATURES and CATEGORICAL_FEATURES.
    Returns:
        The constants; a numeric column that is all NaN in train imputes to 0 (and scales by 1).
    """
    x = numeric_matrix(train)
    with np.errstate(all="ignore"):
        medians = np.nanmedian(x, axis=0) if len(x) else np.zeros(x.shape[1])
    medians = np.nan_to_num(medians, nan=0.0).astype(np.float32)
    imputed = np.where(np.isnan(x), medians, x)
    means = imputed.mean(axis=0).astype(np.float32)
    stds = imputed.std(axis=0).astype(np.float32)
    stds = np.where(stds > 1e-6, stds, 1.0).astype(np.float32)

    vocabularies = {}
    for name in CATEGORICAL_FEATURES:
        counts = pd.Series(categorical_strings(train, name)).value_counts()
        # Sorted, so the vocabulary (and the index of each category) does not depend on row order.
        vocabularies[name] = tuple(sorted(c for c, n in counts.items() if n >= MIN_CATEGORY_COUNT and c != ""))
    return Preprocessing(NUMERIC_FEATURES, CATEGORICAL_FEATURES, medians, means, stds, vocabularies)


def category_indices(frame: pd.DataFrame, prep: Preprocessing) -> np.ndarray:
    """(rows, n_categorical) int64 vocabulary indices; anything not in the vocabulary -> OOV.

    This is the Python twin of the LabelEncoder in the exported graph; the parity gate checks
    that the two agree (including on unseen categories).
    """
    columns = []
    for name in prep.categorical:
        lookup = {c: i for i, c in enumerate(prep.vocabularies[name])}
        oov = prep.oov_index(name)
        columns.append([lookup.get(c, oov) for c in categorical_strings(frame, name)])
    return np.asarray(columns, dtype=np.int64).T.reshape(len(frame), len(prep.categorical))
