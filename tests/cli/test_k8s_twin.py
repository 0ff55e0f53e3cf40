"""`flightpath k8s twin`: the pod spec -> `docker run` translation, checked on the rendered overlay.
(The twins themselves run in `make stack-test`, once the images are built.)"""

from __future__ import annotations

import copy
import shutil

import pytest

from cli.k8s_twin import Twin, compose_stand_ins, docker_run_args, expand, images, render, twin_docs, twins
from flightpath.errors import FlightpathError
from tests.conftest import unavailable


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    if shutil.which("kubectl") is None:
        unavailable("kubectl is not on PATH (it renders the overlay with its built-in kustomize)")
    return twin_docs(render("kind"), tmp_path_factory.mktemp("keys"))


def option(twin: Twin, flag: str) -> list[str]:
    return [twin.args[i + 1] for i, a in enumerate(twin.args) if a == flag]


def test_every_workload_is_twinned_in_start_order(docs):
    assert [(t.kind, t.name) for t in twins(docs, "net")] == [
        ("StatefulSet", "postgres"),  # the stores and the registry before what uses them
        ("Deployment", "redis"),
        ("Deployment", "mlflow"),
        ("Job", "mlflow-users"),
        ("Job", "seed"),  # needs all three and the users
        ("Deployment", "serving"),  # ready only once seeded
        ("Deployment", "serving-canary"),  # the first version is champion and challenger
        ("Deployment", "serving-shadow"),
        ("CronJob", "next-day"),  # needs the seeded volume
    ]


def test_a_third_party_image_can_be_swapped_for_a_stand_in(docs):
    stand_in = {"postgres:17-alpine": "local/postgres:15"}
    postgres = next(t for t in twins(docs, "net", stand_in) if t.name == "postgres")
    assert "local/postgres:15" in postgres.args and "postgres:17-alpine" not in postgres.args
    assert postgres.image == "local/postgres:15"


def test_every_third_party_image_has_the_stand_in_compose_uses(docs):
    third_party = {i for i in images(docs) if not i.startswith("flightpath-")}
    assert third_party == {"postgres:17-alpine", "redis:7.4-alpine"}
    stand_ins = compose_stand_ins({"POSTGRES_IMAGE": "local/postgres:15", "REDIS_IMAGE": "local/redis:7"})
    assert third_party <= set(stand_ins) and stand_ins["redis:7.4-alpine"] == "local/redis:7"
    assert compose_stand_ins({}) == {}  # nothing set: the official images


def test_env_values_expand_variables_defined_above_them():
    env = {"PASSWORD": "s3cret"}
    assert expand("pg://u:$(PASSWORD)@h", env) == "pg://u:s3cret@h"
    assert expand("$$(PASSWORD)", env) == "$(PASSWORD)"  # escaped: literal
    assert expand("$(UNKNOWN)", env) == "$(UNKNOWN)"  # as the kubelet leaves it


def test_the_log_url_gets_the_password_from_the_secret(docs):
    for name in ("serving", "seed", "next-day"):
        twin = next(t for t in twins(docs, "net") if t.name == name)
        env = dict(e.split("=", 1) for e in option(twin, "--env"))
        assert env["FLIGHTPATH_PREDICTION_LOG_URL"] == (
            "postgresql+psycopg://flightpath:flightpath-log-local@postgres:5432/flightpath"
        ), name


def test_claims_are_shared_volumes_and_statefulset_claims_are_per_pod(docs):
    by_name = {t.name: t for t in twins(docs, "net")}
    assert by_name["seed"].claims == by_name["next-day"].claims == {"net-pipeline-data": (10001, 10001)}
    assert "type=volume,source=net-pipeline-data,target=/var/lib/flightpath" in option(by_name["seed"], "--mount")
    assert by_name["postgres"].claims == {"net-data-postgres-0": (70, 70)}  # <template>-<statefulset>-<ordinal>


def test_secret_volumes_are_files_readable_by_the_pod_group_only(docs):
    seed = next(t for t in twins(docs, "net") if t.name == "seed")
    assert set(seed.files["signing"]) == {"model-signing.key", "model-signing.pub"}
    assert seed.file_modes["signing"] == (0, 10001, 0o440)  # defaultMode 0400 + group read for fsGroup
    assert "type=bind,source={signing},target=/etc/flightpath/signing,readonly" in option(seed, "--mount")


def test_the_cronjob_runs_its_job_template_as_the_seed_runs(docs):
    by_name = {t.name: t for t in twins(docs, "net")}
    seed, daily = by_name["seed"], by_name["next-day"]
    for flag in ("--user", "--memory", "--cpus", "--cap-drop", "--tmpfs", "--mount"):
        assert option(seed, flag) == option(daily, flag), flag
    assert daily.args[-4:] == ["flightpath-pipelines:dev", "-m", "cli", "next-day"]


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
    assert list(job.files["script"]) == ["create_users.py"]  # only the item the volume names


def test_a_missing_required_config_map_is_refused(docs):
    serving = copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "serving"))
    serving["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"] = "nowhere"
    with pytest.raises(FlightpathError, match="ConfigMap nowhere is not in the overlay"):
        docker_run_args(serving, docs, network="net")
