"""The 422 answer, made safe to serialize.

FastAPI's 422 echoes the offending input. Python's JSON reader accepts `NaN`, `Infinity` and
`-Infinity`, and the response encoder refuses non-finite floats, so `{"flight": NaN}` used to turn a
validation error into a 500. Here every non-finite number in the error body becomes its JSON-ish
name as a string ("NaN", "Infinity", "-Infinity"): the client still sees what it sent, and the
answer stays a 422. The same for text: JSON's `"\ud800"` escape gives Python a lone surrogate, which
UTF-8 cannot encode (another 500, found by tests/serving/test_boundary_values.py); it is echoed back
as the escape the client sent.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def encodable(value: Any) -> Any:
    """`value` with every non-finite float replaced by "NaN", "Infinity" or "-Infinity", and every
    string UTF-8 cannot encode by its backslash-escaped form."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(v) for v in value]
    return value


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": encodable(jsonable_encoder(exc.errors()))})
