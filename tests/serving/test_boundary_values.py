"""Boundary values against a real `flightpath serve`: every field of every POST endpoint, one at a
time and then mixed with a fixed seed, gets the values that break parsers and arithmetic.

Complements the schemathesis run in test_reliability.py, which generates from the OpenAPI schema and
so rarely sends what the schema does not describe: raw `NaN`/`Infinity` tokens, a 400-digit integer,
lone surrogates, a date at the end of the calendar, a body nested 100,000 deep. The promise checked
is the one a client relies on: never a 5xx, always a JSON answer, and the process stays up.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

import httpx
import pytest
from live_service import serve
from serving_fakes import FLIGHT, Registry, build_model, copy_registry

from features import contract
from flightpath.prediction_table import read_rows

pytestmark = pytest.mark.integration  # a real uvicorn process

SEED = 2013
MIXED_CASES = 400

# Raw JSON fragments, not Python values: `NaN`, `1e999` and a lone surrogate can only be sent that way.
NUMBERS = [
    "0", "-0", "-1", "1", "9999", "10000", "2147483648", "9223372036854775808", "-9223372036854775809",
    "1" + "0" * 400, "1e308", "-1e308", "1e999", "-1e999", "4.9e-324", "1.5", "NaN", "Infinity", "-Infinity",
]  # fmt: skip
STRINGS = [
    '""', '" "', '"NaN"', '"inf"', '"-Infinity"', '"1e999"', json.dumps("x" * 100_000), '"\\u0000"', '"\\ud800"',
    '"\u2708\ufe0f"', '"\u0130"', '"\u00df"', '"\u202eLAX"', '"ewr"', '"JFK "', '"UA\\nUA"', '"<script>"',
    "\"'; DROP TABLE predictions; --\"",
]  # fmt: skip
DATES = [
    '"0001-01-01T00:00:00"', '"0001-01-01T00:00:00+14:00"', '"9999-12-31T23:59:59"', '"9999-12-31T23:00:00-14:00"',
    '"2012-12-31T23:59:59"', '"2013-01-01T00:00:00"', '"2013-12-31T23:59:59.999999"', '"2014-01-01T00:00:00"',
    '"2013-03-10T02:30:00"', '"2013-11-03T01:30:00"', '"2013-11-03T01:30:00-04:00"', '"2013-11-03T01:30:00-05:00"',
    '"2013-02-29T10:00:00"', '"2013-06-01"', '"2013-06-01T25:00:00"', '"2013-06-01T12:00:00Z"', '"1370000000"',
    "1370000000", "1e20", '"+20130-06-01T12:00:00"',
]  # fmt: skip
OTHERS = ["null", "true", "[]", "{}", "[" * 100_000 + "]" * 100_000]


def _body(fields: dict[str, str]) -> bytes:
    """A JSON object from raw value fragments (so invalid-for-Python values pass through as sent)."""
    return ("{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items()) + "}").encode()


def _flight_fields() -> dict[str, str]:
    return {name: json.dumps(value) for name, value in FLIGHT.items()}


def _score_fields() -> dict[str, str]:
    fields = {name: "1.0" for name in contract.NUMERIC_FEATURES}
    fields.update({"carrier": '"UA"', "origin": '"EWR"', "dest": '"IAH"'})
    return fields


def _values_for(field: str) -> list[str]:
    base = OTHERS + STRINGS + NUMBERS
    return base + DATES if field == "sched_dep_local" else base


def cases(seed: int = SEED) -> Iterator[tuple[str, bytes]]:
    """(path, body) pairs: each field alone with each value, then `MIXED_CASES` seeded mixtures."""
    templates = {"/v1/predict": _flight_fields, "/v1/score": _score_fields}
    for path, template in templates.items():
        for field in template():
            for value in _values_for(field):
                yield path, _body({**template(), field: value})
            rest = {k: v for k, v in template().items() if k != field}
            yield path, _body(rest)  # the field missing
        yield path, _body({**template(), "extra": "1"})
        yield path, b"NaN"
        yield path, b""
        yield path, b"\xff\xfe not utf-8"
    flight = _body(_flight_fields()).decode()
    for n in (0, 1, 1000, 1001):
        yield "/v1/predict/batch", f'{{"flights": [{", ".join([flight] * n)}]}}'.encode()
    yield "/v1/predict/batch", b'{"flights": null}'
    rng = random.Random(seed)
    for _ in range(MIXED_CASES):
        path = rng.choice(list(templates))
        fields = templates[path]()
        for field in rng.sample(sorted(fields), k=rng.randint(2, 5)):
            fields[field] = rng.choice(_values_for(field))
        body = _body(fields)
        if path == "/v1/predict" and rng.random() < 0.3:
            body = f'{{"flights": [{body.decode()}, {flight}]}}'.encode()
            path = "/v1/predict/batch"
        yield path, body


def test_the_cases_are_fixed_by_the_seed():
    assert list(cases()) == list(cases())
    assert list(cases(SEED)) != list(cases(SEED + 1))


@pytest.fixture
def champion_registry(_registry_template, tmp_path) -> Registry:
    registry = copy_registry(_registry_template, tmp_path / "mlflow")
    registry.register(build_model())
    return registry


def _logged_ids(path: str, answer: dict) -> list[str]:
    """The prediction-log request ids an accepted answer must leave behind."""
    if path != "/v1/predict/batch":
        return [answer["request_id"]]
    n = len(answer["predictions"])
    return [answer["request_id"]] if n == 1 else [f"{answer['request_id']}:{i}" for i in range(n)]


def _wait_for_log(url: str, expected: set[str], timeout_s: float = 20) -> set[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        logged = {row["request_id"] for row in read_rows(url)}
        if expected <= logged or time.monotonic() > deadline:
            return logged
        time.sleep(0.25)


def test_boundary_values_never_get_a_server_error_and_every_answer_is_logged(champion_registry, tmp_path):
    """The accepted side matters as much: a value that passes validation but cannot be stored (a
    NUL byte, a lone surrogate) would fail the prediction log's insert and lose its neighbours' rows."""
    statuses: dict[int, int] = {}
    server_errors: list[str] = []
    not_json: list[str] = []
    expected_ids: set[str] = set()
    home = tmp_path / "home"
    with serve(home, champion_registry) as svc, httpx.Client(base_url=svc.base, timeout=30) as client:
        for path, body in cases():
            try:
                response = client.post(path, content=body, headers={"content-type": "application/json"})
            except httpx.TransportError as exc:  # a dropped connection is a failure a client sees
                server_errors.append(f"{path} {body[:120]!r} -> {type(exc).__name__}: {exc}")
                continue
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                server_errors.append(f"{path} {body[:120]!r} -> {response.status_code}: {response.text[:200]}")
            try:
                answer = response.json()
            except ValueError:
                not_json.append(f"{path} {body[:120]!r} -> {response.status_code}: {response.text[:120]!r}")
                continue
            if response.status_code == 200:
                expected_ids.update(_logged_ids(path, answer))
        assert svc.proc.poll() is None
        assert client.get("/readyz").status_code == 200
        logged = _wait_for_log(f"sqlite:///{home / 'predictions.db'}", expected_ids)
    total = sum(statuses.values())
    print(f"FIGURE boundary values: {total} requests {dict(sorted(statuses.items()))}, {len(expected_ids)} logged")
    assert not server_errors, "\n".join(server_errors[:20])
    assert not not_json, not_json[:5]
    assert total > 1500
    assert statuses.get(200, 0) > 100 and statuses.get(422, 0) > 1000  # both sides of the boundary were reached
    assert expected_ids - logged == set(), f"{len(expected_ids - logged)} accepted predictions missing from the log"
