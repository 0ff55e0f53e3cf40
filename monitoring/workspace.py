"""The Evidently workspace: every monitoring report, browsable in Evidently's own UI.

    add_snapshot(settings, snapshot, "2013-04-02 input drift v3")
    make evidently-ui      # evidently ui --workspace <reports_dir>/evidently on 127.0.0.1:8001

One project, "flightpath monitoring"; each day adds its input-drift and prediction-drift runs. The
UI lists them by time, and each opens the same report as the HTML file in reports/monitoring/<day>/.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from flightpath.settings import Settings

PROJECT = "flightpath monitoring"


def workspace_dir(settings: Settings) -> Path:
    return settings.reports_dir / "evidently"


@lru_cache(maxsize=4)
def _open(path: str) -> tuple[Any, Any]:
    """The workspace and its project, opened once per process (opening one reads every run: ~1.7 s)."""
    from evidently.ui.workspace import Workspace

    ws = Workspace.create(path)
    found = ws.search_project(PROJECT)
    project = found[0] if found else ws.create_project(PROJECT, description="Daily monitoring of the champion")
    return ws, project


def add_snapshot(settings: Settings, snapshot: Any, name: str) -> str:
    """Add a report run to the workspace (created on first use); returns the project id."""
    ws, project = _open(str(workspace_dir(settings)))
    ws.add_run(project.id, snapshot, include_data=False, name=name)
    return str(project.id)
