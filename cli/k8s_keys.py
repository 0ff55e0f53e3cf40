"""The model-signing key pair handed to a cluster: a Secret for the pipeline jobs, a ConfigMap for serving.

    flightpath k8s signing-keys | kubectl -n flightpath apply -f -

The pair is made once, outside the cluster (<home>/k8s/keys), so that it survives the cluster: a
recreated cluster trusts the models the old one signed. The private half goes only to the pipeline's
pods (Secret model-signing-key); serving gets the public half (ConfigMap model-verify-key) and loads
only what it verifies (flightpath/signing.py).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from flightpath.signing import generate_keypair

PRIVATE, PUBLIC = "model-signing.key", "model-signing.pub"


def ensure_keypair(folder: Path) -> tuple[Path, Path]:
    """The pair in `folder`, made on first use; an existing pair is kept."""
    private, public = folder / PRIVATE, folder / PUBLIC
    if not private.exists():
        folder.mkdir(parents=True, exist_ok=True)
        generate_keypair(private, public)
    return private, public


def signing_objects(private: Path, public: Path, namespace: str = "flightpath") -> list[dict[str, Any]]:
    """The Secret (both halves: the pipeline signs with one and checks its own signature with the
    other) and the ConfigMap (the public half), as k8s/base/pipeline.yaml and serving.yaml mount them."""
    meta = {"namespace": namespace, "labels": {"app.kubernetes.io/part-of": "flightpath"}}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "model-signing-key", **meta},
            "type": "Opaque",
            "data": {f.name: base64.b64encode(f.read_bytes()).decode() for f in (private, public)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "model-verify-key", **meta},
            "data": {PUBLIC: public.read_text()},
        },
    ]
