"""Export the trained network to the ONNX artifact, and the parity gate that guards it.

The artifact contract (docs/design.md, "The model artifact"):
    inputs   one 1-D tensor per raw feature, named after it, in contract.MODEL_INPUTS order:
             float32 for numbers (NaN = missing), string for categoricals
    output   `probability`, float32, shape [batch]; the batch dimension is dynamic
    inside   median imputation + standardization (torch buffers), category -> index with an
             out-of-vocabulary bucket (ONNX-ML LabelEncoder, merged in front of the torch graph)
    metadata feature_service, feature_service_version, threshold, train_window, code_version, model_name
    one self-contained file: no external data

Why the gate: the file, not the torch module, is what serves. An exporter bug, an op with
different NaN semantics or a vocabulary mix-up would silently change predictions, so the
pipeline compares ONNX Runtime with torch on held-out rows (with unseen categories and NaNs
injected) and refuses to continue if they differ by more than PARITY_TOLERANCE.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import torch
from onnx import TensorProto, compose, helper
from torch import nn

from features.contract import CATEGORICAL_FEATURES, MODEL_INPUTS, NUMERIC_FEATURES
from flightpath.artifact import METADATA_KEYS, OUTPUT_NAME, sha256_hex
from flightpath.errors import FlightpathError
from training.model import Arrays, FlightDelayNet, SeedEnsemble, predict
from training.preprocess import Preprocessing, categorical_strings, category_indices, numeric_matrix

PARITY_TOLERANCE = 1e-5  # max |p_onnx - p_torch|; measured differences are ~1e-7
PARITY_MIN_ROWS = 1_000
# The share of parity rows whose categoricals / numeric cells are overwritten with an unseen
# category / NaN, so the OOV bucket and the imputation are exercised on purpose.
PARITY_INJECT_SHARE = 0.1
UNSEEN_CATEGORY = "__unseen__"
ML_OPSET = 3  # ai.onnx.ml: LabelEncoder with keys_strings / values_int64s / default_int64


class ExportParityError(FlightpathError, RuntimeError):
    """ONNX Runtime and torch disagree on the same rows: the artifact must not be registered."""


class _PerFeatureInputs(nn.Module):
    """Export-only wrapper: one 1-D input per feature (the artifact's calling convention).

    Training uses matrices (fast); the artifact takes one named tensor per feature so a client
    never has to know the column order.
    """

    def __init__(self, net: FlightDelayNet | SeedEnsemble, n_numeric: int):
        super().__init__()
        self.net = net
        self.n_numeric = n_numeric

    def forward(self, *columns: torch.Tensor) -> torch.Tensor:
        numeric = torch.stack(columns[: self.n_numeric], dim=1)  # (B, n_num) float32
        categorical = torch.stack(columns[self.n_numeric :], dim=1)  # (B, n_cat) int64
        return self.net(numeric, categorical)  # (B,)


def _index_name(feature: str) -> str:
    """Name of the int64 index tensor between the LabelEncoder and the torch graph."""
    return f"{feature}__index"


def _export_torch(net: FlightDelayNet | SeedEnsemble, prep: Preprocessing) -> onnx.ModelProto:
    """The torch part: numeric float inputs + categorical int64 index inputs -> probability."""
    wrapper = _PerFeatureInputs(net, len(prep.numeric)).eval()
    batch = 4  # example batch; the exported batch dimension is symbolic
    args = tuple(torch.zeros(batch) for _ in prep.numeric) + tuple(
        torch.zeros(batch, dtype=torch.int64) for _ in prep.categorical
    )
    dim = torch.export.Dim("batch")
    program = torch.onnx.export(
        wrapper,
        args,
        dynamo=True,
        verbose=False,
        input_names=[*prep.numeric, *(_index_name(c) for c in prep.categorical)],
        output_names=[OUTPUT_NAME],
        # Without a dynamic dimension the example's batch size would be baked into the graph.
        dynamic_shapes=(tuple({0: dim} for _ in args),),
    )
    if program is None:  # only when exporting to a file path, which we do not
        raise RuntimeError("torch.onnx.export returned no program")
    return program.model_proto


def _category_lookup(prep: Preprocessing, like: onnx.ModelProto) -> onnx.ModelProto:
    """String inputs -> int64 indices via LabelEncoder; unknown strings -> the OOV index."""
    inputs, outputs, nodes = [], [], []
    for name in prep.categorical:
        vocab = list(prep.vocabularies[name])
        inputs.append(helper.make_tensor_value_info(name, TensorProto.STRING, ["batch"]))
        outputs.append(helper.make_tensor_value_info(_index_name(name), TensorProto.INT64, ["batch"]))
        nodes.append(
            helper.make_node(
                "LabelEncoder",
                [name],
                [_index_name(name)],
                name=f"lookup_{name}",
                domain="ai.onnx.ml",
                keys_strings=vocab,
                values_int64s=list(range(len(vocab))),
                default_int64=len(vocab),
            )
        )
    graph = helper.make_graph(nodes, "category_lookup", inputs, outputs)
    opset = next(o.version for o in like.opset_import if o.domain in ("", "ai.onnx"))
    # merge_models requires both sides to share the IR version and the default-domain opset.
    return helper.make_model(
        graph,
        ir_version=like.ir_version,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
    )


def export_onnx(net: FlightDelayNet | SeedEnsemble, prep: Preprocessing, metadata: dict[str, str]) -> onnx.ModelProto:
    """Build the artifact: category lookup merged in front of the exported torch graph.

    Args:
        net: trained network (eval mode is set here).
        prep: vocabularies for the LabelEncoder (the numeric constants are already in `net`).
        metadata: exactly METADATA_KEYS -> str, stored as metadata_props.
    Returns:
        A checked ModelProto whose inputs are MODEL_INPUTS (in that order) and output `probability`.
    """
    if set(metadata) != set(METADATA_KEYS):
        raise ValueError(f"metadata keys must be exactly {METADATA_KEYS}, got {sorted(metadata)}")
    torch_part = _export_torch(net.eval(), prep)
    # Prefix the torch graph's internal names so they cannot clash with the lookup graph's; its
    # inputs (the io_map targets and the numeric features) and output keep their contract names.
    torch_part = compose.add_prefix(torch_part, "net/", rename_inputs=False, rename_outputs=False)
    lookup = _category_lookup(prep, torch_part)
    model = compose.merge_models(
        lookup, torch_part, io_map=[(_index_name(c), _index_name(c)) for c in prep.categorical]
    )

    # merge_models lists the lookup's inputs first; put them in contract order for readability.
    by_name = {i.name: i for i in model.graph.input}
    ordered = [by_name[name] for name in MODEL_INPUTS]
    del model.graph.input[:]
    model.graph.input.extend(ordered)
    # merge_models can repeat an opset import; keep one entry per domain.
    opsets = {o.domain: o.version for o in model.opset_import}
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets.items())

    del model.metadata_props[:]
    onnx.helper.set_model_props(model, dict(metadata))
    model.graph.name = "flight_delay"
    onnx.checker.check_model(model, full_check=True)
    return model


def model_bytes(model: onnx.ModelProto) -> bytes:
    """The serialized artifact (everything inline: the model is far below protobuf's 2 GB)."""
    return model.SerializeToString()


def save_onnx(model: onnx.ModelProto, path: Path) -> str:
    """Write one self-contained file and return the sha256 of its bytes."""
    data = model_bytes(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha256_hex(data)


def onnx_feeds(
    frame: pd.DataFrame,
    numeric: Iterable[str] = NUMERIC_FEATURES,
    categorical: Iterable[str] = CATEGORICAL_FEATURES,
) -> dict[str, np.ndarray]:
    """Raw feature columns -> ONNX Runtime feeds: float32 (NaN kept) and object arrays of str."""
    feeds = {name: frame[name].to_numpy(dtype=np.float32, na_value=np.nan) for name in numeric}
    feeds.update({name: categorical_strings(frame, name) for name in categorical})
    return feeds


def session(model: onnx.ModelProto | bytes) -> ort.InferenceSession:
    data = model if isinstance(model, bytes) else model_bytes(model)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def predict_onnx(model: onnx.ModelProto | bytes | ort.InferenceSession, frame: pd.DataFrame) -> np.ndarray:
    """(N,) float32 probabilities from an artifact, given raw feature columns.

    The feeds follow the artifact's own declared inputs (string vs float), so this also scores an
    older champion whose feature set differs from the current contract, as long as the frame
    has its columns.
    """
    sess = model if isinstance(model, ort.InferenceSession) else session(model)
    inputs = sess.get_inputs()
    strings = [i.name for i in inputs if i.type == "tensor(string)"]
    numbers = [i.name for i in inputs if i.type != "tensor(string)"]
    return sess.run([OUTPUT_NAME], onnx_feeds(frame, numbers, strings))[0]


def predict_torch(net: FlightDelayNet | SeedEnsemble, prep: Preprocessing, frame: pd.DataFrame) -> np.ndarray:
    """(N,) float32 probabilities from torch, encoding categoricals in Python (not the graph)."""
    data = Arrays.of(numeric_matrix(frame, prep.numeric), category_indices(frame, prep), np.zeros(len(frame)))
    return predict(net, data)


def parity_rows(held_out: pd.DataFrame, seed: int, rows: int = PARITY_MIN_ROWS) -> pd.DataFrame:
    """At least `rows` held-out rows with unseen categories and NaNs injected.

    Args:
        held_out: rows the model did not train on (the test part); repeated if shorter than `rows`.
        seed: for which cells get overwritten.
    Returns:
        A copy with MODEL_INPUTS columns: PARITY_INJECT_SHARE of each categorical replaced by an
        unseen category and the same share of numeric cells set to NaN.
    """
    if held_out.empty:
        raise ExportParityError("no held-out rows to check parity on")
    rng = np.random.default_rng(seed)
    repeats = -(-rows // len(held_out))  # ceil
    frame = (
        pd.concat([held_out[list(MODEL_INPUTS)]] * repeats, ignore_index=True)
        if repeats > 1
        else held_out[list(MODEL_INPUTS)].reset_index(drop=True).copy()
    )
    for name in CATEGORICAL_FEATURES:
        hit = rng.random(len(frame)) < PARITY_INJECT_SHARE
        frame[name] = categorical_strings(frame, name)
        frame.loc[hit, name] = f"{UNSEEN_CATEGORY}{name}"
    for name in NUMERIC_FEATURES:
        frame[name] = frame[name].astype("float32")
        frame.loc[rng.random(len(frame)) < PARITY_INJECT_SHARE, name] = np.nan
    return frame


def check_parity(
    model: onnx.ModelProto | bytes,
    net: FlightDelayNet | SeedEnsemble,
    prep: Preprocessing,
    held_out: pd.DataFrame,
    seed: int,
    tolerance: float = PARITY_TOLERANCE,
) -> dict[str, float]:
    """The export gate: ONNX Runtime must reproduce torch on held-out rows.

    Args:
        model: the artifact (as built by export_onnx, or its bytes).
        net, prep: the torch network and the Python-side encoding it was trained with.
        held_out: raw rows not used for training (at least PARITY_MIN_ROWS after repetition).
        seed: for the injected unseen categories and NaNs.
        tolerance: max allowed absolute difference in probability.
    Returns:
        {"max_abs_diff", "rows", "unseen_category_rows", "nan_cells"} (JSON-ready).
    Raises:
        ExportParityError: if any probability differs by more than `tolerance`, is not finite,
            or the output shape is wrong.
    """
    rows = parity_rows(held_out, seed)
    p_onnx = predict_onnx(model, rows)
    p_torch = predict_torch(net, prep, rows)
    if p_onnx.shape != (len(rows),) or p_onnx.dtype != np.float32:
        raise ExportParityError(f"ONNX output is {p_onnx.dtype}{p_onnx.shape}, expected float32({len(rows)},)")
    if not np.isfinite(p_onnx).all():
        raise ExportParityError(f"ONNX returned {int((~np.isfinite(p_onnx)).sum())} non-finite probabilities")
    diff = np.abs(p_onnx.astype(np.float64) - p_torch.astype(np.float64))
    worst = float(diff.max())
    if worst > tolerance:
        i = int(diff.argmax())
        raise ExportParityError(
            f"ONNX vs torch max abs diff {worst:.3g} > {tolerance:g} on {len(rows)} rows "
            f"({int((diff > tolerance).sum())} rows over; worst row {i}: "
            f"onnx={p_onnx[i]:.6f} torch={p_torch[i]:.6f})"
        )
    unseen = rows[list(CATEGORICAL_FEATURES)].apply(lambda c: c.str.startswith(UNSEEN_CATEGORY)).any(axis=1)
    return {
        "max_abs_diff": worst,
        "rows": len(rows),
        "unseen_category_rows": int(unseen.sum()),
        "nan_cells": int(rows[list(NUMERIC_FEATURES)].isna().sum().sum()),
    }
