"""The registry when things go wrong: a registration that died half-way, two promotions at once, a
rollback to a version whose bytes no longer match its checksum.

One home, three trained runs of the same settings (about 20 s each); every test starts from the
same registry state: v1 champion (the `base` fixture), then does its own damage on a fresh run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from training_frames import training_settings

from flightpath.artifact import CHAMPION, TAG_SHA256
from flightpath.settings import Settings
from training import registry as registry_mod
from training.registry import register_and_promote, rollback
from training.tracking import RegistryError, client
from training.train import train_and_export


@pytest.fixture(scope="module")
def trained(training_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A home with three finished runs of one good config, none registered yet (kept as a template)."""
    home = tmp_path_factory.mktemp("recovery") / "home"
    settings = training_settings(home, gate_latency_max_ratio=3.0)
    runs = [train_and_export(settings, training_frame)["run_id"] for _ in range(3)]
    return home, runs


@pytest.fixture
def world(trained: tuple[Path, list[str]], tmp_path: Path, training_frame: pd.DataFrame) -> tuple[Settings, list[str]]:
    """A copy of the template; v1 (the first run) registered and champion."""
    template, runs = trained
    home = tmp_path / "home"
    shutil.copytree(template, home)
    # The copied DB keeps the template's (absolute) artifact location: the runs' files are read there.
    # The tracking URI is set explicitly: training exports MLFLOW_TRACKING_URI (the template's), and
    # Settings would read it.
    settings = training_settings(home, gate_latency_max_ratio=3.0).model_copy(
        update={"mlflow_tracking_uri_override": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"}
    )
    first = register_and_promote(settings, runs[0], training_frame)
    assert first["champion"] == first["version"] == "1"
    return settings, runs


def _version_of(settings: Settings, run_id: str) -> mlflow.entities.model_registry.ModelVersion:
    (mv,) = client(settings).search_model_versions(f"name='{settings.model_name}' and run_id='{run_id}'")
    return mv


def test_a_registration_that_died_half_way_is_finished_by_the_retry(world, training_frame, monkeypatch):
    settings, runs = world

    def dies(*_args, **_kwargs):
        raise RuntimeError("worker killed while gathering evidence")

    monkeypatch.setattr(registry_mod, "gather_evidence", dies)
    with pytest.raises(RuntimeError, match="worker killed"):
        register_and_promote(settings, runs[1], training_frame)
    half = _version_of(settings, runs[1])
    assert "gate.decision" not in half.tags  # the version exists, undecided
    monkeypatch.undo()

    retry = register_and_promote(settings, runs[1], training_frame)
    assert retry["version"] == str(half.version) and retry["resumed"] and not retry["already_registered"]
    assert retry["decision"] in {"promoted", "rejected"} and retry["reason"] and retry["sha256"]
    assert "challenger" in retry["aliases"]
    again = register_and_promote(settings, runs[1], training_frame)
    assert again["already_registered"] and again["decision"] == retry["decision"]  # done: nothing re-run
    assert len(client(settings).search_model_versions(f"name='{settings.model_name}'")) == 2


def test_a_gate_does_not_promote_over_a_champion_it_never_judged(world, training_frame, monkeypatch):
    settings, runs = world
    other = register_and_promote(settings, runs[2], training_frame)  # v2, another promotion
    c = client(settings)
    c.set_registered_model_alias(settings.model_name, CHAMPION, "1")  # v1 again before ours starts
    real = registry_mod.gather_evidence

    def while_another_promotes(*args, **kwargs):
        out = real(*args, **kwargs)
        c.set_registered_model_alias(settings.model_name, CHAMPION, other["version"])  # the race
        return out

    monkeypatch.setattr(registry_mod, "gather_evidence", while_another_promotes)
    ours = register_and_promote(settings, runs[1], training_frame)
    assert ours["decision"] == "rejected" and "champion moved from v1 to v2" in ours["reason"]
    assert ours["champion"] == other["version"]  # the other promotion stands


def test_rollback_refuses_a_target_whose_bytes_do_not_match_its_checksum(world, training_frame):
    settings, runs = world
    second = register_and_promote(settings, runs[1], training_frame)
    c = client(settings)
    if second["decision"] != "promoted":  # the gate's call is not this test's subject: promote by hand
        c.set_model_version_tag(settings.model_name, second["version"], "previous_champion", "1")
        c.set_registered_model_alias(settings.model_name, CHAMPION, second["version"])
    c.set_model_version_tag(settings.model_name, "1", TAG_SHA256, "0" * 64)  # v1's bytes no longer match
    with pytest.raises(RegistryError, match="not rolled back, champion stays v2"):
        rollback(settings)
    assert str(c.get_model_version_by_alias(settings.model_name, CHAMPION).version) == "2"
