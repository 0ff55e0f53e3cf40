from __future__ import annotations

from pathlib import Path

import pytest

from flightpath.atomic import atomic_path, write_text


def test_failed_write_leaves_old_content_and_no_temp_file(tmp_path: Path) -> None:
    dest = write_text("old", tmp_path / "f.txt")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
