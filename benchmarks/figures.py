"""Named figures: the numbers the docs quote, computed from the records of what was measured.

    python -m benchmarks.figures show               # every figure and its value
    python -m benchmarks.figures check              # citations whose text no longer matches (exit 1)
    python -m benchmarks.figures update             # rewrite each cited value from the records
    python -m benchmarks.figures record-demo HOME   # docs/demo_summary.json from HOME's last demo
    python -m benchmarks.figures record-replay HOME # docs/replay_summary.json from HOME's last replay

The records: docs/benchmarks.json (`make bench`), docs/demo_summary.json (the demo's summary on
the default window, machine paths removed) and docs/replay_summary.json (`make replay`). A
document cites a figure by writing its value and, right after it, `<!-- fig:NAME -->`;
tests/benchmarks/test_figures.py fails when a cited value differs from what the records say, so a
re-run that moves a number cannot leave the prose behind (`update` rewrites the cited values,
nothing else).

Capacity figures (docs/system-design.md) combine a measured number with a stated assumption
(ASSUMPTIONS below); changing either changes the figure, and the test keeps the doc in step.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "docs" / "benchmarks.json"
DEMO = ROOT / "docs" / "demo_summary.json"
REPLAY = ROOT / "docs" / "replay_summary.json"
CITED_IN = ("README.md", "*/NOTES.md", "docs/*.md")
CITATION = re.compile(
    r"(?P<value>[-+<]?[\d][\d,.]*(?:\.\.[-+]?[\d.,]+)?(?: ?(?:ms|us|s|MB|GB|TB|x|%|\$|req/s|rows/s))?)"
    r"(?P<gap>\**\s*)<!-- fig:(?P<name>[\w.]+) -->"
)

# Stated assumptions of the capacity estimates (docs/system-design.md says where each comes from).
ASSUMPTIONS = {
    "us_flights_per_day": 45_000,  # FAA: about 45,000 flights a day in US airspace
    "lookups_per_flight": 200,  # app and airline screens asking about one flight over its day
    "peak_to_mean": 3.0,  # departures bunch in the morning and evening banks
    "cpu_utilisation": 0.7,  # the HPA's CPU target in k8s/base/serving.yaml (tested to agree)
    "usd_per_vcpu_hour": 0.04,  # on-demand general-purpose vCPU, order of magnitude, 2026
    "recsys_users": 1_000_000,
    "recsys_requests_per_user_day": 20,
    "recsys_candidates": 500,  # items scored per request after retrieval
    "log_retention_days": 90,  # the prediction log kept online for joins with late labels
}


@dataclass(frozen=True)
class Records:
    bench: dict[str, Any]
    demo: dict[str, Any]
    replay: dict[str, Any]

    @classmethod
    def load(cls) -> Records:
        return cls(*(json.loads(p.read_text()) for p in (BENCHMARKS, DEMO, REPLAY)))

    def serving(self, server: str, concurrency: int | None = None) -> dict[str, Any]:
        """One level of a server's sweep (the first level if concurrency is None, the last if -1)."""
        levels = self.bench["serving"]["results"][server]
        if concurrency is None:
            return dict(levels[0])
        if concurrency == -1:
            return dict(levels[-1])
        return dict(next(lv for lv in levels if lv["concurrency"] == concurrency))

    def max_rps(self, server: str) -> float:
        return float(max(lv["rps"] for lv in self.bench["serving"]["results"][server]))

    def read(self, store: str, path: str) -> dict[str, Any]:
        return dict(self.bench["online"]["results"][f"read_{store}"][path])


FAST = "fast reader (features.fast_online)"
FEAST = "Feast get_online_features (OnlineFeatureReader)"


def _ms(x: float) -> str:
    return f"{x:.2f} ms"


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _predict_cpu_ms(r: Records) -> float:
    """CPU per /v1/predict under load (the sweep's busiest level): what capacity is sized on."""
    return float(r.serving("flightpath_predict", -1)["cpu_ms_per_request"])


def _peak_rps(r: Records) -> float:
    a = ASSUMPTIONS
    return a["us_flights_per_day"] * a["lookups_per_flight"] / 86_400 * a["peak_to_mean"]


def _cores(rps: float, cpu_ms: float) -> float:
    return rps * cpu_ms / 1000 / ASSUMPTIONS["cpu_utilisation"]


def _usd_per_million(cpu_ms: float) -> float:
    core_hours = 1e6 * cpu_ms / 1000 / 3600 / ASSUMPTIONS["cpu_utilisation"]
    return core_hours * ASSUMPTIONS["usd_per_vcpu_hour"]


def _redis_bytes_per_key(r: Records) -> float:
    """Redis's own memory per entity key (nan in a record from before it was measured)."""
    return float(r.bench["online"]["results"].get("materialize_redis", {}).get("bytes_per_key", float("nan")))


def _us_online_keys() -> float:
    """Online keys for every US flight: ~7,500 planes in the airline fleet, ~5,000 routes, ~20
    carriers, ~500 airports with scheduled service x 48 hour-keys kept live (2 days of origin_hour)."""
    return 7_500 + 5_000 + 20 + 500 * 48


def _recsys_peak_rps() -> float:
    a = ASSUMPTIONS
    return a["recsys_users"] * a["recsys_requests_per_user_day"] / 86_400 * a["peak_to_mean"]


def _batch_ms_per_row(r: Records) -> float:
    """The daily batch scorer's wall time per flight (features joined, model run, rows written)."""
    m = r.bench["monitoring"]["results"]
    return 1000 * float(m["batch_score_s"]) / float(m["flights"])


def _model_alone(r: Records) -> dict[str, float]:
    """The ONNX model by itself (nan in a record from before it was measured)."""
    nan = float("nan")
    default = {"batch_1_p50_ms": nan, "batch_256_p50_ms": nan, "batch_256_per_row_us": nan}
    return dict(r.bench["serving"]["results"].get("model_alone", default))


def _demo_step(r: Records, step: str) -> dict[str, Any]:
    return dict(r.demo["steps"][step])


def _baseline_auc(r: Records, name: str) -> str:
    return f"{_demo_step(r, 'train')['baselines'][name]['metrics']['test_auc']:.4f}"


def _baseline_ci(r: Records, name: str) -> str:
    m = _demo_step(r, "train")["baselines"][name]["metrics"]
    return f"{m['test_auc_ci_low']:.4f}..{m['test_auc_ci_high']:.4f}"


def _comparison(r: Records, name: str) -> dict[str, Any]:
    return dict(_demo_step(r, "train")["comparisons"][name])


def _diff_ci(r: Records, name: str) -> str:
    c = _comparison(r, name)
    return f"{c['ci_low']:+.4f}..{c['ci_high']:+.4f}"


def _p(r: Records, name: str) -> str:
    """One-sided paired-bootstrap p-value, written as the training summary writes it."""
    c = _comparison(r, name)
    floor = 1 / (c["resamples"] + 1)
    return f"<{floor:.3f}" if c["p_value"] <= floor + 1e-12 else f"{c['p_value']:.3f}"


def _mean(xs: Any) -> float:
    values = [float(x) for x in xs if x is not None]
    return sum(values) / len(values)


def _judged_weeks(r: Records) -> list[dict[str, Any]]:
    """Weeks where both arms have a ROC-AUC (a week with one class has none)."""
    return [w for w in r.replay["weeks"] if w.get("static") and w.get("retrained")]


def _weekly_diffs(r: Records) -> list[float]:
    """Per judged week: the retrained arm's ROC-AUC minus the never-retrained arm's."""
    return [w["retrained"]["value"] - w["static"]["value"] for w in _judged_weeks(r)]


def _weekly_mean(r: Records, arm: str) -> float:
    return _mean(w[arm]["value"] for w in _judged_weeks(r))


FIGURES: dict[str, Callable[[Records], str]] = {
    # --- the demo on the default window (docs/demo_summary.json) --------------------------------
    "demo.flights": lambda r: _n(_demo_step(r, "ingest")["flights"]["rows_in"]),
    "demo.train_rows": lambda r: _n(_demo_step(r, "train")["split"]["train_rows"]),
    "demo.test_rows": lambda r: _n(_demo_step(r, "train")["split"]["test_rows"]),
    "demo.test_auc": lambda r: f"{_demo_step(r, 'train')['metrics']['test_auc']:.4f}",
    "demo.test_auc_ci": lambda r: "{:.4f}..{:.4f}".format(
        _demo_step(r, "train")["metrics"]["test_auc_ci_low"], _demo_step(r, "train")["metrics"]["test_auc_ci_high"]
    ),
    "demo.logreg_auc": lambda r: _baseline_auc(r, "logreg"),
    "demo.logreg_auc_ci": lambda r: _baseline_ci(r, "logreg"),
    "demo.gbdt_auc": lambda r: _baseline_auc(r, "gbdt"),
    "demo.gbdt_auc_ci": lambda r: _baseline_ci(r, "gbdt"),
    "demo.vs_logreg": lambda r: f"{_comparison(r, 'logreg')['auc_diff']:+.4f}",
    "demo.vs_logreg_ci": lambda r: _diff_ci(r, "logreg"),
    "demo.vs_logreg_p": lambda r: _p(r, "logreg"),
    "demo.vs_gbdt": lambda r: f"{_comparison(r, 'gbdt')['auc_diff']:+.4f}",
    "demo.vs_gbdt_ci": lambda r: _diff_ci(r, "gbdt"),
    "demo.vs_gbdt_p": lambda r: _p(r, "gbdt"),
    "demo.threshold": lambda r: f"{_demo_step(r, 'train')['threshold']:.2f}",
    "demo.precision": lambda r: f"{_demo_step(r, 'train')['metrics']['test_precision']:.2f}",
    "demo.recall": lambda r: f"{_demo_step(r, 'train')['metrics']['test_recall']:.2f}",
    "demo.inputs": lambda r: str(_demo_step(r, "monitor")["n_columns"]),
    "demo.drift_share": lambda r: f"{_demo_step(r, 'monitor')['drift_share']:.2f}",
    "demo.drifted": lambda r: str(_demo_step(r, "monitor")["drifted_count"]),
    # --- the replay: Jan-Mar trains, Apr-Dec day by day (docs/replay_summary.json) ---------------
    "replay.minutes": lambda r: f"{r.replay['seconds'] / 60:.1f}",
    "replay.days": lambda r: str(len(r.replay["days"])),
    "replay.retrains": lambda r: str(len(r.replay["retrains"])),
    "replay.weeks": lambda r: str(len(r.replay["weeks"])),
    "replay.static_mean_auc": lambda r: f"{_weekly_mean(r, 'static'):.3f}",
    "replay.retrained_mean_auc": lambda r: f"{_weekly_mean(r, 'retrained'):.3f}",
    "replay.weeks_retrained_ahead": lambda r: str(
        sum(w["retrained"]["value"] > w["static"]["value"] for w in _judged_weeks(r))
    ),
    "replay.v1_auc": lambda r: f"{r.replay['first_champion']['test_auc']:.3f}",
    "replay.v2_auc": lambda r: f"{r.replay['retrains'][0]['test_auc']:.3f}",
    "replay.weekly_diff_range": lambda r: f"{min(_weekly_diffs(r)):+.3f}..{max(_weekly_diffs(r)):+.3f}",
    "replay.drift_days": lambda r: str(sum(bool(d["drift_detected"]) for d in r.replay["days"])),
    "replay.drift_alert_days": lambda r: str(sum(bool(d["drift_alert"]) for d in r.replay["days"])),
    "replay.drift_share_mean": lambda r: f"{_mean(d['drift_share'] for d in r.replay['days']):.2f}",
    # --- serving (make bench, "Serving") ----------------------------------------------------------
    "serving.floor.p50_c1": lambda r: _ms(r.serving("floor", 1)["p50_ms"]),
    "serving.score.p50_c1": lambda r: _ms(r.serving("flightpath_score", 1)["p50_ms"]),
    "serving.predict.p50_c1": lambda r: _ms(r.serving("flightpath_predict", 1)["p50_ms"]),
    "serving.predict.p99_c1": lambda r: _ms(r.serving("flightpath_predict", 1)["p99_ms"]),
    "serving.mlflow.p50_c1": lambda r: _ms(r.serving("mlflow", 1)["p50_ms"]),
    "serving.predict.cpu_ms": lambda r: _ms(_predict_cpu_ms(r)),
    "serving.score.cpu_ms": lambda r: _ms(r.serving("flightpath_score", -1)["cpu_ms_per_request"]),
    "serving.mlflow.cpu_ms": lambda r: _ms(r.serving("mlflow", -1)["cpu_ms_per_request"]),
    "serving.score.max_rps": lambda r: _n(r.max_rps("flightpath_score")) + " req/s",
    "serving.predict.max_rps": lambda r: _n(r.max_rps("flightpath_predict")) + " req/s",
    "serving.mlflow.max_rps": lambda r: _n(r.max_rps("mlflow")) + " req/s",
    "serving.vs_mlflow": lambda r: f"{r.max_rps('flightpath_score') / r.max_rps('mlflow'):.1f}x",
    "serving.worker_rss_mb": lambda r: f"{r.serving('flightpath_score', -1)['worker_rss_mb']:.0f} MB",
    "serving.model.batch1_us": lambda r: f"{_model_alone(r)['batch_1_p50_ms'] * 1000:.0f} us",
    "serving.model.row_us_batch256": lambda r: f"{_model_alone(r)['batch_256_per_row_us']:.1f} us",
    # at concurrency 1, where every request's copy is sent (under load the shadow sheds copies)
    "serving.shadow.cpu_ratio": lambda r: "{:.2f}x".format(
        r.serving("flightpath_predict_shadowed", 1)["cpu_ms_per_request"]
        / r.serving("flightpath_predict", 1)["cpu_ms_per_request"]
    ),
    # --- the online store (make bench, "Online store") ---------------------------------------------
    "online.sqlite.fast_p50": lambda r: _ms(r.read("sqlite", FAST)["p50_ms"]),
    "online.redis.fast_p50": lambda r: _ms(r.read("redis", FAST)["p50_ms"]),
    "online.redis.feast_p50": lambda r: _ms(r.read("redis", FEAST)["p50_ms"]),
    "online.redis.cells_per_s": lambda r: _n(r.bench["online"]["results"]["materialize_redis"]["cells_per_s"]),
    "online.redis.bytes_per_key": lambda r: _n(_redis_bytes_per_key(r)),
    # --- ingestion, the log, monitoring, Airflow ----------------------------------------------------
    "ingest.rows_per_s": lambda r: _n(r.bench["ingest"]["results"]["scaling"][-1]["rows_per_s"]) + " rows/s",
    "spool.bytes_per_row": lambda r: _n(r.bench["spool"]["results"]["floor"]["bytes_per_row"]),
    "spool.interval.p50_us": lambda r: f"{r.bench['spool']['results']['interval']['p50_us']:.0f} us",
    "monitoring.reports_s": lambda r: f"{r.bench['monitoring']['results']['monitor_reports_s']:.2f} s",
    "airflow.overhead_s": lambda r: f"{r.bench['airflow']['results']['overhead_median_s']:.2f} s",
    # --- capacity and cost (docs/system-design.md): measured x ASSUMPTIONS ------------------------
    "capacity.peak_rps": lambda r: _n(_peak_rps(r)) + " req/s",
    "capacity.cores": lambda r: f"{_cores(_peak_rps(r), _predict_cpu_ms(r)):.1f}",
    "capacity.log_gb_per_day": lambda r: "{:.1f} GB".format(
        ASSUMPTIONS["us_flights_per_day"]
        * ASSUMPTIONS["lookups_per_flight"]
        * r.bench["spool"]["results"]["floor"]["bytes_per_row"]
        / 1e9
    ),
    "capacity.log_tb_retained": lambda r: "{:.2f} TB".format(
        ASSUMPTIONS["us_flights_per_day"]
        * ASSUMPTIONS["lookups_per_flight"]
        * r.bench["spool"]["results"]["floor"]["bytes_per_row"]
        * ASSUMPTIONS["log_retention_days"]
        / 1e12
    ),
    # entity keys of a US-wide store: planes, routes, carriers, airports x hours
    "capacity.online_mb": lambda r: f"{_us_online_keys() * _redis_bytes_per_key(r) / 1e6:.0f} MB",
    "capacity.batch_core_minutes": lambda r: "{:.1f}".format(
        ASSUMPTIONS["us_flights_per_day"] * _batch_ms_per_row(r) / 1000 / 60
    ),
    "cost.usd_per_million": lambda r: f"{_usd_per_million(_predict_cpu_ms(r)):.3f}",
    "cost.mlflow_usd_per_million": lambda r: "{:.3f}".format(
        _usd_per_million(r.serving("mlflow", -1)["cpu_ms_per_request"])
    ),
    "recsys.peak_rps": lambda r: _n(_recsys_peak_rps()) + " req/s",
    "batch.ms_per_row": lambda r: _ms(_batch_ms_per_row(r)),
    # one request = one online read and the request's own cost, then every candidate scored: at the
    # model's batch-256 cost per row when candidates' features are at hand (a lower bound), or at the
    # batch scorer's cost per row when each candidate's features are fetched and joined (features
    # dominate: the upper bound)
    "recsys.cores_model_only": lambda r: "{:.1f}".format(
        _cores(
            _recsys_peak_rps(),
            _predict_cpu_ms(r) + ASSUMPTIONS["recsys_candidates"] * _model_alone(r)["batch_256_per_row_us"] / 1000,
        )
    ),
    "recsys.cores": lambda r: "{:.0f}".format(
        _cores(_recsys_peak_rps(), _predict_cpu_ms(r) + ASSUMPTIONS["recsys_candidates"] * _batch_ms_per_row(r))
    ),
}


def values(records: Records | None = None) -> dict[str, str]:
    records = records or Records.load()
    return {name: fn(records) for name, fn in FIGURES.items()}


def documents(root: Path = ROOT) -> list[Path]:
    return sorted({p for pattern in CITED_IN for p in root.glob(pattern) if p.is_file()})


@dataclass(frozen=True)
class Citation:
    path: Path
    line: int
    name: str
    written: str


def citations(text: str, path: Path) -> list[Citation]:
    found = []
    for match in CITATION.finditer(text):
        found.append(Citation(path, text.count("\n", 0, match.start()) + 1, match["name"], match["value"]))
    cited_at = {m.start("gap") + len(m["gap"]) for m in CITATION.finditer(text)}
    for marker in re.finditer(r"<!-- fig:", text):
        if marker.start() not in cited_at:
            line = text.count("\n", 0, marker.start()) + 1
            raise ValueError(f"{path}:{line}: a `<!-- fig:NAME -->` not right after a number")
    return found


def stale(root: Path = ROOT, records: Records | None = None) -> list[str]:
    """Every citation whose written value differs from the records, or names no figure."""
    figures = values(records)
    problems = []
    for path in documents(root):
        for c in citations(path.read_text(), path):
            where = f"{c.path.relative_to(root)}:{c.line}"
            if c.name not in figures:
                problems.append(f"{where}: no figure named {c.name!r}")
            elif c.written != figures[c.name]:
                problems.append(f"{where}: {c.name} is written {c.written!r}, the records say {figures[c.name]!r}")
    return problems


def update(root: Path = ROOT) -> int:
    figures = values()
    changed = 0
    for path in documents(root):
        text = path.read_text()

        def replace(match: re.Match[str]) -> str:
            nonlocal changed
            new = figures.get(match["name"], match["value"])
            changed += new != match["value"]
            return f"{new}{match['gap']}<!-- fig:{match['name']} -->"

        new_text = CITATION.sub(replace, text)
        if new_text != text:
            path.write_text(new_text)
    return changed


def record_demo(home: Path) -> Path:
    """docs/demo_summary.json from a home's last demo summary, absolute paths removed."""
    summary = json.loads((home / "reports" / "demo_summary.json").read_text())

    def scrub(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: scrub(v) for k, v in x.items() if not (isinstance(v, str) and v.startswith("/"))}
        if isinstance(x, list):
            return [scrub(v) for v in x]
        return x

    DEMO.write_text(json.dumps(scrub(summary), indent=1, sort_keys=True) + "\n")
    return DEMO


def record_replay(home: Path) -> Path:
    """docs/replay_summary.json from a home's last replay (each day's reasons left out: they are in
    the replay's own report, and the record stays small)."""
    result = json.loads((home / "reports" / "replay" / "replay.json").read_text())
    result["days"] = [{k: v for k, v in d.items() if k != "reasons"} for d in result["days"]]
    REPLAY.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return REPLAY


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "show"
    if command == "show":
        for name, value in values().items():
            print(f"{name:32} {value}")
        return 0
    if command == "check":
        problems = stale()
        print("\n".join(problems) or "every cited figure matches the records")
        return 1 if problems else 0
    if command == "update":
        print(f"{update()} cited value(s) rewritten")
        return 0
    if command == "record-demo" and len(argv) == 2:
        print(f"wrote {record_demo(Path(argv[1]))}")
        return 0
    if command == "record-replay" and len(argv) == 2:
        print(f"wrote {record_replay(Path(argv[1]))}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
