"""pipelines/replay.py: a short replay on the real data, end to end (lake, Feast, training, registry).

Train on Jan 1-21 (the training config users get: a shorter window or fewer epochs may not beat
the baseline, and then there is no first champion), replay Jan 22-24. The first champion's
recorded test ROC-AUC is raised to 0.99, so the first day with enough labelled answers is a quality
drop: the loop must retrain once (the cool-down holds it to once), the gate must decide, and the
table must show both arms.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from flightpath.settings import Settings

pytestmark = pytest.mark.integration

TRAIN_START, TRAIN_END = dt.date(2013, 1, 1), dt.date(2013, 1, 21)
REPLAY_START, REPLAY_END = dt.date(2013, 1, 22), dt.date(2013, 1, 24)


def _settings(home: Path, **overrides: object) -> Settings:
    return Settings(home=home, monitor_days=4, validation_days=3, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    from flightpath.registry_access import registry_client
    from monitoring.reference import current_champion
    from pipelines.replay import ensure_initial_champion, replay

    s = _settings(tmp_path_factory.mktemp("replay") / "home", quality_resamples=50)
    ensure_initial_champion(s, TRAIN_START, TRAIN_END)
    champ = current_champion(s)
    registry_client(s.mlflow_tracking_uri).set_model_version_tag(s.model_name, champ.version, "test_auc", "0.99")
    seen: list[dt.date] = []

    def progress(days):
        for day in days:
            seen.append(day)
            yield day

    result = replay(s, REPLAY_START, REPLAY_END, train_start=TRAIN_START, train_end=TRAIN_END, progress=progress)
    assert seen == [REPLAY_START, REPLAY_START + dt.timedelta(days=1), REPLAY_END]
    return s, result


def test_every_replayed_day_is_judged_and_the_quality_drop_retrains_once(replayed: tuple[Settings, dict]):
    _, result = replayed
    assert [d["day"] for d in result["days"]] == ["2013-01-22", "2013-01-23", "2013-01-24"]
    assert all(d["flights"] > 500 for d in result["days"])
    assert len(result["retrains"]) == 1, result["retrains"]  # the cool-down holds the second
    retrain = result["retrains"][0]
    assert "quality" in retrain["reason"]
    assert retrain["window"] == ["2013-01-01", retrain["day"]]
    assert retrain["decision"] in {"promoted", "rejected"} and retrain["gate_reason"]


def test_the_weekly_table_compares_both_arms_on_the_same_flights(replayed: tuple[Settings, dict]):
    s, result = replayed
    assert result["weeks"], "no week had labelled flights"
    for week in result["weeks"]:
        assert week["flights"] > 0
        for arm in ("static", "retrained"):
            auc = week[arm]
            assert auc is not None and auc["low"] <= auc["value"] <= auc["high"]
    folder = s.reports_dir / "replay"
    assert json.loads((folder / "replay.json").read_text())["window"] == ["2013-01-22", "2013-01-24"]
    md = (folder / "replay.md").read_text()
    assert "| week |" in md and "why the loop retrained" in md


def test_the_online_store_stands_at_the_replays_last_day(replayed: tuple[Settings, dict]):
    """The replay skips the daily materialization (nothing in it reads the store) and materializes
    once at the end: a service started on the replay's home answers as of its last day."""
    from features.feast_online import OnlineFeatureReader
    from features.keys import entity_keys

    s, _ = replayed
    keys = entity_keys("EWR", "IAH", "N14228", "UA", dt.datetime(2013, 1, 24, 18, 0))
    [feats] = OnlineFeatureReader(s).read([keys])  # type: ignore[list-item]
    stamps = [ts for ts in feats.event_timestamps.values() if ts is not None and ts.year == 2013]
    assert stamps and max(stamps).date() in {REPLAY_END, REPLAY_END + dt.timedelta(days=1)}


def test_a_replay_that_overlaps_its_training_window_is_refused(tmp_path: Path):
    from pipelines.replay import replay

    with pytest.raises(ValueError, match="must start after the training window"):
        replay(_settings(tmp_path / "home"), TRAIN_END, REPLAY_END, train_start=TRAIN_START, train_end=TRAIN_END)


# The Kubernetes jobs (pipelines/seed.py, pipelines/next_day.py) on the replayed home: last in this
# module, since next-day moves the lake and the online store one day on.


def test_seed_on_a_deployment_with_a_champion_changes_nothing(replayed: tuple[Settings, dict]):
    from monitoring.reference import current_champion
    from pipelines.seed import seed

    s, _ = replayed
    before = current_champion(s).version
    result = seed(s, TRAIN_START, TRAIN_END)
    assert result["seeded"] is False and result["champion"] == before == current_champion(s).version


def test_next_day_runs_the_day_after_the_newest_in_the_lake(replayed: tuple[Settings, dict]):
    from flightpath import lake
    from pipelines.next_day import next_day

    s, _ = replayed
    result = next_day(s)
    day = REPLAY_END + dt.timedelta(days=1)
    assert result["day"] == day.isoformat()
    assert max(lake.available_days(s.lake_dir, "curated", "flights")) == day
    assert result["ingest"]["curated"] > 0 and result["batch_score"]["flights"] > 0
    assert result["monitor"]["day"] == day.isoformat()
    assert (s.reports_dir / "monitoring" / day.isoformat() / "summary.json").exists()
