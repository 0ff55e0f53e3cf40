"""benchmarks/figures.py: every number the docs cite agrees with docs/benchmarks.json and
docs/demo_summary.json, and the records agree with the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import figures
from features import contract
from flightpath.settings import Settings


def test_every_cited_figure_matches_the_records() -> None:
    problems = figures.stale()
    assert not problems, "run `python -m benchmarks.figures update` after checking why:\n" + "\n".join(problems)


def test_the_docs_cite_the_figures_that_matter() -> None:
    cited = {c.name for p in figures.documents() for c in figures.citations(p.read_text(), p)}
    must = {
        "demo.test_auc",
        "demo.logreg_auc",
        "demo.drift_share",
        "demo.inputs",
        "serving.predict.p50_c1",
        "serving.predict.cpu_ms",
        "capacity.cores",
        "cost.usd_per_million",
        "online.redis.bytes_per_key",
        "ingest.rows_per_s",
        "spool.bytes_per_row",
        "recsys.cores",
    }
    assert must <= cited, must - cited
    assert cited <= set(figures.FIGURES)


def test_the_records_agree_with_the_code(tmp_path: Path) -> None:
    v = figures.values()
    assert int(v["demo.inputs"]) == len(contract.MODEL_INPUTS)  # the notes once said 20, then 22
    demo = json.loads(figures.DEMO.read_text())
    defaults = Settings(home=tmp_path)
    assert (demo["window"]["start"], demo["window"]["end"]) == (
        defaults.demo_start.isoformat(),
        defaults.demo_end.isoformat(),
    ), "docs/demo_summary.json is the default window's demo"
    assert "/" not in "".join(s for s in json.dumps(demo).split('"') if s.startswith("/")), (
        "no machine paths in the record"
    )


def test_a_stale_value_is_found_and_update_rewrites_only_it(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "docs").mkdir()
    right = figures.values()["demo.test_auc"]
    doc = tmp_path / "docs" / "x.md"
    doc.write_text(f"AUC **0.1234**<!-- fig:demo.test_auc --> and {right}<!-- fig:demo.test_auc --> and 7 ms.\n")
    (problem,) = figures.stale(tmp_path)
    assert "docs/x.md:1: demo.test_auc is written '0.1234'" in problem
    assert figures.update(tmp_path) == 1
    marker = "<!-- fig:demo.test_auc -->"
    assert doc.read_text() == f"AUC **{right}**{marker} and {right}{marker} and 7 ms.\n"
    assert figures.stale(tmp_path) == []


def test_a_marker_must_follow_a_number(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not right after a number"):
        figures.citations("the AUC <!-- fig:demo.test_auc -->", tmp_path / "x.md")
    (c,) = figures.citations("drift share 0.60 <!-- fig:demo.drift_share -->", tmp_path / "x.md")
    assert (c.name, c.written) == ("demo.drift_share", "0.60")
    with pytest.raises(ValueError):
        figures.citations("the AUC <!-- fig:nope --> 0.5<!-- fig:demo.test_auc -->", tmp_path / "x.md")


def test_record_demo_drops_machine_paths(tmp_path: Path, monkeypatch) -> None:
    reports = tmp_path / "home" / "reports"
    reports.mkdir(parents=True)
    (reports / "demo_summary.json").write_text(json.dumps({"steps": {"monitor": {"html_path": "/x/y.html", "n": 1}}}))
    monkeypatch.setattr(figures, "DEMO", tmp_path / "out.json")
    figures.record_demo(tmp_path / "home")
    assert json.loads((tmp_path / "out.json").read_text()) == {"steps": {"monitor": {"n": 1}}}


def test_capacity_assumes_the_hpa_target_the_manifest_sets() -> None:
    import yaml

    docs = list(yaml.safe_load_all((figures.ROOT / "k8s" / "base" / "serving.yaml").read_text()))
    (hpa,) = [d for d in docs if d and d.get("kind") == "HorizontalPodAutoscaler"]
    (cpu,) = [m for m in hpa["spec"]["metrics"] if m["resource"]["name"] == "cpu"]
    assert figures.ASSUMPTIONS["cpu_utilisation"] == cpu["resource"]["target"]["averageUtilization"] / 100


def test_record_replay_keeps_the_days_without_their_reasons(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "home" / "reports" / "replay"
    folder.mkdir(parents=True)
    day = {"day": "2013-04-01", "drift_detected": True, "reasons": ["quality holds"], "retrain": False}
    (folder / "replay.json").write_text(json.dumps({"days": [day], "weeks": [], "retrains": []}))
    monkeypatch.setattr(figures, "REPLAY", tmp_path / "out.json")
    figures.record_replay(tmp_path / "home")
    recorded = json.loads((tmp_path / "out.json").read_text())
    assert recorded["days"] == [{"day": "2013-04-01", "drift_detected": True, "retrain": False}]


def test_the_replay_tables_in_the_monitoring_notes_are_the_recorded_run() -> None:
    from pipelines.replay import markdown

    notes = (figures.ROOT / "monitoring" / "NOTES.md").read_text()
    rendered = markdown(json.loads(figures.REPLAY.read_text()))
    rows = [line for line in rendered.splitlines() if line.startswith("| 20")]  # weeks and retrains
    assert len(rows) >= 40
    missing = [row for row in rows if row not in notes]
    assert not missing, "monitoring/NOTES.md quotes another replay than docs/replay_summary.json:\n" + "\n".join(
        missing[:3]
    )
