"""Serving side by side: a raw ASGI floor, flightpath, and `mlflow models serve`, same model, same rows.

    python -m benchmarks.serving            # prints the results as JSON (benchmarks.run renders them)

Set-up (about a minute): in a temporary home, the demo's steps without Airflow on January 2013
(ingest, feature tables + `feast apply` + materialize, training set, train, register and promote),
so the model is a real champion in a local MLflow registry and the SQLite online store is filled.

Then each server runs alone, pinned with `taskset` to one CPU (SERVER_CPU), one worker each, and
`wrk` (Debian's package, a C load generator) pinned to the other CPU drives it with keep-alive
connections, cycling through the same REQUESTS real rows:

* floor: `benchmarks.serving_floor`, a bare ASGI app under uvicorn around the same ONNX session;
* flightpath `POST /v1/score` (model only: validation, metrics, prediction log included) and
  `POST /v1/predict` (online features from SQLite, request-time features, model);
* `mlflow models serve` of the registered champion (`models:/<name>@champion`, pyfunc's ONNX
  flavour, `--env-manager local`), `POST /invocations` with the same row as `dataframe_split`.

For each, a sweep over CONCURRENCY (closed loop: c connections, each sending the next request as
soon as the answer arrives) of DURATION_S seconds, after a warm-up. Per level: wrk's p50/p99
latency and requests/s, non-2xx and socket errors, server CPU seconds (user+sys of the whole
process tree, from /proc) per request, and the RSS of the process that did the work. "Throughput at
p99 < 10 ms" is the highest requests/s of the sweep levels whose p99 stayed under 10 ms and that
had no errors (wrk is closed-loop, so this is a sweep over load, not a fixed-rate search).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil

from flightpath.processes import free_port, stop_process_group, wait_until

ROOT = Path(__file__).resolve().parent.parent
WINDOW = (dt.date(2013, 1, 1), dt.date(2013, 1, 28))
SERVER_CPU = 1
CLIENT_CPU = 0
CONCURRENCY = (1, 2, 4, 8, 16, 32)
DURATION_S = 8
WARMUP_S = 3
REQUESTS = 64

# wrk script: cycle through prepared requests, print a JSON summary line at the end.
LUA = """
local bodies = {}
for line in io.lines(os.getenv("WRK_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max, latency.mean,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
"""


@dataclass
class Level:
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    errors: int  # socket errors + non-2xx answers
    cpu_ms_per_request: float  # server process tree, user + sys
    worker_rss_mb: float  # RSS of the process that used the most CPU
    others_rss_mb: float = 0.0  # every other process of the server's tree (flightpath: model sync, log shipper)
    side_rss_mb: dict[str, float] = field(default_factory=dict)  # the same, by role (_role)


# --- set-up ------------------------------------------------------------------------------------------


def prepare(home: Path) -> dict[str, Any]:
    """A real champion and a filled SQLite online store in `home`; the rows to send."""
    from flightpath.settings import Settings
    from pipelines import steps

    start, end = WINDOW
    settings = Settings(home=home, demo_start=start, demo_end=end)
    t0 = time.perf_counter()
    steps.ingest_window(settings, start, end)
    steps.features_window(settings, start, end)
    steps.build_training_frame(settings, start, end)
    trained = steps.train_window(settings, start, end)
    promoted = steps.register_and_promote(settings, trained["run_id"])
    if promoted["champion"] is None:
        raise RuntimeError(f"no champion to serve: {promoted['reason']}")
    frame = pd.read_parquet(steps.training_frame_path(settings, start, end))
    return {
        "settings": settings,
        "seconds": round(time.perf_counter() - t0, 1),
        "model": {
            "name": settings.model_name,
            "version": promoted["champion"],
            "test_auc": trained["metrics"]["test_auc"],
        },
        "score_rows": score_rows(frame, end),
        "flights": flights_of(settings, end),
    }


def score_rows(frame: pd.DataFrame, day: dt.date) -> list[dict[str, Any]]:
    """REQUESTS model-input rows of the week ending `day` with every number present.

    Complete rows only, so that every server gets literally the same values: `mlflow models serve`
    checks inputs against the logged signature, where a missing number is not the same thing as
    it is for /v1/score (null) or the floor (NaN).
    """
    from features import contract

    dates = pd.to_datetime(frame["sched_dep_local"]).dt.date
    rows = frame[(dates > day - dt.timedelta(days=7)) & (dates <= day)]
    rows = rows.dropna(subset=list(contract.NUMERIC_FEATURES))
    picked = rows.iloc[:: max(1, len(rows) // REQUESTS)][:REQUESTS]
    out = []
    for _, r in picked.iterrows():
        row: dict[str, Any] = {n: float(r[n]) for n in contract.NUMERIC_FEATURES}
        row.update({n: str(r[n]) for n in contract.CATEGORICAL_FEATURES})
        out.append(row)
    return out


def flights_of(settings: Any, day: dt.date) -> list[dict[str, Any]]:
    """REQUESTS real flights of `day` (the materialized "now"), as a traveller describes them."""
    from flightpath import lake

    flights = pd.read_parquet(lake.partition_file(settings.lake_dir, "curated", "flights", day))
    flights = flights[flights["tailnum"].notna()]
    picked = flights.iloc[:: max(1, len(flights) // REQUESTS)][:REQUESTS]
    return [
        {
            "carrier": f.carrier,
            "flight": int(f.flight),
            "tailnum": f.tailnum,
            "origin": f.origin,
            "dest": f.dest,
            "sched_dep_local": pd.Timestamp(f.sched_dep_local).isoformat(),
        }
        for f in picked.itertuples()
    ]


def mlflow_body(row: dict[str, Any]) -> dict[str, Any]:
    from features import contract

    columns = list(contract.MODEL_INPUTS)
    return {"dataframe_split": {"columns": columns, "data": [[row[c] for c in columns]]}}


# --- servers -----------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    base: str

    def tree(self) -> list[psutil.Process]:
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def _role(proc: psutil.Process) -> str:
    """What a process beside the worker is: flightpath's model-sync or log-shipper process, or other."""
    try:
        command = " ".join(proc.cmdline())
    except psutil.Error:
        return "other"
    return next((role for role in ("model_sync", "log_shipper") if f"serving.{role}" in command), "other")


def _side_rss_mb(procs: list[psutil.Process]) -> dict[str, float]:
    out: dict[str, float] = {}
    for proc in procs:
        role = _role(proc)
        out[role] = out.get(role, 0.0) + _rss(proc) / 2**20
    return out


def _rss(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_info().rss)
    except psutil.NoSuchProcess:  # a process that ended during the run
        return 0


def _environ(settings: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHTPATH_", "MLFLOW_"))}
    env.update(
        {
            "FLIGHTPATH_HOME": str(settings.home),
            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    # `mlflow models serve` execs `uvicorn` from PATH: this interpreter's bin must come first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@contextmanager
def server(
    name: str,
    argv: list[str],
    env: dict[str, str],
    ready: Callable[[str], bool],
    port: int,
    log_dir: Path,
    cpu: int = SERVER_CPU,
) -> Iterator[Server]:
    """Start `argv` pinned to `cpu` in its own process group; yield once `ready(base)`."""
    log = (log_dir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        ["taskset", "-c", str(cpu), *argv],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    srv = Server(name, proc, f"http://127.0.0.1:{port}")
    try:
        wait_until(
            lambda: _safe(ready, srv.base),
            proc,
            180,
            name,
            lambda: (log_dir / f"{name}.log").read_text(errors="replace")[-3000:],
        )
        yield srv
    finally:
        if proc.poll() is None:
            stop_process_group(proc)
        log.close()


def _safe(check: Callable[[str], bool], base: str) -> bool:
    try:
        return check(base)
    except httpx.HTTPError:
        return False


def _get_ok(path: str) -> Callable[[str], bool]:
    return lambda base: httpx.get(base + path, timeout=2).status_code == 200


def _post_ok(path: str, body: dict[str, Any]) -> Callable[[str], bool]:
    return lambda base: httpx.post(base + path, json=body, timeout=5).status_code == 200


# --- load --------------------------------------------------------------------------------------------


def _cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def wrk(url: str, bodies_file: Path, script: Path, concurrency: int, seconds: int) -> dict[str, Any]:
    cmd = [
        "taskset",
        "-c",
        str(CLIENT_CPU),
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "WRK_BODIES": str(bodies_file)}, check=True
    )
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON ") :])
    raise RuntimeError(f"wrk printed no summary:\n{proc.stdout}\n{proc.stderr}")


def measure(
    srv: Server, path: str, bodies: list[dict[str, Any]], work: Path, levels: tuple[int, ...] | None = None
) -> list[Level]:
    """The concurrency sweep against one endpoint of a running server."""
    bodies_file = work / f"{srv.name}{path.replace('/', '_')}.jsonl"
    bodies_file.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    script = work / "bench.lua"
    script.write_text(LUA)
    url = srv.base + path
    wrk(url, bodies_file, script, 4, WARMUP_S)
    out = []
    for c in levels or CONCURRENCY:
        before = _cpu_seconds(srv.tree())
        r = wrk(url, bodies_file, script, c, DURATION_S)
        procs = srv.tree()
        after = _cpu_seconds(procs)
        used = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
        busiest = max(procs, key=lambda p: used.get(p.pid, 0.0))
        errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
        out.append(
            Level(
                concurrency=c,
                requests=r["requests"],
                rps=r["requests"] / (r["duration_us"] / 1e6),
                p50_ms=r["p50_us"] / 1e3,
                p99_ms=r["p99_us"] / 1e3,
                max_ms=r["max_us"] / 1e3,
                mean_ms=r["mean_us"] / 1e3,
                errors=errors,
                cpu_ms_per_request=1e3 * sum(used.values()) / max(1, r["requests"]),
                worker_rss_mb=busiest.memory_info().rss / 2**20,
                others_rss_mb=sum(_rss(p) for p in procs if p.pid != busiest.pid) / 2**20,
                side_rss_mb=_side_rss_mb([p for p in procs if p.pid != busiest.pid]),
            )
        )
        print(
            f"  {srv.name} {path} c={c}: {out[-1].rps:,.0f} req/s, p50 {out[-1].p50_ms:.2f} ms, "
            f"p99 {out[-1].p99_ms:.2f} ms, max {out[-1].max_ms:.1f} ms, {out[-1].cpu_ms_per_request:.2f} CPU ms/req, "
            f"errors {errors}",
            file=sys.stderr,
            flush=True,
        )
    return out


# --- the run -----------------------------------------------------------------------------------------


def require_tools() -> None:
    missing = [t for t in ("wrk", "taskset") if shutil.which(t) is None]
    if missing:
        raise SystemExit(
            f"the serving benchmark needs {', '.join(missing)} on PATH (Debian: apt-get install wrk util-linux)"
        )
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("the serving benchmark pins server and load generator to different CPUs: needs 2")


def run() -> dict[str, Any]:
    require_tools()
    with tempfile.TemporaryDirectory(prefix="flightpath-bench-serving-") as tmp:
        work = Path(tmp)
        print("serving benchmark: preparing a champion model (about a minute)", file=sys.stderr, flush=True)
        prep = prepare(work / "home")
        settings = prep["settings"]
        model = prep["model"]
        rows, flights = prep["score_rows"], prep["flights"]
        model_file = work / "model.onnx"
        _download_champion(settings, model["version"], model_file)
        probabilities: dict[str, list[float]] = {}
        model_alone = onnx_alone(model_file, rows)
        results: dict[str, Any] = {
            "model_alone": model_alone,
            "window": [d.isoformat() for d in WINDOW],
            "prepare_s": prep["seconds"],
            "model": model,
            "requests": len(rows),
            "flights": len(flights),
            "concurrency": list(CONCURRENCY),
            "duration_s": DURATION_S,
            "server_cpu": SERVER_CPU,
            "client_cpu": CLIENT_CPU,
        }
        py = sys.executable

        port = free_port()
        floor_argv = [
            py,
            "-m",
            "uvicorn",
            "benchmarks.serving_floor:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        with server(
            "floor", floor_argv, _environ(settings, FLOOR_MODEL=str(model_file)), _post_ok("/", rows[0]), port, work
        ) as srv:
            probabilities["floor"] = answers(srv, "/", rows)
            results["floor"] = [asdict(lv) for lv in measure(srv, "/", rows, work)]

        port = free_port()
        fp_env = _environ(settings, FLIGHTPATH_SERVE_PORT=str(port), FLIGHTPATH_SERVE_WORKERS="1")
        with server("flightpath", [py, "-m", "cli", "serve"], fp_env, _get_ok("/readyz"), port, work) as srv:
            probabilities["flightpath"] = answers(srv, "/v1/score", rows)
            results["flightpath_score"] = [asdict(lv) for lv in measure(srv, "/v1/score", rows, work)]
            results["flightpath_predict"] = [
                asdict(lv) for lv in measure(srv, "/v1/predict", flights, work, levels=(1, 32))
            ]
            results["predict_sample"] = httpx.post(srv.base + "/v1/predict", json=flights[0], timeout=5).json()

        results.update(shadowed(py, settings, flights, work))

        port = free_port()
        mlflow_argv = [
            str(Path(py).with_name("mlflow")),
            "models",
            "serve",
            "-m",
            f"models:/{model['name']}@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ]
        bodies = [mlflow_body(r) for r in rows]
        with server("mlflow", mlflow_argv, _environ(settings), _get_ok("/ping"), port, work) as srv:
            probabilities["mlflow"] = answers(srv, "/invocations", bodies)
            results["mlflow"] = [asdict(lv) for lv in measure(srv, "/invocations", bodies, work)]
        results["parity"] = same_answers(probabilities)
        return results


def onnx_alone(model_file: Path, rows: list[dict[str, Any]]) -> dict[str, float]:
    """The model by itself: p50 ms of one ONNX Runtime `run` at batch 1 and 256 (the gate's own
    timing, training/evidence.py), in this process pinned to the servers' CPU. What is left of a
    request's time is the server around the model."""
    from training.evidence import measure_latency

    data = model_file.read_bytes()
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {SERVER_CPU})
    try:
        p50 = measure_latency(data, data, pd.DataFrame(rows), rounds=500)["champion"]
    finally:
        os.sched_setaffinity(0, before)
    return {f"batch_{b}_p50_ms": ms for b, ms in p50.items()} | {"batch_256_per_row_us": p50[256] * 1000 / 256}


def shadowed(py: str, settings: Any, flights: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    """What a shadow costs the live server: `/v1/predict` again, now with FLIGHTPATH_SHADOW_URL set,
    so every answered request is also POSTed to a shadow server (serving/shadow_mirror.py).

    The shadow (role shadow, its own spool) runs on the client's CPU: in a cluster it is another
    pod, and here it must not take the live server's CPU. It shares that CPU with wrk, so the live
    server's latency and req/s below are not comparable with the row above; its CPU per request is.
    """
    shadow_port = free_port()
    shadow_env = _environ(
        settings,
        FLIGHTPATH_SERVE_PORT=str(shadow_port),
        FLIGHTPATH_SERVE_WORKERS="1",
        FLIGHTPATH_SERVING_ROLE="shadow",
        FLIGHTPATH_PREDICTION_SPOOL_DIR=str(work / "shadow-spool"),
    )
    with server(
        "flightpath-shadow", [py, "-m", "cli", "serve"], shadow_env, _get_ok("/readyz"), shadow_port, work, CLIENT_CPU
    ) as shadow:
        port = free_port()
        env = _environ(
            settings,
            FLIGHTPATH_SERVE_PORT=str(port),
            FLIGHTPATH_SERVE_WORKERS="1",
            FLIGHTPATH_SHADOW_URL=shadow.base,
        )
        with server("flightpath-shadowed", [py, "-m", "cli", "serve"], env, _get_ok("/readyz"), port, work) as srv:
            levels = measure(srv, "/v1/predict", flights, work, levels=(1, 32))
            outcomes = shadow_outcomes(httpx.get(srv.base + "/metrics", timeout=5).text)
    return {"flightpath_predict_shadowed": [asdict(lv) for lv in levels], "shadow_outcomes": outcomes}


def shadow_outcomes(metrics_text: str) -> dict[str, float]:
    """flightpath_shadow_requests_total by outcome, from a /metrics page."""
    out: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith("flightpath_shadow_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = out.get(outcome, 0.0) + float(value)
    return out


def _download_champion(settings: Any, version: str, target: Path) -> None:
    """The champion's model.onnx from the registry: the bytes every server below loads."""
    from training.tracking import download_model

    shutil.copyfile(download_model(settings, version, target.parent / "download"), target)


def answers(srv: Server, path: str, bodies: list[dict[str, Any]]) -> list[float]:
    """The probability each server gives for the first rows (checked equal across servers)."""
    out = []
    for body in bodies[:8]:
        got = httpx.post(srv.base + path, json=body, timeout=10).json()
        # mlflow's pyfunc answers {"predictions": {"probability": [p]}} (one column per ONNX output)
        out.append(float(got["predictions"]["probability"][0] if "predictions" in got else got["probability"]))
    return out


def same_answers(probabilities: dict[str, list[float]]) -> dict[str, Any]:
    """Max absolute difference from the floor's answers: ~0 means the same model and the same inputs."""
    floor = probabilities["floor"]
    diff = {name: max(abs(a - b) for a, b in zip(p, floor, strict=True)) for name, p in probabilities.items()}
    if max(diff.values()) > 1e-5:
        raise RuntimeError(f"the servers disagree on the same rows (max abs diff {diff}): not the same model")
    return {"rows": len(floor), "max_abs_diff": diff}


def main() -> None:
    print(json.dumps(run(), indent=2, default=str))


if __name__ == "__main__":
    main()
