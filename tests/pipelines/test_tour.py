"""`flightpath tour`: each stop shows what the demo really left in the home, next to its note."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from flightpath import settings as settings_module
from pipelines import tour
from tests.pipelines.conftest import DemoRun

STAGE_NOTES = sorted(
    {
        "pipelines/NOTES.md",
        "features/NOTES.md",
        "training/NOTES.md",
        "serving/NOTES.md",
        "monitoring/NOTES.md",
        "infra/NOTES.md",
        "k8s/NOTES.md",
    }
)


@pytest.mark.parametrize("note", STAGE_NOTES)
def test_every_note_opens_with_a_five_line_summary(note: str) -> None:
    lines = tour.note_summary(tour.ROOT / note)
    assert len(lines) == 5 and all(len(line) > 20 for line in lines), lines


def test_a_note_without_its_summary_is_refused(tmp_path: Path) -> None:
    note = tmp_path / "NOTES.md"
    note.write_text("# x\n\n- one\n- two\n  wrapped\n\n## The idea\n")
    with pytest.raises(ValueError, match="5-line summary list, found 2"):
        tour.note_summary(note)


@pytest.mark.integration
def test_each_stop_shows_the_homes_real_artifacts(demo_run: DemoRun, monkeypatch: pytest.MonkeyPatch) -> None:
    s = demo_run.enter(monkeypatch)
    steps = demo_run.summary["steps"]
    built = [build() for build in tour.stops(s, serve=True)]
    text = {stop.note: "\n".join(stop.artifact) for stop in built}
    assert [stop.note for stop in built] == [
        "pipelines/NOTES.md",
        "features/NOTES.md",
        "training/NOTES.md",
        "serving/NOTES.md",
        "monitoring/NOTES.md",
    ]

    # the lake: 28 curated flight partitions holding exactly the rows the ingest step kept
    curated = re.search(r"curated\s+flights\s+(\d+) daily partitions,\s+([\d,]+) rows", text["pipelines/NOTES.md"])
    assert curated and int(curated[1]) == 28
    assert int(curated[2].replace(",", "")) == steps["ingest"]["flights"]["curated"]
    assert "quarantined" in text["pipelines/NOTES.md"] and "reason '" in text["pipelines/NOTES.md"]
    if steps["ingest"]["flights"]["quarantined"] == 0:  # then the rules are shown on a real row made wrong
        assert "reason 'bad_distance'" in text["pipelines/NOTES.md"]

    # Feast: a vector for the sample flight, each view with the time its value was known
    features = text["features/NOTES.md"]
    assert '"route":' in features and '"origin_hour":' in features
    stamps = re.findall(r"^  (\w+)\s+(\d{4}-\d\d-\d\dT[\d:]+\+00:00|none)$", features, flags=re.M)
    assert len(stamps) == 6 and sum(ts != "none" for _, ts in stamps) >= 5, stamps

    # the registry: the champion of this run, with the run's own test AUC and the gate's words
    training = text["training/NOTES.md"]
    assert f"version {steps['promote']['version']} @champion, run {steps['promote']['run_id']}" in training
    assert f"test ROC-AUC {steps['train']['metrics']['test_auc']:.4f}" in training
    assert "gate: " in training and "no gate tag" not in training

    # a live answer from the model just promoted
    served = re.search(
        r"probability (0\.\d+), delayed=(True|False), model v(\d+), degraded=False", text["serving/NOTES.md"]
    )
    assert served and served[3] == str(steps["promote"]["version"])

    monitor = steps["monitor"]
    assert (
        f"drift share {monitor['drift_share']:.2f}: {monitor['drifted_count']} of {monitor['n_columns']}"
        in (text["monitoring/NOTES.md"])
    )

    page = built[0].render(1)
    assert page.startswith("1. Ingest") and "What it teaches (pipelines/NOTES.md):" in page
    assert all(line in page for line in tour.note_summary(tour.ROOT / "pipelines/NOTES.md"))


@pytest.mark.integration
def test_the_command_walks_the_home_without_serving(demo_run: DemoRun, monkeypatch: pytest.MonkeyPatch) -> None:
    demo_run.enter(monkeypatch)
    result = CliRunner().invoke(app, ["tour", "--no-serve"])
    settings_module.get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "4 stops" in result.output
    numbers = re.findall(r"^(\d)\. ", result.output, flags=re.M)
    assert numbers == ["1", "2", "3", "4"]
    assert "make mlflow-ui" in result.output and "make evidently-ui" in result.output


def test_the_summary_is_shown_without_citation_markers(tmp_path: Path) -> None:
    note = tmp_path / "NOTES.md"
    items = [f"- line {i} long enough to be a summary line" for i in range(4)]
    note.write_text("# x\n\n" + "\n".join(items) + "\n- AUC 0.7312<!-- fig:demo.test_auc --> on the test window\n")
    assert tour.note_summary(note)[-1] == "AUC 0.7312 on the test window"
