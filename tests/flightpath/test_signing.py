"""Model signatures (flightpath/signing.py): who registered these bytes as this version."""

from __future__ import annotations

import stat

import pytest

from flightpath.artifact import TAG_SIGNATURE, TAG_SIGNED_BY
from flightpath.settings import Settings
from flightpath.signing import SignatureError, sign_version, verify_version

SHA = "ab" * 32


def _settings(tmp_path, name: str = "pipeline") -> Settings:
    keys = tmp_path / name
    return Settings(home=keys, model_signing_key=keys / "k.key", model_verify_key=keys / "k.pub")


def test_the_first_signature_makes_a_private_key_only_its_owner_can_read(tmp_path):
    settings = _settings(tmp_path)
    tags = sign_version(settings, "flight-delay", "3", SHA)
    assert set(tags) == {TAG_SIGNATURE, TAG_SIGNED_BY}
    assert stat.S_IMODE(settings.signing_key_path.stat().st_mode) == 0o600
    verify_version(settings, "flight-delay", "3", SHA, tags)
    assert sign_version(settings, "flight-delay", "3", SHA)[TAG_SIGNED_BY] == tags[TAG_SIGNED_BY]  # same key reused


@pytest.mark.parametrize(
    ("name", "version", "sha256"),
    [("flight-delay", "4", SHA), ("other-model", "3", SHA), ("flight-delay", "3", "cd" * 32)],
)
def test_a_signature_binds_name_version_and_bytes(tmp_path, name, version, sha256):
    settings = _settings(tmp_path)
    tags = sign_version(settings, "flight-delay", "3", SHA)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_version(settings, name, version, sha256, tags)


def test_another_key_an_unsigned_version_and_garbage_are_refused(tmp_path):
    pipeline, forger = _settings(tmp_path), _settings(tmp_path, "forger")
    sign_version(pipeline, "flight-delay", "1", SHA)  # the pipeline's pair exists
    forged = sign_version(forger, "flight-delay", "1", SHA)
    with pytest.raises(SignatureError, match=f"signed_by {forged[TAG_SIGNED_BY]}"):
        verify_version(pipeline, "flight-delay", "1", SHA, forged)
    with pytest.raises(SignatureError, match="is not signed"):
        verify_version(pipeline, "flight-delay", "1", SHA, {})
    with pytest.raises(SignatureError, match="does not verify"):
        verify_version(pipeline, "flight-delay", "1", SHA, {TAG_SIGNATURE: "not base64!"})


def test_serving_without_a_public_key_refuses_with_the_setting_to_fix_it(tmp_path):
    with pytest.raises(SignatureError, match="FLIGHTPATH_MODEL_VERIFY_KEY"):
        verify_version(_settings(tmp_path), "flight-delay", "1", SHA, {TAG_SIGNATURE: "AAAA"})


def test_a_public_key_without_its_private_key_is_not_replaced(tmp_path):
    """A pipeline missing its key must not mint a new pair over the one serving trusts."""
    settings = _settings(tmp_path)
    settings.verify_key_path.parent.mkdir(parents=True)
    settings.verify_key_path.write_text("the key serving was given")
    with pytest.raises(SignatureError, match="FLIGHTPATH_MODEL_SIGNING_KEY"):
        sign_version(settings, "flight-delay", "1", SHA)
    assert settings.verify_key_path.read_text() == "the key serving was given"
