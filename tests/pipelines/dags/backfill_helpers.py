"""Shared by the backfill tests (a uniquely named module, importable from this folder)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def lake_digest(lake_dir: Path) -> dict[str, str]:
    """sha256 of every parquet file of a lake, by relative path."""
    return {
        str(p.relative_to(lake_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake_dir.rglob("*.parquet"))
    }
