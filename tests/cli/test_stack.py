"""`flightpath stack`: the pure parts (the live stack is `make stack-test`)."""

from __future__ import annotations

from typing import Any

import pytest

from cli.stack import compose_variables, exposure_warnings, state_of


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


def published(service: str, host_ip: str) -> dict[str, Any]:
    ports = {"5000/tcp": [{"HostIp": host_ip, "HostPort": "5000"}]}
    return {"Config": {"Labels": {"com.docker.compose.service": service}}, "NetworkSettings": {"Ports": ports}}


def test_default_passwords_beyond_loopback_are_warned_about_and_loopback_is_quiet() -> None:
    found = [
        published("mlflow", "0.0.0.0"),
        published("grafana", "127.0.0.1"),
        published("redis", "10.0.0.5"),
        published("postgres", "0.0.0.0"),
    ]
    strong = {f"POSTGRES_{k}PASSWORD": "a-real-secret" for k in ("", "AIRFLOW_", "MLFLOW_", "FLIGHTPATH_")}
    warnings = exposure_warnings(found, {"MLFLOW_ADMIN_PASSWORD": "a-real-secret", **strong})
    assert len(warnings) == 2, warnings
    mlflow, redis = warnings
    assert mlflow.startswith("mlflow is published on 0.0.0.0 with default MLFLOW_PIPELINE_PASSWORD")
    assert "MLFLOW_ADMIN_PASSWORD" not in mlflow
    assert redis == "redis is published on 10.0.0.5 and has no login on the local stack"


def test_compose_variables_read_the_env_file_and_the_environment_wins(tmp_path, monkeypatch) -> None:
    env = tmp_path / ".env"
    env.write_text("# a comment\nGRAFANA_ADMIN_PASSWORD=from-file\nMLFLOW_SECRET_KEY=file-key\n")
    monkeypatch.setenv("MLFLOW_SECRET_KEY", "from-environment")
    monkeypatch.setenv("UNRELATED", "x")
    values = compose_variables(env)
    assert values["GRAFANA_ADMIN_PASSWORD"] == "from-file"
    assert values["MLFLOW_SECRET_KEY"] == "from-environment"
    assert "UNRELATED" not in values
