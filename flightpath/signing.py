"""Who made this model: an Ed25519 signature over (model name, version, sha256), made by the
pipeline when it registers a version and checked by serving before it loads one.

    sign_version(settings, name, version, sha256)  -> {TAG_SIGNATURE: ..., TAG_SIGNED_BY: ...}
    verify_version(settings, name, version, sha256, tags)   # raises SignatureError

The sha256 tag says the bytes arrived intact; it says nothing about who put them there: anyone who
can write to MLflow can upload a model, tag its checksum and move `champion`. The signature needs
the private key, which only the pipeline holds. Signing the version number too means a signature
cannot be copied onto a new version of old bytes; moving `champion` back to an older, signed
version is a rollback, which MLflow's own access control has to guard (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from flightpath.artifact import TAG_SIGNATURE, TAG_SIGNED_BY
from flightpath.errors import FlightpathError
from flightpath.settings import Settings

log = logging.getLogger(__name__)

_DOMAIN = b"flightpath model signature v1"  # a signature made for anything else never verifies here


class SignatureError(FlightpathError, ValueError):
    """A version is unsigned, signed by another key, or its signature does not verify."""


def _message(name: str, version: str, sha256: str) -> bytes:
    return b"\n".join([_DOMAIN, name.encode(), str(version).encode(), sha256.lower().encode()])


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint, so a refusal can say *which* key signed (e.g. after a key rotation)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(private_path: Path, public_path: Path) -> None:
    """A new pair: the private key readable by its owner only (0600), the public key by anyone."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over an existing key
    with os.fdopen(fd, "wb") as out:
        out.write(private_pem)
    public_path.write_bytes(public_pem)


def _private_key(settings: Settings) -> Ed25519PrivateKey:
    """The pipeline's key; on first use (both files absent, the embedded default) a new pair."""
    private_path, public_path = settings.signing_key_path, settings.verify_key_path
    if not private_path.exists():
        if public_path.exists():
            raise SignatureError(
                f"no signing key at {private_path}, but a public key at {public_path}: the pipeline "
                "needs the private key that matches it (FLIGHTPATH_MODEL_SIGNING_KEY)"
            )
        generate_keypair(private_path, public_path)
        log.warning("made a new model-signing key pair: %s (keep private), %s (for serving)", private_path, public_path)
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{private_path} is not an Ed25519 private key")
    return key


def _public_key(settings: Settings) -> Ed25519PublicKey:
    path = settings.verify_key_path
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise SignatureError(
            f"no model verify key at {path}: serving loads only signed models "
            "(set FLIGHTPATH_MODEL_VERIFY_KEY to the pipeline's public key)"
        ) from None
    except ValueError as exc:
        raise SignatureError(f"{path} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path} is not an Ed25519 public key")
    return key


def sign_version(settings: Settings, name: str, version: str, sha256: str) -> dict[str, str]:
    """The registry tags that prove the pipeline registered these bytes as this version."""
    key = _private_key(settings)
    signature = key.sign(_message(name, version, sha256))
    return {TAG_SIGNATURE: base64.b64encode(signature).decode(), TAG_SIGNED_BY: key_id(key.public_key())}


def verify_version(settings: Settings, name: str, version: str, sha256: str, tags: dict[str, str]) -> None:
    """Raises SignatureError unless `tags` carry a signature of (name, version, sha256) by our key."""
    public = _public_key(settings)
    signature = tags.get(TAG_SIGNATURE)
    if not signature:
        raise SignatureError(f"{name} v{version} is not signed: only versions the pipeline registered are served")
    try:
        public.verify(base64.b64decode(signature, validate=True), _message(name, version, sha256))
    except (InvalidSignature, ValueError):
        raise SignatureError(
            f"{name} v{version}: signature does not verify with key {key_id(public)} "
            f"(signed_by {tags.get(TAG_SIGNED_BY, 'unknown')}): not made by the pipeline for these bytes"
        ) from None
