"""Behavioural tests of a trained model, through the exported ONNX file (what serving runs).

Made-With-ML's three kinds: invariance (what must not change the score), directional (what must
move it one way), minimum functionality (cases any useful model gets right). The synthetic frame's
label rises with snow (cold and wet), low visibility, the evening peak and carrier EV at EWR, so
these expectations are facts about the data, not hopes about the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import pandas as pd
import pytest
from training_frames import training_settings

from features.contract import MODEL_INPUTS
from training.evaluate import choose_threshold
from training.export import export_onnx, onnx_feeds, predict_onnx, session
from training.model import train_model
from training.preprocess import fit_preprocessing
from training.split import Split, time_split
from training.train import encode

METADATA = {
    "feature_service": "test",
    "feature_service_version": "test",
    "threshold": "0.5",
    "train_window": "test",
    "code_version": "test",
    "model_name": "test",
}


@dataclass
class Trained:
    split: Split
    model: onnx.ModelProto
    threshold: float  # chosen on validation, as in train_and_export

    def score(self, rows: pd.DataFrame) -> np.ndarray:
        return predict_onnx(self.sess, rows)

    def __post_init__(self) -> None:
        self.sess = session(self.model)


@pytest.fixture(scope="module")
def trained(training_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    settings = training_settings(tmp_path_factory.mktemp("behaviour"))
    split = time_split(training_frame, settings)
    prep = fit_preprocessing(split.train)
    net = train_model(prep, encode(split.train, prep), encode(split.validation, prep), settings).net
    model = export_onnx(net, prep, METADATA)
    p_val = predict_onnx(model, split.validation)
    return Trained(split, model, choose_threshold(split.validation["delayed"].to_numpy(), p_val))


# -- invariance ---------------------------------------------------------------------------------


def test_columns_the_model_does_not_take_do_not_change_the_score(trained: Trained) -> None:
    rows = trained.split.test
    assert not {"flight", "tailnum", "dep_delay", "delayed"} & {i.name for i in trained.model.graph.input}
    changed = rows.assign(
        flight=rows["flight"] + 1_000,
        tailnum="N00000",
        dep_delay=-60.0,  # the label's own source: a leak would show here
        delayed=1.0 - rows["delayed"],
    )
    np.testing.assert_array_equal(trained.score(changed), trained.score(rows))


def test_scores_are_per_row_whatever_the_batch_order(trained: Trained) -> None:
    rows = trained.split.test.reset_index(drop=True)
    order = np.random.default_rng(0).permutation(len(rows))
    p, p_shuffled = trained.score(rows), trained.score(rows.iloc[order])
    np.testing.assert_allclose(p_shuffled, p[order], rtol=0, atol=1e-6)
    # ...and a row alone scores what it scored inside the batch.
    np.testing.assert_allclose(trained.score(rows.iloc[[17]]), p[[17]], rtol=0, atol=1e-6)


def test_every_unseen_carrier_lands_in_the_same_bucket(trained: Trained) -> None:
    rows = trained.split.test.head(200)
    unseen = [trained.score(rows.assign(carrier=c)) for c in ("ZZ", "Q9", "", "ev")]  # "ev" != "EV"
    for p in unseen[1:]:
        np.testing.assert_array_equal(p, unseen[0])
    # The bucket is not a no-op: the OOV carrier differs from a known one.
    assert not np.allclose(unseen[0], trained.score(rows.assign(carrier="DL")))


# -- directional --------------------------------------------------------------------------------


def test_worse_weather_does_not_lower_the_delay_probability(trained: Trained) -> None:
    rows = trained.split.test
    stormy = rows.assign(wx_visib=0.5, wx_temp=25.0, wx_precip=0.3)  # snow and fog
    p, p_stormy = trained.score(rows), trained.score(stormy)
    assert p_stormy.mean() > p.mean() + 0.05
    assert (p_stormy > p).mean() > 0.5
    # Visibility alone, at fixed temperature and precipitation, points the same way.
    p_fog = trained.score(rows.assign(wx_visib=0.5))
    assert p_fog.mean() > trained.score(rows.assign(wx_visib=10.0)).mean()


def test_a_bad_recent_carrier_record_raises_the_probability(trained: Trained) -> None:
    rows = trained.split.test
    worse = trained.score(rows.assign(carrier_delay_rate_7d=0.5))
    better = trained.score(rows.assign(carrier_delay_rate_7d=0.05))
    assert worse.mean() > better.mean() and (worse > better).mean() > 0.5


# -- minimum functionality ----------------------------------------------------------------------


def test_a_snowy_evening_flight_is_flagged_and_a_clear_morning_one_is_not(trained: Trained) -> None:
    base = trained.split.test[list(MODEL_INPUTS)].head(1).reset_index(drop=True)
    bad = base.assign(
        carrier="EV",
        origin="EWR",
        sched_hour=18.5,
        wx_temp=25.0,
        wx_precip=0.3,
        wx_visib=1.0,
        carrier_delay_rate_7d=0.45,
    )
    clear = base.assign(
        carrier="DL",
        origin="LGA",
        sched_hour=7.0,
        wx_temp=50.0,
        wx_precip=0.0,
        wx_visib=10.0,
        carrier_delay_rate_7d=0.10,
    )
    p_bad, p_clear = trained.score(bad)[0], trained.score(clear)[0]
    assert p_bad > trained.threshold > p_clear, (p_bad, trained.threshold, p_clear)
    assert set(onnx_feeds(bad)) == set(MODEL_INPUTS)  # a full serving-shaped request
