"""`flightpath stack`: the pure parts (the live stack is `make stack-test`)."""

from __future__ import annotations

from typing import Any

import pytest

from cli.stack import state_of


def inspect(status: str, health: str | None = None, exit_code: int = 0, service: str = "serving") -> dict[str, Any]:
    state: dict[str, Any] = {"Status": status, "ExitCode": exit_code}
    if health is not None:
        state["Health"] = {"Status": health}
    return {"State": state, "Config": {"Labels": {"com.docker.compose.service": service}}}


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        (inspect("running", "healthy"), "ok"),
        (inspect("running", "starting"), "waiting"),
        (inspect("running", "unhealthy"), "failed"),
        (inspect("running"), "ok"),  # no health check: running is all it can say
        (inspect("created"), "waiting"),
        (inspect("exited", exit_code=0, service="airflow-init"), "ok"),  # a one-shot job that finished
        (inspect("exited", exit_code=1, service="airflow-init"), "failed"),
        (inspect("exited", exit_code=0, service="serving"), "failed"),  # a server must not exit
    ],
)
def test_state_of_a_container(container: dict[str, Any], expected: str) -> None:
    assert state_of(container) == expected


def test_status_without_a_docker_engine_says_so_and_fails(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from cli.stack import app

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 1
    assert "no Docker engine answers" in result.output
