"""`make bench`: run the benchmarks and write docs/benchmarks.md (machine and date included).

    python -m benchmarks.run                 # every section (about 10 minutes)
    python -m benchmarks.run serving         # one section; the others are re-rendered from the last run
    python -m benchmarks.run --render        # only rewrite the page from docs/benchmarks.json

Sections: ingest, airflow, online, serving, spool, monitoring. Each section's raw results are kept in
docs/benchmarks.json with the date and machine they were measured on, so re-running one section
rewrites the page without pretending the others were measured again. The Airflow benchmark runs in
its own process (Airflow must be configured before it is imported); the serving benchmark starts
its servers as child processes pinned to one CPU.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flightpath.atomic import write_text

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "benchmarks.md"
RAW = ROOT / "docs" / "benchmarks.json"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def airflow_overhead() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "airflow.json"
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.airflow_overhead", str(out)], cwd=ROOT, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"airflow benchmark failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text())


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _ms(x: float) -> str:
    return f"{x:.3f}"


def render_ingest(ing: dict[str, Any]) -> list[str]:
    return [
        "## Ingestion (`pipelines.ingest.run.ingest_day`, one call per day)",
        "",
        "Floor: selecting the same days' rows from the already-parsed source with a pandas mask (what any "
        "ingestion pays to find a day's rows). Ingestion uses a per-process index day -> row positions "
        "(`source.rows_of_day`), so it no longer pays that scan itself; the rest is validation, typing and "
        "the atomic parquet writes (raw, curated, quarantine for flights and weather).",
        "",
        "| window | days | rows | seconds | s/day | ingest rows/s | floor rows/s | ingest / floor time | runs |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {w['window']} | {w['days']} | {_n(w['rows'])} | {w['seconds']:.2f} | {w['seconds'] / w['days']:.3f} | "
            f"{_n(w['rows_per_s'])} | {_n(w['floor_rows_per_s'])} | {w['over_floor']:.1f}x | "
            f"{w['runs']}{' (median)' if w['runs'] > 1 else ''} |"
            for w in ing["windows"]
        ],
        "",
        "Scaling from January: rows/s should stay flat as the window grows (linear total time).",
        "",
        "| months | days | rows | seconds | s/day | rows/s | rows/s vs 1 month | floor rows/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {s['months']} | {s['days']} | {_n(s['rows'])} | {s['seconds']:.1f} | {s['seconds_per_day']:.3f} | "
            f"{_n(s['rows_per_s'])} | {s['vs_1_month']:.2f} | {_n(s['floor_rows_per_s'])} |"
            for s in ing["scaling"]
        ],
    ]


def render_airflow(air: dict[str, Any]) -> list[str]:
    return [
        "## Airflow overhead per daily run",
        "",
        f"The daily DAG (`flightpath_daily`: ingest -> features -> materialize) run with `dag.test` (in-process "
        f"DagRun, SQLite metadata DB, no scheduler) for {air['n_days']} days ({air['days'][0]} .. {air['days'][1]}), "
        "interleaved day by day with the same three steps called directly (`steps.ingest_one_day`, "
        "`features_one_day`, `materialize_one_day`) into a separate home. One warm-up day on each side first "
        "(not counted). Measured in its own process (`benchmarks/airflow_overhead.py`).",
        "",
        "| day | via Airflow (s) | direct (s) | overhead (s) |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {i + 1} | {a:.2f} | {d:.2f} | {a - d:.2f} |"
            for i, (a, d) in enumerate(zip(air["airflow_s"], air["direct_s"], strict=True))
        ],
        f"| **median** | **{air['airflow_median_s']:.2f}** | **{air['direct_median_s']:.2f}** | "
        f"**{air['overhead_median_s']:.2f}** |",
        "",
        f"Overhead ratio (median Airflow run / median direct run): **{air['ratio']:.2f}x**; totals "
        f"{air['airflow_total_s']:.1f} s vs {air['direct_total_s']:.1f} s. One-off costs, not in the table: "
        f"`airflow db migrate` {air['migrate_db_s']:.1f} s, DagBag parse {air['dagbag_s']:.1f} s, first DagRun of "
        f"the process {air['warmup_airflow_s']:.1f} s (imports; direct first day {air['warmup_direct_s']:.1f} s).",
    ]


def render_online(onl: dict[str, Any]) -> list[str]:
    lines = [
        "## Materialization into the online store (one month)",
        "",
        f"January 2013 ({onl['month'][0]} .. {onl['month'][1]}): `features.materialize.materialize` over the month. "
        "Offline rows = feature-table rows Feast scans for the interval; online cells = (entity, feature) rows "
        "it leaves in the store (latest per key). Floor: upserting the same cells into a fresh SQLite table of "
        "Feast's schema with one `executemany` in one transaction.",
        "",
        "| store | seconds | offline rows | offline rows/s | online cells | cells/s | floor cells/s | time / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    m = onl["materialize_sqlite"]
    lines.append(
        f"| SQLite | {m['seconds']:.2f} | {_n(m['offline_rows'])} | {_n(m['offline_rows_per_s'])} | "
        f"{_n(m['online_cells'])} | {_n(m['cells_per_s'])} | {_n(m['floor_cells_per_s'])} | "
        f"{m['over_floor']:.1f}x |"
    )
    if "materialize_redis" in onl:
        r = onl["materialize_redis"]
        lines.append(
            f"| Redis | {r['seconds']:.2f} | {_n(r['offline_rows'])} | {_n(r['offline_rows_per_s'])} | "
            f"{_n(r['online_cells'])} | {_n(r['cells_per_s'])} | - | - |"
        )
        if "bytes_per_key" in r:
            lines += [
                "",
                f"Redis memory for the month (`MEMORY USAGE` summed over the project's {_n(r['keys'])} keys, one "
                f"hash per entity key): {r['bytes'] / 1e6:.2f} MB, {_n(r['bytes_per_key'])} bytes per key, "
                f"{_n(r['bytes_per_cell'])} bytes per (entity, feature) cell. Sizing starts here: keys x bytes "
                "per key, plus Redis's own overhead and a replica.",
            ]
    lines += [
        "",
        "## Online read: one flight's full feature vector",
        "",
        f"{reads_doc(onl)} Feast = `OnlineFeatureReader.read` (`get_online_features` with the feature service); "
        "fast = `features.fast_online` (tables/fields resolved once from the registry, one SQL statement or one "
        "HMGET pipeline per read, Feast's key serialization and value decoding; tests check it returns exactly "
        "what Feast returns); floor = the same keys' rows fetched raw (keys pre-serialized, nothing decoded).",
        "",
    ]
    for store, key in (("SQLite", "read_sqlite"), ("Redis (127.0.0.1:6379)", "read_redis")):
        if key not in onl:
            lines += [f"{store}: not measured (not reachable).", ""]
            continue
        lines += [
            f"### {store}",
            "",
            "| path | p50 ms | p99 ms | mean ms | p50 vs floor |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {name} | {_ms(p['p50_ms'])} | {_ms(p['p99_ms'])} | {_ms(p['mean_ms'])} | {p['p50_vs_floor']:.1f}x |"
            for name, p in onl[key].items()
        ]
        paths = list(onl[key].values())
        lines += [
            "",
            f"Fast reader vs Feast: p50 {paths[0]['p50_ms'] / paths[1]['p50_ms']:.1f}x faster, "
            f"p99 {paths[0]['p99_ms'] / paths[1]['p99_ms']:.1f}x faster.",
            "",
        ]
    return lines


def reads_doc(onl: dict[str, Any]) -> str:  # a sentence, kept next to render
    from benchmarks.online import READS, WARMUP

    return (
        f"{READS} reads per path after {WARMUP} warm-up reads, interleaved (every iteration runs each path "
        f"once, in rotating order), cycling over {onl['sample_flights']} real flights of {onl['month'][1]}, "
        "one flight per read, in one process."
    )


SECTIONS: dict[str, tuple[str, Callable[[], dict[str, Any]], Callable[[dict[str, Any]], list[str]]]] = {
    "ingest": ("Ingestion", lambda: _lazy("ingest").run(), render_ingest),
    "airflow": ("Airflow overhead", airflow_overhead, render_airflow),
    "online": ("Online store", lambda: _lazy("online").run(), render_online),
    "serving": ("Serving", lambda: _lazy("serving").run(), lambda r: _lazy("serving_report").render(r)),
    "spool": ("Prediction spool", lambda: _lazy("spool").run(), lambda r: _lazy("spool").render(r)),
    "monitoring": ("Monitoring", lambda: _lazy("monitoring").run(), lambda r: _lazy("monitoring").render(r)),
}


def _lazy(module: str) -> Any:
    import importlib

    return importlib.import_module(f"benchmarks.{module}")


def render(store: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks.run [section ...]`); raw numbers in "
        "`docs/benchmarks.json`. Ratios compare against a baseline measured in the same run; this box is "
        "noisy (2 vCPU), so read ratios and medians, not single numbers.",
        "",
    ]
    for key, (title, _, render_section) in SECTIONS.items():
        entry = store.get(key)
        if entry is None:
            lines += [f"## {title}", "", f"Not measured yet: `python -m benchmarks.run {key}`.", ""]
            continue
        section = render_section(entry["results"])
        lines += [
            section[0],
            "",
            f"_Measured on {entry['measured_on']}; machine: {entry['machine']}; {entry['seconds']:.0f} s._",
            *section[1:],
            "",
        ]
    return lines


def main(argv: list[str] | None = None) -> None:
    args = list(argv if argv is not None else sys.argv[1:])
    if args == ["--render"]:  # rewrite the page from docs/benchmarks.json, measuring nothing
        write_text("\n".join(render(json.loads(RAW.read_text()))) + "\n", OUT)
        return
    wanted = args or list(SECTIONS)
    unknown = [w for w in wanted if w not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    if "serving" in wanted:
        _lazy("serving").require_tools()  # fail now, not after the other sections' minutes
    store: dict[str, dict[str, Any]] = json.loads(RAW.read_text()) if RAW.exists() else {}
    # Airflow first, as it always ran: nothing else in this process has touched Airflow's config yet.
    for key in sorted(wanted, key=lambda k: (k != "airflow", list(SECTIONS).index(k))):
        t0 = time.perf_counter()
        results = SECTIONS[key][1]()
        store[key] = {
            "measured_on": dt.date.today().isoformat(),
            "machine": machine(),
            "seconds": round(time.perf_counter() - t0, 1),
            "results": results,
        }
        write_text(json.dumps(store, indent=1, sort_keys=True, default=str) + "\n", RAW)  # keep what finished
    lines = render(store)
    write_text("\n".join(lines) + "\n", OUT)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
