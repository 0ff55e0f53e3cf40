"""The whole loop: the demo DAG in-process on a small real window, then HTTP against real uvicorn.

This is `make demo` in miniature; it is the test that proves the seams between stages hold.
"""

from __future__ import annotations

import datetime as dt

import pytest

from flightpath import settings as settings_module
from flightpath.processes import free_port
from flightpath.settings import Settings
from pipelines import demo

# The window CI's `make demo` uses: 4 weeks, the last 7 days being the test window. Shorter
# windows leave a test window of a few days, where the network and the baseline are a coin flip
# apart and the gate (rightly) may promote nothing.
START, END = dt.date(2013, 1, 1), dt.date(2013, 1, 28)


@pytest.mark.integration
def test_dag_run_then_predict_over_http(airflow_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "FLIGHTPATH_HOME": str(airflow_settings.home),
        "FLIGHTPATH_DEMO_START": START.isoformat(),
        "FLIGHTPATH_DEMO_END": END.isoformat(),
        "FLIGHTPATH_SERVE_PORT": str(free_port()),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings_module.get_settings.cache_clear()  # DAG tasks read settings from the environment
    s = settings_module.get_settings()

    summary = demo.run_dag(s, START, END)
    steps = summary["steps"]
    assert steps["ingest"]["days"] == 28
    flights = steps["ingest"]["flights"]
    assert flights["rows_in"] == flights["curated"] + flights["quarantined"]
    metrics = steps["train"]["metrics"]
    assert 0.5 < metrics["test_auc"] <= 1.0 and 0.5 < metrics["baseline_test_auc"] <= 1.0
    assert steps["promote"]["decision"] == "promoted", steps["promote"]["reason"]
    assert 0.0 <= steps["monitor"]["drift_share"] <= 1.0

    flight = demo.sample_flight(s, END)
    served = demo.serve_and_predict(s, flight)
    body = served["response"]
    assert 0.0 <= body["probability"] <= 1.0
    assert body["model"]["version"] == str(steps["promote"]["version"])
    assert body["degraded"] is False

    text = demo.report(s, summary, served, 1.0, 2.0)
    assert "logistic-regression baseline" in text and "Sample prediction" in text
    settings_module.get_settings.cache_clear()
