"""A deployed flightpath answers as a user expects: ready with a model, a prediction from it with
online features, and that prediction's row in the prediction log.

    flightpath k8s smoke --serving http://127.0.0.1:8000 --log-dsn "host=127.0.0.1 port=5432 ..."

Used on a kind/minikube cluster (infra/k8s-cluster.sh, through port-forwards) and on the pod twins.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from cli.stack import SAMPLE_FLIGHT, logged_rows
from flightpath.errors import FlightpathError


def _until(check: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise FlightpathError(f"after {timeout:.0f} s: {what()}")
        time.sleep(2)


def smoke(serving: str, log_dsn: str | None, timeout: float = 120) -> list[str]:
    """Run the checks; each passed one as a line. Raises FlightpathError at the first that fails."""
    said: list[str] = []
    ready: dict[str, httpx.Response] = {}

    def is_ready() -> bool:
        ready["r"] = httpx.get(f"{serving}/readyz", timeout=5)
        return ready["r"].status_code == 200 and bool(ready["r"].json().get("model_version"))

    _until(is_ready, timeout, lambda: f"/readyz {ready['r'].status_code} {ready['r'].text}" if ready else "no answer")
    version = ready["r"].json()["model_version"]
    said.append(f"serving: /readyz 200, model v{version}")
    answer = httpx.post(f"{serving}/v1/predict", json=SAMPLE_FLIGHT, timeout=10)
    body = answer.json()
    if answer.status_code != 200 or str(body["model"]["version"]) != str(version) or body["degraded"]:
        raise FlightpathError(f"/v1/predict: {answer.status_code} {answer.text}")
    said.append(f"serving: /v1/predict p={body['probability']:.4f} from v{version}, online features (not degraded)")
    if log_dsn is not None:
        request_id = body["request_id"]
        _until(
            lambda: logged_rows(request_id, log_dsn) == 1,
            timeout,
            lambda: f"prediction {request_id} is not in the prediction log",
        )
        said.append("PostgreSQL: the prediction's row is in the log")
    return said


def logged_sources(request_id: str, dsn: str) -> list[str]:
    """flags.source of each row of the prediction log carrying `request_id` (sorted)."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        rows = conn.execute("SELECT flags->>'source' FROM predictions WHERE request_id = %s", (request_id,)).fetchall()
    return sorted(str(r[0]) for r in rows)


def shadow_smoke(serving: str, log_dsn: str, timeout: float = 120) -> list[str]:
    """A live prediction is answered, copied to the shadow, and both answers are in the log."""
    import uuid

    request_id = f"shadow-smoke-{uuid.uuid4().hex[:8]}"
    answer = httpx.post(f"{serving}/v1/predict", json=SAMPLE_FLIGHT, headers={"x-request-id": request_id}, timeout=10)
    if answer.status_code != 200:
        raise FlightpathError(f"/v1/predict: {answer.status_code} {answer.text}")
    _until(
        lambda: logged_sources(request_id, log_dsn) == ["predict", "shadow"],
        timeout,
        lambda: f"rows of {request_id}: {logged_sources(request_id, log_dsn)} (want a live and a shadow one)",
    )
    return [f"shadow: request {request_id} answered live, copied to the shadow, both answers in the log"]
