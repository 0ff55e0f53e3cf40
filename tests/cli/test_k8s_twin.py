"""`flightpath k8s twin`: the pod spec -> `docker run` translation, checked on the rendered overlay.
(The twins themselves run in `make stack-test`, once the images are built.)"""

from __future__ import annotations

import copy
import shutil

import pytest

from cli.k8s_twin import Twin, docker_run_args, render, twins
from flightpath.errors import FlightpathError
from tests.conftest import unavailable


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    if shutil.which("kubectl") is None:
        unavailable("kubectl is not on PATH (it renders the overlay with its built-in kustomize)")
    return render("kind")


def option(twin: Twin, flag: str) -> list[str]:
    return [twin.args[i + 1] for i, a in enumerate(twin.args) if a == flag]


def test_our_workloads_are_twinned_in_start_order(docs):
    assert [(t.kind, t.name) for t in twins(docs, "net")] == [
        ("Deployment", "mlflow"),  # first: the Job and serving need it
        ("Job", "mlflow-users"),
        ("Deployment", "serving"),
    ]  # redis: a third-party image, not twinned


def test_the_serving_twin_is_locked_down_as_its_pod(docs):
    serving = next(t for t in twins(docs, "net") if t.name == "serving")
    assert option(serving, "--user") == ["10001:10001"] and "--read-only" in serving.args
    assert option(serving, "--cap-drop") == ["ALL"] and option(serving, "--security-opt") == ["no-new-privileges"]
    assert option(serving, "--memory") == [str(2**30)] and option(serving, "--cpus") == ["1"]
    assert option(serving, "--network-alias") == ["serving"]
    tmpfs = option(serving, "--tmpfs")
    assert f"/var/lib/flightpath:uid=10001,gid=10001,mode=0770,exec,size={2**30}" in tmpfs
    assert any(t.startswith("/tmp:") for t in tmpfs)
    env = dict(e.split("=", 1) for e in option(serving, "--env"))
    assert env["FLIGHTPATH_PREDICTION_SPOOL_MAX_MB"] == "512"  # the Deployment's own env
    assert env["FLIGHTPATH_HOME"] == "/var/lib/flightpath"  # from the generated ConfigMap
    assert env["MLFLOW_TRACKING_PASSWORD"] == "flightpath-serving-local"  # from the generated Secret
    tail = serving.args[serving.args.index("--entrypoint") :]
    assert tail == ["--entrypoint", "python", "flightpath-serving:dev", "-m", "serving"]
    assert serving.probes["readiness"]["httpGet"]["path"] == "/readyz" and serving.ports == {"http": 8000}


def test_configmap_volumes_become_read_only_files(docs):
    job = next(t for t in twins(docs, "net") if t.name == "mlflow-users")
    assert option(job, "--mount") == ["type=bind,source={script},target=/etc/flightpath,readonly"]
    assert "create_users.py" in job.files["script"]


def test_a_missing_required_config_map_is_refused(docs):
    serving = copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "serving"))
    serving["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"] = "nowhere"
    with pytest.raises(FlightpathError, match="ConfigMap nowhere is not in the overlay"):
        docker_run_args(serving, docs, network="net")
