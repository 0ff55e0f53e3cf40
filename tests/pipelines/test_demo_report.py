"""The demo's closing text says plainly what happened, including when nothing was promoted."""

from __future__ import annotations

from flightpath.settings import Settings
from pipelines.demo import has_champion, report

SUMMARY = {
    "window": {"start": "2013-01-01", "end": "2013-01-28"},
    "steps": {
        "ingest": {"seconds": 6.9, "flights": {"rows_in": 10, "curated": 9, "quarantined": 1}},
        "train": {
            "seconds": 16.5,
            "metrics": {"test_auc": 0.66, "baseline_test_auc": 0.67},
            "split": {"test_start": "2013-01-22", "test_end": "2013-01-28"},
        },
        "promote": {
            "seconds": 0.3,
            "version": "1",
            "decision": "rejected",
            "champion": None,
            "reason": "test AUC 0.66 does not beat the baseline 0.67",
        },
        "monitor": {"seconds": 10.6, "drift_share": 0.5, "html_path": "reports/drift/x.html"},
    },
}


def test_a_rejected_first_model_is_reported_and_not_served(settings: Settings) -> None:
    assert not has_champion(SUMMARY)
    text = report(settings, SUMMARY, None, 70.0, 71.0)
    assert "0.66" in text and "0.67" in text and "rejected" in text
    assert "nothing to serve" in text and "Sample prediction" not in text
    assert "quarantined 1" in text


def test_a_promoted_model_is_served_and_its_answer_printed(settings: Settings) -> None:
    promoted = {
        **SUMMARY,
        "steps": {
            **SUMMARY["steps"],
            "promote": {"version": "1", "champion": "1", "decision": "promoted", "reason": "beats"},
        },
    }
    served = {"url": "http://127.0.0.1:8000", "request": {"origin": "JFK"}, "response": {"probability": 0.3}}
    assert has_champion(promoted)
    text = report(settings, promoted, served, 70.0, 80.0)
    assert "Sample prediction" in text and '"probability": 0.3' in text
