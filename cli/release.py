"""`flightpath release ...`: a staged release of a challenger (FLIGHTPATH_RELEASE=staged).

    flightpath release status              # champion and challenger, and the gate's word on each
    flightpath release compare --minutes 60   # both versions' live answers side by side (the log)
    flightpath release promote             # champion := challenger (the gate must have passed it)
    flightpath release abort               # drop the challenger alias: canary pods turn unready

A version that passes the gate stays `challenger` while the canary pods (k8s/base/serving-canary)
answer a share of the traffic with it; `promote` ends the release, `abort` ends it the other way.
`make rollback` remains the way back from a champion already promoted.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer

from flightpath.settings import get_settings

app = typer.Typer(help="Staged releases: champion and challenger, compared, promoted or aborted.", no_args_is_help=True)


def _print(result: Any) -> None:
    typer.echo(json.dumps(result, indent=2, default=str))


@app.command()
def status() -> None:
    """Which version is champion and which challenger, with the gate's decision on each."""
    from flightpath.artifact import CHALLENGER, CHAMPION
    from training.tracking import client, version_by_alias

    s = get_settings()
    c = client(s)
    out: dict[str, Any] = {"release": s.release}
    for alias in (CHAMPION, CHALLENGER):
        mv = version_by_alias(c, s.model_name, alias)
        out[alias] = None if mv is None else {"version": str(mv.version), "gate": mv.tags.get("gate.decision")}
    _print(out)


@app.command()
def compare(minutes: Annotated[float, typer.Option(help="how far back to look", min=1)] = 60) -> None:
    """Each model version's live answers over the last MINUTES: share, mean probability, degraded, latency."""
    from flightpath.prediction_table import read_rows
    from monitoring.release_compare import compare as compare_rows

    s = get_settings()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
    _print(compare_rows(read_rows(s.prediction_log_url, since)))


@app.command()
def promote() -> None:
    """Move champion to the challenger (its bytes and signature checked again)."""
    from training.registry import release_promote

    _print(release_promote(get_settings()))


@app.command()
def abort() -> None:
    """Remove the challenger alias: canary pods have nothing to serve and leave the Service."""
    from training.registry import release_abort

    _print(release_abort(get_settings()))
