"""One day's monitoring, timed: the DAG's way (Evidently reports) and the replay's (the same tests,
no report), against a floor run in the same script: Evidently's DataDriftPreset alone on the same frames.

    python -m benchmarks.run monitoring

A real champion (trained by the demo's steps on benchmarks.serving.WINDOW), its reference (its
training rows scored by itself), the last day of the window batch-scored into the prediction log,
then `monitor_day` three times each way (median). The floor is the part no monitoring run can
skip if it wants Evidently's report: the report of the inputs alone, without reading the log,
joining outcomes, bootstrapping quality or writing anything.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RUNS = 3


def _median_s(fn: Any) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run() -> dict[str, Any]:
    from benchmarks.serving import WINDOW, prepare
    from monitoring.daily import monitor_day, one_per_flight
    from monitoring.drift import _model_inputs, _run_evidently
    from monitoring.predictions import read_predictions
    from monitoring.reference import current_champion, reference_frame
    from pipelines import steps

    with tempfile.TemporaryDirectory(prefix="flightpath-bench-monitoring-") as tmp:
        print("monitoring benchmark: preparing a champion (about a minute)", file=sys.stderr, flush=True)
        prep = prepare(Path(tmp) / "home")
        settings = prep["settings"]
        day = WINDOW[1]
        t0 = time.perf_counter()
        batch = steps.batch_score_one_day(settings, day)
        batch_s = time.perf_counter() - t0
        champ = current_champion(settings)
        ref = reference_frame(settings, champ)
        monitor_day(settings, day, champ)  # warm: imports, workspace, cached reference
        with_reports = _median_s(lambda: monitor_day(settings, day, champ, reports=True))
        verdict_only = _median_s(lambda: monitor_day(settings, day, champ, reports=False))
        today = one_per_flight(read_predictions(settings.prediction_log_url, [day]))
        ref_in, cur_in = _model_inputs(ref), _model_inputs(today)
        from features.contract import MODEL_INPUTS

        floor = _median_s(lambda: _run_evidently(ref_in, cur_in, list(MODEL_INPUTS)))
        return {
            "window": [d.isoformat() for d in WINDOW],
            "day": day.isoformat(),
            "flights": batch["flights"],
            "reference_rows": len(ref),
            "batch_score_s": round(batch_s, 2),
            "monitor_reports_s": round(with_reports, 2),
            "monitor_verdict_s": round(verdict_only, 2),
            "evidently_report_floor_s": round(floor, 2),
            "runs": RUNS,
        }


def render(r: dict[str, Any]) -> list[str]:
    floor = r["evidently_report_floor_s"]
    return [
        "## Monitoring one day (`monitoring.daily.monitor_day`)",
        "",
        f"Champion trained on {r['window'][0]}..{r['window'][1]}; the day {r['day']} batch-scored "
        f"({r['flights']:,} flights, {r['batch_score_s']:.2f} s: point-in-time features + the ONNX model + "
        f"one transaction) and judged against a reference of {r['reference_rows']:,} rows. Median of "
        f"{r['runs']} runs each. Floor: Evidently's DataDriftPreset over the 25 inputs of the same frames, "
        "nothing else.",
        "",
        "| run | seconds | / floor |",
        "| --- | ---: | ---: |",
        f"| floor: Evidently input-drift report alone | {floor:.2f} | 1.00x |",
        f"| monitor_day, reports (the DAG: two reports, HTML, workspace, quality, decision) | "
        f"{r['monitor_reports_s']:.2f} | {r['monitor_reports_s'] / floor:.2f}x |",
        f"| monitor_day, verdict only (the replay: the same tests, no report) | {r['monitor_verdict_s']:.2f} | "
        f"{r['monitor_verdict_s'] / floor:.2f}x |",
    ]
