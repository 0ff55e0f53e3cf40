"""serving/ stands alone: no training/, pipelines/, torch or airflow on its import path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serving_imports_no_training_code_and_no_heavy_frameworks():
    code = (
        "import sys, serving.app, serving.server, serving.model_store, serving.log_shipper\n"
        "bad = {m.split('.')[0] for m in sys.modules} & {'training', 'pipelines', 'torch', 'airflow'}\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"serving pulled in: {out.stdout.strip()}"


def test_no_source_file_loads_a_model_through_code_execution():
    # Which packages serving may import is an import-linter contract (pyproject.toml, `make lint`);
    # these are calls, not imports, so they are checked here.
    for path in (ROOT / "serving").rglob("*.py"):
        text = path.read_text()
        for needle in ("mlflow.pyfunc", "load_model("):
            assert needle not in text, f"{path.relative_to(ROOT)} contains {needle!r}"
