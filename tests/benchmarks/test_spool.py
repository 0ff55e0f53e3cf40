"""The spool benchmark measures the three policies on the same rows and renders what it measured."""

from __future__ import annotations

from benchmarks import spool


def test_a_small_run_measures_every_policy_and_renders_its_ratios(tmp_path, monkeypatch):
    monkeypatch.setenv("FLIGHTPATH_HOME", str(tmp_path))
    monkeypatch.setattr(spool, "ROWS", {"floor": 200, "interval": 200, "always": 20})
    r = spool.run()
    assert [r[k]["rows"] for k in ("floor", "interval", "always")] == [200, 200, 20]
    assert all(r[k]["p50_us"] > 0 and r[k]["p99_us"] >= r[k]["p50_us"] for k in ("floor", "interval", "always"))
    assert list(tmp_path.iterdir()) == []  # the rows written are removed
    page = "\n".join(spool.render(r))
    ratio = r["always"]["p50_us"] / r["floor"]["p50_us"]
    assert "| always | 20 |" in page and f"{ratio:.1f}x |" in page
