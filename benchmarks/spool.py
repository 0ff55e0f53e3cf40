"""What a prediction-log row costs the request, by fsync policy, against a raw write() floor.

    python -m benchmarks.run spool

Three ways to append the same rows, one after another in this process, on the filesystem of the
flightpath home (where `flightpath serve` keeps its spool):
* floor: `os.write` of the already-encoded line to an O_APPEND file (no encoding, no lock);
* interval (the default policy): `PredictionSpool.submit` (JSON encoding, lock, write);
* always: the same with `fsync` after each row (a power cut loses no answered row).
Per append: p50/p99 in microseconds and rows per second; ratios against the floor.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from flightpath.settings import Settings
from serving import spool_format
from serving.prediction_spool import PredictionRow, PredictionSpool

ROWS = {"floor": 20_000, "interval": 20_000, "always": 1_000}


def sample_row(i: int) -> PredictionRow:
    """A row the size of a /v1/predict one (25 inputs, the flight, flags)."""
    features: dict[str, Any] = {f"x{k}": 0.1 * k for k in range(20)} | {"origin": "EWR", "carrier": "UA"}
    return PredictionRow(
        request_id=f"{i:032x}",
        ts=dt.datetime.now(dt.UTC),
        model_version="3",
        inputs={"carrier": "UA", "flight": 1545, "tailnum": "N14228", "origin": "EWR", "dest": "IAH"},
        features=features,
        flags={"source": "predict", "degraded": False, "missing": [], "unknown_categories": [], "stale_views": []},
        probability=0.25,
        latency_ms=0.8,
        flight_day=dt.date(2013, 1, 1),
    )


def _stats(times_s: list[float]) -> dict[str, float]:
    cut = statistics.quantiles(times_s, n=100)
    return {
        "rows": len(times_s),
        "p50_us": 1e6 * statistics.median(times_s),
        "p99_us": 1e6 * cut[98],
        "rows_per_s": len(times_s) / sum(times_s),
    }


def floor(folder: Path, n: int) -> dict[str, float]:
    lines = [spool_format.encode(sample_row(i).as_dict(), f"k:{i}") for i in range(n)]
    fd = os.open(folder / "floor.spool", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    times = []
    try:
        for line in lines:
            t = time.perf_counter()
            os.write(fd, line)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
    return _stats(times) | {"bytes_per_row": sum(map(len, lines)) / n}


def spool(folder: Path, n: int, *, fsync_each: bool) -> dict[str, float]:
    rows = [sample_row(i) for i in range(n)]
    s = PredictionSpool(folder, fsync_each=fsync_each)
    s.start()
    times = []
    try:
        for row in rows:
            t = time.perf_counter()
            s.submit(row)
            times.append(time.perf_counter() - t)
    finally:
        s.close()
    return _stats(times)


def run() -> dict[str, Any]:
    home = Settings().home
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home, prefix="bench-spool-") as tmp:
        folder = Path(tmp)
        (folder / "floor").mkdir()
        out: dict[str, Any] = {
            "floor": floor(folder / "floor", ROWS["floor"]),
            "interval": spool(folder / "interval", ROWS["interval"], fsync_each=False),
            "always": spool(folder / "always", ROWS["always"], fsync_each=True),
        }
        out["filesystem"] = _filesystem(folder)
    return out


def _filesystem(path: Path) -> str:
    """The filesystem type under `path` (fsync costs what the device and filesystem make it cost)."""
    best = ("", "?")
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        if str(path).startswith(mount) and len(mount) > len(best[0]):
            best = (mount, fstype)
    return best[1]


def render(r: dict[str, Any]) -> list[str]:
    fl = r["floor"]
    lines = [
        "## The prediction spool: what a logged row costs the request",
        "",
        f"Appending a /v1/predict-sized row ({fl['bytes_per_row']:.0f} bytes of JSON) to the spool on the flightpath "
        f"home's filesystem ({r['filesystem']}), one after another in one process. Floor: `os.write` of the "
        "already-encoded line. interval (the default): `PredictionSpool.submit`, i.e. JSON encoding, the lock and "
        "the write; the shipper fsyncs each segment every pass, so a killed worker loses nothing and a power "
        "cut loses at most one pass (0.5 s). always: fsync before every answer.",
        "",
        "| policy | rows | p50 us | p99 us | rows/s | p50 / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in ("floor", "interval", "always"):
        x = r[name]
        lines.append(
            f"| {name} | {x['rows']:,} | {x['p50_us']:.1f} | {x['p99_us']:.1f} | {x['rows_per_s']:,.0f} | "
            f"{x['p50_us'] / fl['p50_us']:.1f}x |"
        )
    return lines
