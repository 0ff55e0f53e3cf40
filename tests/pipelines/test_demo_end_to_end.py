"""The whole loop: the demo DAG in-process on a small real window, then HTTP against real uvicorn.

This is `make demo` in miniature; it is the test that proves the seams between stages hold.
"""

from __future__ import annotations

import pytest

from flightpath import settings as settings_module
from pipelines import demo
from tests.pipelines.conftest import DEMO_END, DemoRun


@pytest.mark.integration
def test_dag_run_then_predict_over_http(demo_run: DemoRun, monkeypatch: pytest.MonkeyPatch) -> None:
    s = demo_run.enter(monkeypatch)
    steps = demo_run.summary["steps"]
    assert steps["ingest"]["days"] == 28
    flights = steps["ingest"]["flights"]
    assert flights["rows_in"] == flights["curated"] + flights["quarantined"]
    metrics = steps["train"]["metrics"]
    assert 0.5 < metrics["test_auc"] <= 1.0 and 0.5 < metrics["baseline_test_auc"] <= 1.0
    assert steps["promote"]["decision"] == "promoted", steps["promote"]["reason"]
    assert 0.0 <= steps["monitor"]["drift_share"] <= 1.0

    flight = demo.sample_flight(s, DEMO_END)
    served = demo.serve_and_predict(s, flight)
    body = served["response"]
    assert 0.0 <= body["probability"] <= 1.0
    assert body["model"]["version"] == str(steps["promote"]["version"])
    assert body["degraded"] is False

    text = demo.report(s, demo_run.summary, served, 1.0, 2.0)
    assert "logistic-regression baseline" in text and "Sample prediction" in text
    settings_module.get_settings.cache_clear()
