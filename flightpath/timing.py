"""Stage timing: every long step reports how long it took (the demo prints the table)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(into: dict[str, float], key: str) -> Iterator[None]:
    """Add the block's wall time in seconds to `into[key]`."""
    start = time.perf_counter()
    try:
        yield
    finally:
        into[key] = round(into.get(key, 0.0) + time.perf_counter() - start, 3)
