"""Training stage: time split, PyTorch model, ONNX export with a parity gate, MLflow registry.

    train_and_export(settings, frame)      training.train     -> run_id, metrics, threshold, split
    register_and_promote(settings, run_id) training.registry  -> version, aliases, gate decision
    rollback(settings)                     training.registry  -> champion back to previous_champion

Imports features.contract and flightpath only; the ONNX file is the seam to serving/.
"""
