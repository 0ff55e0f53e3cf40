"""Split a training-set-shaped frame into reference and current windows and report drift between them.

    from monitoring.run import monitor_windows
    summary = monitor_windows(settings, frame)      # the DAG task and `flightpath monitor` call this
    summary["drift_detected"], summary["drifted_columns"], summary["html_path"]

The current window is the last `settings.monitor_days` calendar days of the frame (counted back
from its latest "day", gaps included); the reference is every earlier day. With the demo defaults
(2013-01-01..03-31, 14 days) that is Jan 1 - Mar 17 vs Mar 18 - Mar 31.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from flightpath.settings import Settings
from monitoring.drift import DRIFT_ALERT_SHARE, drift_report

__all__ = ["DRIFT_ALERT_SHARE", "monitor_windows", "split_windows"]

DAY_COLUMN = "day"  # the flight's local (New York) scheduled-departure day, as in the lake partitions


def _days(frame: pd.DataFrame) -> pd.Series:
    """The "day" column as datetime.date, whether it holds dates, ISO strings or timestamps."""
    if DAY_COLUMN not in frame.columns:
        raise ValueError(f"frame lacks the {DAY_COLUMN!r} column needed to split it into windows")
    days = pd.to_datetime(frame[DAY_COLUMN], errors="coerce")
    if days.isna().any():
        bad = frame.loc[days.isna(), DAY_COLUMN].iloc[0]
        raise ValueError(f"{int(days.isna().sum())} row(s) have no valid {DAY_COLUMN!r} (e.g. {bad!r})")
    return days.dt.date


def split_windows(frame: pd.DataFrame, monitor_days: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """(reference, current, window bounds): current = the last `monitor_days` days, reference = the rest."""
    if frame.empty:
        raise ValueError("frame is empty (0 rows): nothing to split into windows")
    days = _days(frame)
    first, last = days.min(), days.max()
    cur_start = last - dt.timedelta(days=monitor_days - 1)
    if first >= cur_start:
        raise ValueError(
            f"frame covers {first}..{last} ({(last - first).days + 1} days): a reference window needs "
            f"more than monitor_days={monitor_days} days"
        )
    in_current = (days >= cur_start).to_numpy()
    reference, current = frame[~in_current], frame[in_current]
    ref_days = days[~in_current]
    bounds = {
        "reference_start": first.isoformat(),
        "reference_end": ref_days.max().isoformat(),
        "current_start": cur_start.isoformat(),
        "current_end": last.isoformat(),
    }
    return reference, current, bounds


def monitor_windows(settings: Settings, frame: pd.DataFrame) -> dict[str, Any]:
    """Drift report of the last `settings.monitor_days` days against the days before them.

    Writes <reports_dir>/drift/drift_<reference start>_<current end>.{html,json}.

    Returns:
        drift_report's summary plus "windows" (the four ISO bounds). Its "drift_detected" is True
        when at least DRIFT_ALERT_SHARE of the model inputs drifted: the signal a retraining
        trigger would act on (today it only reports; nothing retrains).
    """
    reference, current, bounds = split_windows(frame, settings.monitor_days)
    name = f"drift_{bounds['reference_start']}_{bounds['current_end']}"
    return drift_report(reference, current, settings.reports_dir / "drift", name, extra={"windows": bounds})
