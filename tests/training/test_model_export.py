"""The model and its ONNX artifact: contract, preprocessing in the graph, parity gate, determinism."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import numpy_helper
from training_frames import training_settings

from features.contract import CATEGORICAL_FEATURES, MODEL_INPUTS, NUMERIC_FEATURES
from flightpath.settings import Settings
from training.evaluate import binary_metrics
from training.export import (
    METADATA_KEYS,
    PARITY_MIN_ROWS,
    ExportParityError,
    check_parity,
    export_onnx,
    predict_onnx,
    predict_torch,
    save_onnx,
    session,
)
from training.model import FlightDelayNet, train_model
from training.preprocess import Preprocessing, fit_preprocessing
from training.split import Split, time_split
from training.train import encode

METADATA = {key: f"test-{key}" for key in METADATA_KEYS}


@dataclass
class Artifact:
    settings: Settings
    split: Split
    prep: Preprocessing
    net: FlightDelayNet
    model: onnx.ModelProto


def build(frame: pd.DataFrame, settings: Settings) -> Artifact:
    split = time_split(frame, settings)
    prep = fit_preprocessing(split.train)
    result = train_model(prep, encode(split.train, prep), encode(split.validation, prep), settings)
    return Artifact(settings, split, prep, result.net, export_onnx(result.net, prep, METADATA))


@pytest.fixture(scope="module")
def artifact(training_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    return build(training_frame, training_settings(tmp_path_factory.mktemp("export")))


def raw_rows(artifact: Artifact, n: int = 5) -> pd.DataFrame:
    return artifact.split.test[list(MODEL_INPUTS)].head(n).reset_index(drop=True)


def test_the_network_learns_the_signal(artifact: Artifact) -> None:
    test = artifact.split.test
    auc = binary_metrics(test["delayed"].to_numpy(), predict_torch(artifact.net, artifact.prep, test))["auc"]
    assert auc > 0.72  # the synthetic label has a real signal; a model that learnt nothing scores ~0.5


def test_artifact_matches_the_contract(artifact: Artifact, tmp_path: Path) -> None:
    model = artifact.model
    assert [i.name for i in model.graph.input] == list(MODEL_INPUTS)
    for inp in model.graph.input:
        t = inp.type.tensor_type
        expected = onnx.TensorProto.STRING if inp.name in CATEGORICAL_FEATURES else onnx.TensorProto.FLOAT
        assert t.elem_type == expected, inp.name
        assert len(t.shape.dim) == 1 and t.shape.dim[0].dim_param, f"{inp.name} must be 1-D with a symbolic batch"
    (out,) = model.graph.output
    assert out.name == "probability" and out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert len(out.type.tensor_type.shape.dim) == 1
    assert {p.key: p.value for p in model.metadata_props} == METADATA

    # One self-contained file: written alone into an empty folder, it loads and runs.
    path = tmp_path / "only" / "model.onnx"
    save_onnx(model, path)
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]
    loaded = onnx.load(str(path), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in loaded.graph.initializer)
    sess = session(path.read_bytes())
    for batch in (1, 7):  # dynamic batch: any size works
        p = predict_onnx(sess, raw_rows(artifact, batch))
        assert p.shape == (batch,) and p.dtype == np.float32


def test_imputation_and_category_lookup_happen_inside_the_graph(artifact: Artifact) -> None:
    prep = artifact.prep
    base = raw_rows(artifact, 1)
    rows = pd.concat([base] * 5, ignore_index=True)
    rows.loc[0, list(NUMERIC_FEATURES)] = np.nan  # every numeric missing
    rows.loc[1, list(NUMERIC_FEATURES)] = prep.medians  # imputed values, but without the "missing" flags
    rows.loc[2, list(CATEGORICAL_FEATURES)] = ["ZZ", "XXX", "NOWHERE"]  # never seen
    rows.loc[3, list(CATEGORICAL_FEATURES)] = ["QQ", "", "ALSO-NEW"]  # never seen, empty string
    rows.loc[4, "dest"] = "PSE"  # seen in train but rare: pooled into the same OOV bucket
    rows.loc[[2, 3, 4], list(NUMERIC_FEATURES)] = np.nan
    rows.loc[4, ["carrier", "origin"]] = ["QQ", ""]

    p_onnx = predict_onnx(artifact.model, rows)
    p_torch = predict_torch(artifact.net, prep, rows)
    assert np.isfinite(p_onnx).all() and ((p_onnx > 0) & (p_onnx < 1)).all()
    np.testing.assert_allclose(p_onnx, p_torch, rtol=0, atol=1e-5)
    # NaN -> median + a missing flag, in the graph: so "missing" is not the same as "median".
    assert p_onnx[0] != pytest.approx(p_onnx[1], abs=1e-6)
    assert p_onnx[2] == pytest.approx(p_onnx[3], abs=1e-6) == pytest.approx(p_onnx[4], abs=1e-6)  # all OOV
    assert "PSE" not in prep.vocabularies["dest"]


def test_parity_gate_passes_on_held_out_rows_with_injected_nans_and_unseen_categories(
    artifact: Artifact,
) -> None:
    report = check_parity(artifact.model, artifact.net, artifact.prep, artifact.split.test, seed=1)
    assert report["rows"] >= PARITY_MIN_ROWS
    assert report["unseen_category_rows"] > 100 and report["nan_cells"] > 1000
    assert report["max_abs_diff"] <= 1e-5
    # Fewer held-out rows than the minimum: rows are repeated (with fresh injections) up to it.
    small = check_parity(artifact.model, artifact.net, artifact.prep, artifact.split.test.head(300), seed=1)
    assert small["rows"] >= PARITY_MIN_ROWS


def _tampered_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    bad = copy.deepcopy(model)
    weights = max(
        (t for t in bad.graph.initializer if t.data_type == onnx.TensorProto.FLOAT),
        key=lambda t: int(np.prod(t.dims)),
    )  # the largest weight matrix
    weights.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights) * 1.05, weights.name))
    return bad


def _swapped_vocabulary(model: onnx.ModelProto) -> onnx.ModelProto:
    bad = copy.deepcopy(model)
    node = next(n for n in bad.graph.node if n.op_type == "LabelEncoder" and n.input[0] == "carrier")
    keys = next(a for a in node.attribute if a.name == "keys_strings")
    keys.strings[0], keys.strings[1] = keys.strings[1], keys.strings[0]
    return bad


@pytest.mark.parametrize("tamper", [_tampered_weights, _swapped_vocabulary], ids=["weights", "vocabulary"])
def test_parity_gate_raises_on_a_tampered_model(artifact: Artifact, tamper) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ExportParityError, match=r"max abs diff .* > 1e-05"):
        check_parity(tamper(artifact.model), artifact.net, artifact.prep, artifact.split.test, seed=1)


def test_export_refuses_metadata_that_breaks_the_contract(artifact: Artifact) -> None:
    with pytest.raises(ValueError, match="metadata keys must be exactly"):
        export_onnx(artifact.net, artifact.prep, {**METADATA, "extra": "x"})


def test_same_seed_gives_the_same_onnx_predictions(artifact: Artifact, training_frame: pd.DataFrame) -> None:
    rows = artifact.split.test
    again = build(training_frame, artifact.settings)
    np.testing.assert_array_equal(predict_onnx(again.model, rows), predict_onnx(artifact.model, rows))
    # ...and the assertion has teeth: another seed gives other weights, so other predictions.
    other = artifact.settings.model_copy(update={"seed": artifact.settings.seed + 1})
    split = time_split(training_frame, other)
    net = train_model(
        artifact.prep, encode(split.train, artifact.prep), encode(split.validation, artifact.prep), other
    ).net
    assert not np.array_equal(predict_torch(net, artifact.prep, rows), predict_torch(artifact.net, artifact.prep, rows))


def test_a_seed_ensemble_exports_as_one_graph_with_the_mean_logit(training_frame: pd.DataFrame, tmp_path: Path) -> None:
    import torch

    from training.model import SeedEnsemble, train_ensemble

    settings = training_settings(tmp_path, ensemble_size=2, epochs=2)
    split = time_split(training_frame, settings)
    prep = fit_preprocessing(split.train)
    val = encode(split.validation, prep)
    result = train_ensemble(prep, encode(split.train, prep), val, settings)
    assert isinstance(result.net, SeedEnsemble) and len(result.net.nets) == 2
    a, b = result.net.nets
    with torch.no_grad():  # members differ (different seeds) and the ensemble is their mean logit
        la, lb = a.logits(val.numeric, val.categorical), b.logits(val.numeric, val.categorical)
        assert not torch.allclose(la, lb)
        assert torch.allclose(result.net.logits(val.numeric, val.categorical), (la + lb) / 2)
    model = export_onnx(result.net, prep, METADATA)
    assert check_parity(model, result.net, prep, split.test, seed=1)["max_abs_diff"] <= 1e-5
