"""Load on a deployed service, and the autoscaler's answer to it, side by side every few seconds.

    flightpath k8s load --url http://127.0.0.1:8000 --seconds 300 --concurrency 32
    make k8s-load                         # the same against make kind-up's cluster

Each line: requests answered per second in the last interval, errors, latency p50/p99, and (with
kubectl and a context) the HPA's view: CPU use against its target, current and desired replicas,
and the serving pods ready. On a kind cluster the HPA needs metrics-server (infra/k8s-cluster.sh
installs it); without it the CPU column says <unknown> and no pod is added.

Why the HPA reacts as it does: k8s/NOTES.md "Requests, limits and the numbers behind them".
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cli.stack import SAMPLE_FLIGHT

REPORT_EVERY_S = 5.0


@dataclass
class Interval:
    """What happened in one reporting interval."""

    answered: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def line(self, seconds: float) -> str:
        ordered = sorted(self.latencies_ms) or [0.0]
        p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return f"{self.answered / seconds:8.1f} req/s  errors {self.errors:4d}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"


def hpa_status(context: str | None, namespace: str = "flightpath", name: str = "serving") -> str:
    """The HPA's CPU use vs target and its replicas, as kubectl reports them ("" without kubectl)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None or context is None:
        return ""
    proc = subprocess.run(
        [kubectl, "--context", context, "-n", namespace, "get", "hpa", name, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if proc.returncode != 0:
        return f"hpa: {proc.stderr.strip()[:120]}"
    return describe_hpa(json.loads(proc.stdout))


def describe_hpa(hpa: dict[str, Any]) -> str:
    """One line from an autoscaling/v2 HPA object: CPU now/target, replicas current -> desired."""
    target = next((m["resource"]["target"].get("averageUtilization") for m in hpa["spec"].get("metrics", [])), None)
    status = hpa.get("status", {})
    current = next(
        (
            m["resource"]["current"].get("averageUtilization")
            for m in status.get("currentMetrics") or []
            if m.get("type") == "Resource"
        ),
        None,
    )
    cpu = f"{current}%" if current is not None else "<unknown>"
    return (
        f"hpa cpu {cpu}/{target}%  replicas {status.get('currentReplicas', '?')} -> "
        f"{status.get('desiredReplicas', '?')}"
    )


async def _drive(url: str, seconds: float, concurrency: int, report: Callable[[Interval, float], None]) -> Interval:
    import httpx

    total = Interval()
    now = Interval()
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                reply = await client.post("/v1/predict", json=SAMPLE_FLIGHT)
                ok = reply.status_code == 200
            except httpx.HTTPError:
                ok = False
            for interval in (now, total):
                if ok:
                    interval.answered += 1
                    interval.latencies_ms.append((time.perf_counter() - started) * 1e3)
                else:
                    interval.errors += 1

    async def reporter() -> None:
        nonlocal now
        last = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(min(REPORT_EVERY_S, max(0.0, deadline - time.monotonic())))
            t = time.monotonic()
            done, now = now, Interval()
            report(done, t - last)
            last = t

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        await asyncio.gather(reporter(), *(worker(client) for _ in range(concurrency)))
    return total


def drive(
    url: str, seconds: float, concurrency: int, hpa: Callable[[], str] = lambda: "", echo: Callable[[str], None] = print
) -> Interval:
    """Drive /v1/predict for `seconds` with `concurrency` requests in flight; print a line per interval."""

    def report(interval: Interval, elapsed: float) -> None:
        echo(f"{interval.line(elapsed)}  {hpa()}".rstrip())

    return asyncio.run(_drive(url.rstrip("/"), seconds, concurrency, report))
