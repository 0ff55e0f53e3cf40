"""The model artifact contract: the seam between training and serving, written down once.

Training writes what this module names; serving reads and checks it; neither imports the other.

    model.onnx                one self-contained ONNX file (no external data)
      inputs                  one 1-D tensor per name in features.contract.MODEL_INPUTS
      output "probability"    float32, shape [batch]
      metadata_props          METADATA_KEYS (threshold, feature service, training window, ...)
    registry                  model `settings.model_name`, aliases CHALLENGER and CHAMPION,
                              version tags TAG_* (sha256 of the bytes above, threshold, lineage)

    session = new_session(data)   # how both sides run it: one session per process, one thread

onnxruntime is imported inside `new_session`: the core is imported by processes that never run a
model (the CLI's `--help`, the DAG processor).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime as ort

MODEL_FILE = "model.onnx"
OUTPUT_NAME = "probability"

# ONNX metadata_props every exported model carries (exactly these keys).
METADATA_KEYS = (
    "feature_service",
    "feature_service_version",
    "threshold",
    "train_window",
    "code_version",
    "model_name",
)

# Registry aliases: a new version becomes CHALLENGER; the promotion gate moves CHAMPION.
CHAMPION = "champion"
CHALLENGER = "challenger"

# Registry version tags that serving and rollback rely on (training sets more, for people).
TAG_SHA256 = "sha256"  # of the model.onnx bytes; serving refuses anything else
TAG_THRESHOLD = "threshold"
TAG_FEATURE_SERVICE = "feature_service"
TAG_TRAIN_WINDOW = "train_window"
TAG_PREVIOUS_CHAMPION = "previous_champion"  # the lineage rollback and serving's stand-ins follow
TAG_GATE_DECISION = "gate.decision"
TAG_GATE_REASON = "gate.reason"
TAG_SIGNATURE = "signature"  # Ed25519 over (name, version, sha256) by the pipeline (flightpath/signing.py)
TAG_SIGNED_BY = "signed_by"  # the signing key's fingerprint, for people


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_hex(path.read_bytes())


def new_session(model_bytes: bytes) -> ort.InferenceSession:
    """An ONNX Runtime session as serving runs it (and the promotion gate times it): one intra-op
    thread, sequential execution, all graph optimizations. For a model this small more threads add
    tail latency and no throughput (docs/design.md, stack facts); scale with processes instead."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
