"""Collecting the tests imports no Airflow and no Feast. Airflow reads its configuration once, on
first import, and the Airflow tests configure it (tests/pipelines/conftest.py) before they import
it; importing Feast switches prometheus_client to multiprocess mode for the whole process
(feast.metrics), which serving's metrics tests must not inherit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_collecting_every_test_imports_no_airflow_and_no_feast(tmp_path: Path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        f"import sys, pytest\nsys.path.insert(0, {str(ROOT)!r})\n"
        "code = pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', 'tests'])\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'feast'))\n"
        "print('LEAKED', leaked[:5])\n"
        "sys.exit(1 if code or leaked else 0)\n"
    )
    run = subprocess.run([sys.executable, str(probe)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
