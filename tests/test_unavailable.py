"""tests/conftest.py `unavailable`: a missing server or tool skips on a laptop and fails in CI."""

from __future__ import annotations

import pytest

from tests import conftest


def test_a_missing_dependency_skips_outside_ci(monkeypatch) -> None:
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="redis-server is not on PATH"):
        conftest.unavailable("redis-server is not on PATH")


def test_a_missing_dependency_fails_in_ci(monkeypatch) -> None:
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI requires it: hadolint not found"):
        conftest.unavailable("hadolint not found")
