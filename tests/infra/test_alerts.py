"""The alert rules: valid for Prometheus, and they fire when (and only when) they should.

`promtool` comes with Debian's `prometheus` package; in CI (CI=true) its absence fails the test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import unavailable

PROM = Path(__file__).resolve().parents[2] / "infra" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool is not on PATH (Debian: apt-get install prometheus)")
    return str(path)


def test_the_rules_are_valid(promtool: str) -> None:
    out = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=PROM, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 rules found" in out.stdout


def test_the_rules_fire_on_their_cases_and_stay_quiet_otherwise(promtool: str) -> None:
    out = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=PROM, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_config_loads_the_rules(promtool: str) -> None:
    """prometheus.yml names the rules at their container path; check it with the file beside it."""
    text = (PROM / "prometheus.yml").read_text().replace("/etc/prometheus/alerts.yml", str(PROM / "alerts.yml"))
    copy = PROM.parent.parent / ".pytest-prometheus.yml"
    try:
        copy.write_text(text)
        out = subprocess.run([promtool, "check", "config", str(copy)], capture_output=True, text=True)
    finally:
        copy.unlink(missing_ok=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_alerts_name_metrics_the_code_exports() -> None:
    """Every flightpath_* metric an alert reads is defined by serving/metrics.py or monitoring/exporter.py."""
    import re

    import yaml

    groups = yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]
    exprs = " ".join(rule["expr"] for group in groups for rule in group["rules"])
    used = set(re.findall(r"\b(flightpath_[a-z_]+)", exprs))
    root = PROM.parent.parent
    code = (root / "serving" / "metrics.py").read_text() + (root / "monitoring" / "exporter.py").read_text()
    defined = set(re.findall(r'"(flightpath_[a-z_]+)"', code))
    defined |= {f"flightpath_monitoring_{n}" for n in re.findall(r'gauge\(\s*"([a-z_]+)"', code)}
    # the quality families are built in a loop over these names (monitoring/exporter.py)
    defined |= {f"flightpath_monitoring_{m}" for m in re.findall(r'\("([a-z_]+)", "[A-Z][^"]*"\)', code)}
    # prometheus_client adds _total to counters and _count/_sum/_bucket to histograms
    base = {re.sub(r"_(total|count|sum|bucket)$", "", m) for m in used}
    missing = sorted(m for m in base if m not in defined)
    assert not missing, f"alerts read metrics nobody exports: {missing}"
