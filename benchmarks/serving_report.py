"""The serving section of docs/benchmarks.md, rendered from benchmarks.serving.run()'s JSON.

Kept apart from the measuring code so the page can be re-rendered from docs/benchmarks.json
without starting a server. The targets are the serving issue's, judged here from the numbers.
"""

from __future__ import annotations

from typing import Any

P99_BUDGET_MS = 10.0
TARGETS = {  # name: (bound, what it bounds); "at least" for the names in AT_LEAST, else "at most"
    "rss_vs_floor": (1.3, "worker RSS / floor RSS"),
    "p99_c1_vs_floor": (1.5, "flightpath p99 at concurrency 1 / floor p99"),
    "throughput_top_vs_floor": (0.6, "flightpath req/s at the top concurrency / floor's"),
    "cpu_vs_floor": (2.0, "flightpath CPU per request / floor's (the worse of c=1 and the top level)"),
    "predict_p50_ms": (1.0, "/v1/predict p50 at concurrency 1 with SQLite online features, ms"),
    "throughput_vs_mlflow": (3.0, "flightpath throughput at p99 < 10 ms / mlflow's"),
}
AT_LEAST = {"throughput_top_vs_floor", "throughput_vs_mlflow"}

SERVERS = (
    ("floor", "floor (raw ASGI + ONNX Runtime)"),
    ("flightpath_score", "flightpath `/v1/score`"),
    ("mlflow", "`mlflow models serve`"),
)


def level(levels: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    return next(lv for lv in levels if lv["concurrency"] == concurrency)


def under_budget(levels: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The sweep level with the most requests/s among those with p99 < budget and no errors."""
    ok = [lv for lv in levels if lv["p99_ms"] < P99_BUDGET_MS and lv["errors"] == 0]
    return max(ok, key=lambda lv: lv["rps"]) if ok else None


def summary(r: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers per server, and the ratios the targets are about."""
    top = max(r["concurrency"])
    rows = {}
    for key, _ in SERVERS:
        levels = r[key]
        best = under_budget(levels)
        rows[key] = {
            "p50_c1": level(levels, 1)["p50_ms"],
            "p99_c1": level(levels, 1)["p99_ms"],
            "p50_top": level(levels, top)["p50_ms"],
            "p99_top": level(levels, top)["p99_ms"],
            "max_rps": max(lv["rps"] for lv in levels),
            "budget_rps": best["rps"] if best else 0.0,
            "budget_c": best["concurrency"] if best else None,
            "cpu_c1": level(levels, 1)["cpu_ms_per_request"],
            "cpu_top": level(levels, top)["cpu_ms_per_request"],
            "rss_mb": max(lv["worker_rss_mb"] for lv in levels),
            "others_rss_mb": max(lv.get("others_rss_mb", 0.0) for lv in levels),
            "side_rss_mb": _side_rss(levels),
            "errors": sum(lv["errors"] for lv in levels),
        }
    fp, floor, mlflow = rows["flightpath_score"], rows["floor"], rows["mlflow"]
    if mlflow["budget_rps"]:
        basis, throughput = "req/s at p99 < 10 ms", fp["budget_rps"] / mlflow["budget_rps"]
    else:  # no level of mlflow's met the budget: "at p99 < 10 ms" has no denominator
        basis, throughput = "max req/s (mlflow never kept p99 under 10 ms)", fp["max_rps"] / mlflow["max_rps"]
    ratios = {
        "rss_vs_floor": fp["rss_mb"] / floor["rss_mb"],
        "p99_c1_vs_floor": fp["p99_c1"] / floor["p99_c1"],
        "throughput_top_vs_floor": level(r["flightpath_score"], top)["rps"] / level(r["floor"], top)["rps"],
        # the worse of the two loads, so a target met at one level only is not called met
        "cpu_vs_floor": max(fp["cpu_c1"] / floor["cpu_c1"], fp["cpu_top"] / floor["cpu_top"]),
        "predict_p50_ms": level(r["flightpath_predict"], 1)["p50_ms"],
        "throughput_vs_mlflow": throughput,
    }
    return {"rows": rows, "ratios": ratios, "top": top, "throughput_basis": basis}


def _side_rss(levels: list[dict[str, Any]]) -> dict[str, float]:
    """The largest RSS seen per process beside the worker, by role (model_sync, log_shipper, other)."""
    out: dict[str, float] = {}
    for lv in levels:
        for role, mb in lv.get("side_rss_mb", {}).items():
            out[role] = max(out.get(role, 0.0), mb)
    return out


def _verdict(name: str, value: float) -> str:
    bound, _ = TARGETS[name]
    met = value >= bound if name in AT_LEAST else value <= bound
    return "met" if met else "**missed**"


def render(r: dict[str, Any]) -> list[str]:
    s = summary(r)
    rows, ratios, top = s["rows"], s["ratios"], s["top"]
    floor = rows["floor"]
    lines = [
        "## Serving: a raw ASGI floor, flightpath and `mlflow models serve`",
        "",
        f"One real champion (trained by the demo's steps on {r['window'][0]} .. {r['window'][1]}, test ROC-AUC "
        f"{r['model']['test_auc']:.4f}), the same ONNX bytes in every server (answers checked equal on "
        f"{r['parity']['rows']} rows, max abs diff {max(r['parity']['max_abs_diff'].values()):.1e}). Each server "
        f"runs alone with one worker, pinned by `taskset` to CPU {r['server_cpu']}; `wrk` (keep-alive, one "
        f"thread) on CPU {r['client_cpu']} cycles through the same {r['requests']} real rows (the window's last "
        f"week, every number present: mlflow's signature check treats a missing number differently). "
        f"A sweep over concurrency {', '.join(map(str, r['concurrency']))}, "
        f"{r['duration_s']} s each after a warm-up. Latency percentiles are wrk's, which corrects for "
        "coordinated omission (a response slower than the run's mean interval adds the samples a client "
        "sending at that steady rate would have seen), so a single long stall moves p99; max is the slowest "
        "response itself. CPU per request = user+sys seconds of the server's process "
        "tree during the run / requests answered; memory = RSS of the process that did the work. "
        "Floor: `benchmarks/serving_floor.py`, uvicorn + a bare ASGI callable + the same ORT session, no "
        "validation, logging or metrics. flightpath `/v1/score` does everything it does in production: pydantic "
        "validation, request id, latency/in-flight metrics, unknown-category flags, prediction log row. mlflow "
        "runs as users start it (`mlflow models serve -m models:/...@champion --env-manager local -w 1`, its "
        "default access log on), rows sent as `dataframe_split`.",
        "",
        f"| server | p50 c=1 ms | p99 c=1 ms | p50 c={top} ms | p99 c={top} ms | max req/s | req/s at p99 < 10 ms "
        f"| CPU ms/req c=1 | CPU ms/req c={top} | worker RSS MB | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in SERVERS:
        x = rows[key]
        budget = f"{x['budget_rps']:,.0f} (c={x['budget_c']})" if x["budget_c"] else "none"
        lines.append(
            f"| {label} | {x['p50_c1']:.2f} | {x['p99_c1']:.2f} | {x['p50_top']:.2f} | {x['p99_top']:.2f} | "
            f"{x['max_rps']:,.0f} | {budget} | {x['cpu_c1']:.3f} | {x['cpu_top']:.3f} | "
            f"{x['rss_mb']:.0f} | {x['errors']} |"
        )
    lines += [
        "",
        "Ratios against the floor (same run):",
        "",
        "| server | p50 c=1 | p99 c=1 | CPU/req c=1 | CPU/req c=" + str(top) + " | max req/s | RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in SERVERS[1:]:
        x = rows[key]
        lines.append(
            f"| {label} | {x['p50_c1'] / floor['p50_c1']:.2f}x | {x['p99_c1'] / floor['p99_c1']:.2f}x | "
            f"{x['cpu_c1'] / floor['cpu_c1']:.2f}x | {x['cpu_top'] / floor['cpu_top']:.2f}x | "
            f"{x['max_rps'] / floor['max_rps']:.2f}x | {x['rss_mb'] / floor['rss_mb']:.2f}x |"
        )
    fp = rows["flightpath_score"]
    side = fp["side_rss_mb"]
    if "model_alone" in r:
        m = r["model_alone"]
        lines += [
            "",
            f"The model alone (one ONNX Runtime `run`, timed as the promotion gate times it, in the bench's own "
            f"process pinned to CPU {r['server_cpu']}): p50 {m['batch_1_p50_ms'] * 1000:.0f} us at batch 1, "
            f"{m['batch_256_p50_ms']:.2f} ms at batch 256 ({m['batch_256_per_row_us']:.1f} us a row). Everything "
            "else in a request's CPU time is the server around the model.",
        ]
    lines += [
        "",
        f"Memory: the worker holds {fp['rss_mb']:.0f} MB, {fp['rss_mb'] / floor['rss_mb']:.2f}x the floor's "
        "(6.6x on 2026-12-01, while it imported Feast with pandas and pyarrow, the MLflow client and "
        "SQLAlchemy). Beside it, one per server whatever the number of workers: the model-sync process "
        f"{side.get('model_sync', 0.0):.0f} MB (the MLflow client), the log shipper "
        f"{side.get('log_shipper', 0.0):.0f} MB (SQLAlchemy and the database driver); "
        f"{fp['rss_mb'] + fp['others_rss_mb']:.0f} MB in all for a one-worker server.",
        "",
        f"The tail: p99 at concurrency 1 is {fp['p99_c1'] / floor['p99_c1']:.1f}x the floor's "
        f"({fp['p99_c1']:.2f} ms vs {floor['p99_c1']:.2f} ms). A request appends its log row to the spool with "
        "one write() (serving/prediction_spool.py); the database insert happens in the log-shipper process. "
        "Until 2026-12-07 a writer thread inside the worker inserted rows under the GIL on the request CPU. "
        "The log is not what is left of the tail: measured by hand on 2026-12-07 (same set-up, /v1/score at "
        "concurrency 1, 8 s, twice each), the server as here gave p99 5.8-6.0 ms; with the shipper's fsync "
        "off 8.0-9.0 ms; with the log switched off in the code (no spool, nothing to ship) still 4.9-5.2 ms, "
        "while CPU per request fell from 1.06-1.12 to 0.81-0.88 ms and req/s rose ~25%. So the spool and "
        "its shipper cost about a quarter millisecond of CPU per request on this machine (the shipper's "
        "insert is ~60-110 us a row: JSON parsed, re-serialized by SQLAlchemy; the worker's encoding ~25 us, "
        "see the spool section), and the p99 stalls come from elsewhere in the worker: found, not fixed. "
        "The helpers run at nice 10, so a shipper pass yields the CPU to requests.",
    ]
    predict = r["flightpath_predict"]
    lines += [
        "",
        "With online features (`POST /v1/predict`: a real flight of the last day; join keys, one SQLite read of "
        "six feature views through `features.fast_online`, calendar features, model, flags, log row):",
        "",
        "| concurrency | req/s | p50 ms | p99 ms | max ms | CPU ms/req | errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {lv['concurrency']} | {lv['rps']:,.0f} | {lv['p50_ms']:.2f} | {lv['p99_ms']:.2f} | {_max(lv)} | "
            f"{lv['cpu_ms_per_request']:.3f} | {lv['errors']} |"
            for lv in predict
        ],
        *shadow_lines(r),
        "",
        "Targets (serving issue, this 2-core machine):",
        "",
        "| target | bound | measured | verdict |",
        "| --- | ---: | ---: | --- |",
    ]
    for name, (bound, what) in TARGETS.items():
        value = ratios[name]
        if name == "throughput_vs_mlflow":
            what = f"flightpath / mlflow throughput, {s['throughput_basis']}"
        shown = f"{value:.2f} ms" if name == "predict_p50_ms" else f"{value:.2f}x"
        bound_s = (
            f"< {bound} ms" if name == "predict_p50_ms" else (f">= {bound}x" if name in AT_LEAST else f"<= {bound}x")
        )
        lines.append(f"| {what} | {bound_s} | {shown} | {_verdict(name, value)} |")
    lines += [
        "",
        "Full sweep (closed loop: c connections, each sending its next request when the answer arrives):",
        "",
        "| server | c | req/s | p50 ms | p99 ms | max ms | CPU ms/req | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in SERVERS:
        lines += [
            f"| {label} | {lv['concurrency']} | {lv['rps']:,.0f} | {lv['p50_ms']:.2f} | {lv['p99_ms']:.2f} | "
            f"{_max(lv)} | {lv['cpu_ms_per_request']:.3f} | {lv['errors']} |"
            for lv in r[key]
        ]
    return lines


def shadow_lines(r: dict[str, Any]) -> list[str]:
    """The shadow's cost on the live server (benchmarks.serving.shadowed); none in runs before it."""
    if "flightpath_predict_shadowed" not in r:
        return []
    plain = {lv["concurrency"]: lv for lv in r["flightpath_predict"]}
    outcomes = r["shadow_outcomes"]
    copies = sum(outcomes.values())
    lines = [
        "",
        "With a shadow (`FLIGHTPATH_SHADOW_URL` set: every answered request is also POSTed to a second "
        "flightpath server in role shadow, serving/shadow_mirror.py; the shadow runs on the client's CPU, so "
        "the live server's own CPU per request is the comparable number, not its latency):",
        "",
        "| concurrency | CPU ms/req without | CPU ms/req with a shadow | ratio | p50 ms with | errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for lv in r["flightpath_predict_shadowed"]:
        base = plain[lv["concurrency"]]
        lines.append(
            f"| {lv['concurrency']} | {base['cpu_ms_per_request']:.3f} | {lv['cpu_ms_per_request']:.3f} | "
            f"{lv['cpu_ms_per_request'] / base['cpu_ms_per_request']:.2f}x | {lv['p50_ms']:.2f} | {lv['errors']} |"
        )
    shares = ", ".join(f"{k} {v / copies:.1%}" for k, v in sorted(outcomes.items())) if copies else "none"
    lines += ["", f"Copies during the run ({copies:,.0f}): {shares}."]
    return lines


def _max(lv: dict[str, Any]) -> str:
    return f"{lv['max_ms']:.1f}" if "max_ms" in lv else "-"  # runs before max was recorded have none
