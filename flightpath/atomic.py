"""Write-then-rename, so a reader never sees half a file and a killed job leaves nothing behind.

A rename within one filesystem is atomic on POSIX: the destination holds either the old bytes or
the new ones. The temporary file sits in the same folder for that reason.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # at run time pandas comes with the DataFrame: a serving worker never imports it
    import pandas as pd


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it onto `dest` only if the block succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_parquet(df: pd.DataFrame, dest: Path) -> Path:
    """Write a deterministic parquet file atomically (no index, no wall-clock metadata)."""
    with atomic_path(dest) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    return dest


def write_text(text: str, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return dest


def write_with(dest: Path, writer: Callable[[Path], object]) -> Path:
    """Atomically write `dest` with any function that writes to a given path."""
    with atomic_path(dest) as tmp:
        writer(tmp)
    return dest
