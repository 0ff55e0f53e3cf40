"""`make bench`: run every benchmark and write docs/benchmarks.md (machine and date included)."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

from benchmarks import ingest
from flightpath.atomic import write_text

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


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


def main() -> None:
    ing = ingest.run()
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {dt.date.today().isoformat()}; machine: {machine()}.",
        "Every number is a median of 3 runs in one process; ratios compare against a floor measured in the same run.",
        "",
        "## Ingestion (`pipelines.ingest.run.ingest_day`)",
        "",
        "Floor: selecting the same day's rows from the already-parsed source with pandas (what any ingestion pays).",
        "",
        "| window | rows | ingest rows/s | floor rows/s | ingest / floor time |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {k} | {v['rows']} | {v['ingest_rows_per_s']} | {v['floor_rows_per_s']} | {v['ingest_over_floor']}x |"
          for k, v in ing.items()],
        "",
    ]
    write_text("\n".join(lines), OUT)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
