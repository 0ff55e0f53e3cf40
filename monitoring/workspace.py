"""The Evidently workspace: every monitoring report, browsable in Evidently's own UI.

    add_snapshot(settings, snapshot, "2013-04-02 input drift v3")
    make evidently-ui      # evidently ui --workspace <reports_dir>/evidently on 127.0.0.1:8001

One project, "flightpath monitoring"; each day adds its input-drift and prediction-drift runs. The
UI lists them by time, and each opens the same report as the HTML file in reports/monitoring/<day>/.
The project's dashboard draws them over time: the share of drifted inputs (Evidently's count over all
25 inputs; the verdict leaves out the three calendar inputs, see monitoring/NOTES.md), the drift of a
few inputs worth watching, and the drift of the answers.
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
    if not project.dashboard.model().panels:  # new, or made before the project had a dashboard
        for panel in dashboard_panels():
            project.dashboard.add_panel(panel)
    return ws, project


# Inputs whose drift a reader should see first: the weather (seasonal), the carrier's recent delays
# (the best single input), the airport's last two hours (the first to break when a feed stops).
WATCHED_INPUTS = ("wx_temp", "carrier_delay_rate_7d", "origin_dep_delay_2h")


def dashboard_panels() -> list[Any]:
    """The project dashboard: what each day's runs add up to, as lines over the days."""
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import counter_panel, line_plot_panel

    def drifted(tag: str) -> PanelMetric:
        return PanelMetric(
            legend="share", metric="DriftedColumnsCount", metric_labels={"value_type": "share"}, tags=[tag]
        )

    return [
        counter_panel("Share of drifted inputs, last run", [drifted("input_drift")], size="half"),
        line_plot_panel("Share of drifted inputs per day (all 25)", [drifted("input_drift")], size="half"),
        line_plot_panel(
            "Drift score of watched inputs (normed Wasserstein; drifted at >= 0.1)",
            [
                PanelMetric(legend=c, metric="ValueDrift", metric_labels={"column": c}, tags=["input_drift"])
                for c in WATCHED_INPUTS
            ],
        ),
        line_plot_panel(
            "Drift of the answers: probability and predicted class",
            [
                PanelMetric(legend=c, metric="ValueDrift", metric_labels={"column": c}, tags=["prediction_drift"])
                for c in ("probability", "predicted_delayed")
            ],
        ),
    ]


def add_snapshot(settings: Settings, snapshot: Any, name: str) -> str:
    """Add a report run to the workspace (created on first use); returns the project id."""
    ws, project = _open(str(workspace_dir(settings)))
    ws.add_run(project.id, snapshot, include_data=False, name=name)
    return str(project.id)
