"""The floor for the serving benchmark: a raw ASGI app around the same ONNX session.

    FLOOR_MODEL=/path/model.onnx uvicorn benchmarks.serving_floor:app --workers 1

It accepts the same JSON body as `POST /v1/score` (one field per contract.MODEL_INPUTS, null =
missing) and answers `{"probability": p}`. No framework, no validation, no logging, no metrics: it
is what any Python HTTP service around this model must pay at least (uvicorn's HTTP parsing, JSON in
and out, the float32/object arrays ORT wants, one `session.run`). The session is built by serving's
own `new_session` (same threads, same graph optimisations), so the model cost is identical.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from features import contract
from flightpath.artifact import new_session

_session: Any = None


def _load() -> Any:
    global _session
    if _session is None:
        _session = new_session(Path(os.environ["FLOOR_MODEL"]).read_bytes())
    return _session


def _feed(row: dict[str, Any]) -> dict[str, np.ndarray]:
    # Every number in one float32 array, one contiguous (1,) view per input: the cheapest feed.
    numbers = np.array(
        [math.nan if row[n] is None else row[n] for n in contract.NUMERIC_FEATURES], dtype=np.float32
    ).reshape(-1, 1)
    feed: dict[str, np.ndarray] = dict(zip(contract.NUMERIC_FEATURES, numbers, strict=True))
    for name in contract.CATEGORICAL_FEATURES:
        feed[name] = np.array([row[name]], dtype=object)
    return feed


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _load()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    row = json.loads(await _read_body(receive))
    (probability,) = _load().run(["probability"], _feed(row))
    body = json.dumps({"probability": float(probability[0])}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
