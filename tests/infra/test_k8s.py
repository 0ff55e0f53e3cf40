"""k8s/ checked offline: every overlay renders, passes strict schema validation, and is wired right."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

# Cluster versions the manifests must stay valid for: the tool's newest schema and an older floor
# (kind/minikube releases of the last couple of years).
K8S_VERSIONS = ("1.30.0", None)  # None = kubernetes-validate's default (its newest)
NODE_PORT_RANGE = range(30000, 32768)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def test_overlays_exist(h) -> None:
    names = {p.name for p in h.overlay_dirs()}
    assert {"kind", "minikube"} <= names, names


@pytest.mark.parametrize("version", K8S_VERSIONS, ids=lambda v: v or "latest")
def test_rendered_overlays_pass_strict_schema_validation(rendered_overlays, tool, h, tmp_path: Path, version) -> None:
    validate = tool("kubernetes-validate")
    for name, (text, _) in rendered_overlays.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        cmd = [validate, "--strict", "--quiet", *(["-k", version] if version else []), str(path)]
        proc = h.run(cmd)
        assert proc.returncode == 0, f"{name} overlay failed kubernetes-validate --strict:\n{proc.stdout}{proc.stderr}"


def test_strict_validation_is_not_vacuous(tool, h, tmp_path: Path) -> None:
    """An unknown field must fail the same command (so a green run means something)."""
    validate = tool("kubernetes-validate")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
        "spec:\n  ports: [{port: 80}]\n  selectr: {a: b}\n"  # misspelt "selector"
    )
    proc = h.run([validate, "--strict", "--quiet", str(bad)])
    assert proc.returncode != 0, "kubernetes-validate --strict accepted an unknown field"


def test_base_has_the_expected_objects(rendered_overlays) -> None:
    for name, (_, docs) in rendered_overlays.items():
        kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
        for expected in [
            ("Namespace", "flightpath"),
            ("Deployment", "serving"),
            ("Service", "serving"),
            ("Deployment", "redis"),
            ("Service", "redis"),
            ("Deployment", "mlflow"),
            ("Service", "mlflow"),
            ("PodDisruptionBudget", "serving"),
            ("HorizontalPodAutoscaler", "serving"),
        ]:
            assert expected in kinds, f"{name}: missing {expected}"
        assert any(k == "ConfigMap" and n.startswith("flightpath-config") for k, n in kinds)
        for d in docs:
            if d["kind"] != "Namespace":
                assert d["metadata"].get("namespace") == "flightpath", f"{name}: {d['kind']} outside the namespace"


def test_serving_deployment_shape(rendered_overlays) -> None:
    for name, (_, docs) in rendered_overlays.items():
        dep = by_kind(docs, "Deployment")["serving"]
        spec = dep["spec"]
        assert spec["replicas"] == 2
        pod = spec["template"]["spec"]
        (c,) = pod["containers"]
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["resources"]["requests"] and c["resources"]["limits"], name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]]
        # the model cache lives under FLIGHTPATH_HOME (settings.models_dir = home / "models")
        config = next(
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("flightpath-config")
        )
        home = config["data"]["FLIGHTPATH_HOME"]
        assert home in mounts and "emptyDir" in volumes[mounts[home]], f"{name}: no writable emptyDir at {home}"


def test_every_pod_is_non_root_with_probes_and_resources(rendered_overlays, h) -> None:
    for name, (_, docs) in rendered_overlays.items():
        for d in docs:
            for pod in h.pod_specs(d):
                assert pod.get("securityContext", {}).get("runAsNonRoot") is True, f"{name}: {d['metadata']['name']}"
                assert pod.get("automountServiceAccountToken") is False, f"{name}: {d['metadata']['name']}"
                for c in pod["containers"]:
                    where = f"{name}: {d['metadata']['name']}/{c['name']}"
                    if d["kind"] not in ("Job", "CronJob"):  # a one-shot's health is its exit code
                        assert c.get("readinessProbe") and c.get("livenessProbe"), where
                    assert c.get("resources", {}).get("limits", {}).get("memory"), where
                    sc = c.get("securityContext", {})
                    assert sc.get("readOnlyRootFilesystem") is True and sc.get("capabilities", {}).get("drop") == [
                        "ALL"
                    ], where


def test_hpa_pdb_and_services_select_real_pods(rendered_overlays, h) -> None:
    for name, (_, docs) in rendered_overlays.items():
        deployments = by_kind(docs, "Deployment") | by_kind(docs, "StatefulSet")
        jobs = by_kind(docs, "Job") | by_kind(docs, "CronJob")  # clients only: no Service selects them
        pod_labels = {n: h.pod_template(d)["metadata"]["labels"] for n, d in (deployments | jobs).items()}

        def selects(selector: dict[str, str], pod_labels=pod_labels) -> list[str]:
            return [n for n, labels in pod_labels.items() if selector.items() <= labels.items()]

        for svc_name, svc in by_kind(docs, "Service").items():
            if svc["spec"].get("type") == "ExternalName":  # a name for a host outside (the cloud overlay's database)
                continue
            targets = selects(svc["spec"]["selector"])
            # serving's Service also sends a share to its canary (k8s/base/serving-canary)
            expected = [svc_name, f"{svc_name}-canary"] if f"{svc_name}-canary" in deployments else [svc_name]
            assert targets == expected, f"{name}: Service {svc_name} selects {targets}"
            ports = {p["name"] for c in h.containers(deployments[svc_name]) for p in c.get("ports", [])}
            for port in svc["spec"]["ports"]:
                if isinstance(port["targetPort"], str):
                    assert port["targetPort"] in ports, f"{name}: {svc_name} targets unknown port {port['targetPort']}"
        pdb = by_kind(docs, "PodDisruptionBudget")["serving"]
        assert selects(pdb["spec"]["selector"]["matchLabels"]) == ["serving", "serving-canary"]  # both tracks
        hpa = by_kind(docs, "HorizontalPodAutoscaler")["serving"]
        assert hpa["spec"]["scaleTargetRef"]["name"] == "serving" and hpa["spec"]["minReplicas"] >= 2
        for np in by_kind(docs, "NetworkPolicy").values():
            selector = np["spec"]["podSelector"].get("matchLabels")
            if selector:
                assert selects(selector), f"{name}: NetworkPolicy {np['metadata']['name']} selects no pod"
            for rule in np["spec"].get("ingress", []):  # a `from` that matches nobody locks everyone out
                for peer in rule.get("from", []):
                    labels = peer.get("podSelector", {}).get("matchLabels")
                    if labels:
                        assert selects(labels), f"{name}: NetworkPolicy {np['metadata']['name']} admits no pod"


def _ports_in(docs: list[dict[str, Any]], h) -> list[tuple[str, int, str]]:
    found = []
    for d in docs:
        name = f"{d['kind']}/{d['metadata']['name']}"
        if d["kind"] == "Service":
            for p in d["spec"].get("ports", []):
                found.append((name, p["port"], "port"))
                if isinstance(p.get("targetPort"), int):
                    found.append((name, p["targetPort"], "targetPort"))
        if d["kind"] == "ConfigMap":
            for key, value in d.get("data", {}).items():
                if key.endswith("_PORT"):
                    found.append((name, int(value), key))
                found += [(name, int(port), key) for port in re.findall(r":(\d{2,5})\b", value)]
        if d["kind"] == "NetworkPolicy":
            for rule in d["spec"].get("ingress", []):
                found += [
                    (name, p["port"], "networkpolicy") for p in rule.get("ports", []) if isinstance(p["port"], int)
                ]
        for pod in h.pod_specs(d):
            annotations = h.pod_template(d)["metadata"].get("annotations", {})
            if "prometheus.io/port" in annotations:
                found.append((name, int(annotations["prometheus.io/port"]), "prometheus.io/port"))
            for c in pod["containers"]:
                found += [(name, p["containerPort"], "containerPort") for p in c.get("ports", [])]
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    spec = c.get(probe) or {}
                    for handler in ("httpGet", "tcpSocket"):
                        port = spec.get(handler, {}).get("port")
                        if isinstance(port, int):
                            found.append((name, port, probe))
                argv = [str(a) for a in c.get("command", []) + c.get("args", [])]
                found += [(name, int(v), "--port") for f, v in zip(argv, argv[1:], strict=False) if f == "--port"]
                for env in c.get("env", []):
                    found += [(name, int(p), env["name"]) for p in re.findall(r":(\d{2,5})\b", env.get("value", ""))]
    return found


def test_every_port_is_a_design_port(rendered_overlays, allowed_ports: set[int], h) -> None:
    for name, (_, docs) in rendered_overlays.items():
        found = _ports_in(docs, h)
        assert len(found) > 8, f"{name}: port extraction found suspiciously few ports"
        bad = [f for f in found if f[1] not in allowed_ports]
        assert not bad, f"{name}: ports outside the design's list {sorted(allowed_ports)}: {bad}"
        for d in by_kind(docs, "Service").values():
            for p in d["spec"].get("ports", []):
                if "nodePort" in p:
                    assert p["nodePort"] in NODE_PORT_RANGE, f"{name}: nodePort {p['nodePort']}"


def test_kind_config_maps_node_ports_to_design_ports(rendered_overlays, repo_root: Path, allowed_ports, h) -> None:
    config = h.load_yaml(repo_root / "infra" / "kind-config.yaml")
    assert config["kind"] == "Cluster" and config["apiVersion"].startswith("kind.x-k8s.io/")
    mappings = [m for node in config["nodes"] for m in node.get("extraPortMappings", [])]
    node_ports = {
        p["nodePort"]: (svc_name, p["port"])
        for svc_name, svc in by_kind(rendered_overlays["kind"][1], "Service").items()
        for p in svc["spec"]["ports"]
        if "nodePort" in p
    }
    assert {m["containerPort"] for m in mappings} == set(node_ports), (mappings, node_ports)
    for m in mappings:
        svc_name, service_port = node_ports[m["containerPort"]]
        assert m["hostPort"] == service_port and m["hostPort"] in allowed_ports, (m, svc_name)
        assert m.get("listenAddress") == "127.0.0.1", m


def test_local_overlays_use_local_images_without_pulling(rendered_overlays, repo_root: Path, h) -> None:
    dockerfiles = {p.name.removesuffix(".Dockerfile") for p in h.dockerfiles()}
    compose = h.load_yaml(repo_root / "docker-compose.yml")
    compose_images = {s.get("image") for s in compose["services"].values()}
    for name, (_, docs) in rendered_overlays.items():
        for d in docs:
            for c in h.containers(d):
                image = c["image"]
                if image.startswith("flightpath-"):
                    assert image.split(":")[0].removeprefix("flightpath-") in dockerfiles, image
                    assert c["imagePullPolicy"] in {"IfNotPresent", "Never"}, f"{name}: {image} would be pulled"
                    assert image in compose_images, f"{name}: {image} is not the tag compose builds"
                else:
                    assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned {image}"


def test_env_names_are_settings_fields_or_third_party(rendered_overlays, check_env_name, h) -> None:
    for name, (_, docs) in rendered_overlays.items():
        problems = []
        # ConfigMaps and Secrets whose keys become variables (envFrom); the others hold files.
        as_env = {
            ref["name"]
            for d in docs
            for c in h.containers(d)
            for source in c.get("envFrom", [])
            for ref in (source.get("configMapRef"), source.get("secretRef"))
            if ref
        }
        for d in docs:
            if d["kind"] in {"ConfigMap", "Secret"} and d["metadata"]["name"] in as_env:
                problems += [f"{d['metadata']['name']}: {r}" for k in d.get("data", {}) if (r := check_env_name(k))]
            for c in h.containers(d):
                problems += [f"{c['name']}: {r}" for e in c.get("env", []) if (r := check_env_name(e["name"]))]
        assert not problems, f"{name}:\n" + "\n".join(problems)


def test_configmap_agrees_with_compose_and_settings(rendered_overlays, repo_root: Path, h, monkeypatch) -> None:
    from flightpath.settings import Settings

    shared = h.load_yaml(repo_root / "docker-compose.yml")["x-flightpath-env"]
    for name, (_, docs) in rendered_overlays.items():
        config = next(
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("flightpath-config")
        )
        data = config["data"]
        for key in (
            "FLIGHTPATH_PROFILE",
            "FLIGHTPATH_ONLINE_STORE",
            "FLIGHTPATH_REDIS_URL",
            "MLFLOW_TRACKING_URI",
        ):
            assert data[key] == shared[key], f"{name}: {key} differs from compose ({data[key]} vs {shared[key]})"
        services = set(by_kind(docs, "Service"))
        assert data["FLIGHTPATH_REDIS_URL"].split(":")[0] in services
        assert data["MLFLOW_TRACKING_URI"].split("//")[1].split(":")[0] in services
        with monkeypatch.context() as m:
            for key, value in data.items():
                m.setenv(key, value)
            s = Settings(_env_file=None)
        assert s.profile == "stack" and s.serve_host == "0.0.0.0" and s.serve_workers == 1


def test_commands_name_real_cli_subcommands(rendered_overlays, cli_command_names: set[str], h) -> None:
    for name, (_, docs) in rendered_overlays.items():
        used, serving_commands = [], []
        for d in docs:
            for c in h.containers(d):
                used += [(c["name"], s) for s in h.flightpath_subcommands(c.get("command", []) + c.get("args", []))]
                if c["name"] == "serving":
                    serving_commands.append(c.get("command"))
        assert serving_commands and all(c == ["python", "-m", "serving"] for c in serving_commands), (
            f"{name}: serving runs `python -m serving`"
        )
        unknown = [u for u in used if u[1] not in cli_command_names]
        assert not unknown, f"{name}: not registered on cli.main:app {sorted(cli_command_names)}: {unknown}"


@pytest.mark.parametrize(
    ("track", "name_label", "env"),
    [
        ("canary", "serving", {"FLIGHTPATH_MODEL_ALIAS": "challenger", "FLIGHTPATH_SHADOW_URL": ""}),
        (
            "shadow",
            "serving-shadow",  # outside the live Service, the PDB and serving's NetworkPolicy
            {"FLIGHTPATH_MODEL_ALIAS": "challenger", "FLIGHTPATH_SERVING_ROLE": "shadow", "FLIGHTPATH_SHADOW_URL": ""},
        ),
    ],
)
def test_canary_and_shadow_are_the_serving_pod_following_the_challenger(
    rendered_overlays, track: str, name_label: str, env: dict[str, str]
) -> None:
    """One pod spec, three tracks: the others may differ only where they must, or the comparison is unfair."""
    import copy

    for name, (_, docs) in rendered_overlays.items():
        stable, other = (copy.deepcopy(by_kind(docs, "Deployment")[n]) for n in ("serving", f"serving-{track}"))
        assert other["spec"]["replicas"] == 1 < stable["spec"]["replicas"], name
        assert other["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == name_label
        for d, t in ((stable, "stable"), (other, track)):
            assert d["spec"]["selector"]["matchLabels"]["flightpath.io/track"] == t
            labels = d["spec"]["template"]["metadata"]["labels"]
            assert labels.pop("flightpath.io/track") == t
            labels.pop("app.kubernetes.io/name")
            del d["spec"]["selector"], d["spec"]["replicas"], d["metadata"]
        stable_env = stable["spec"]["template"]["spec"]["containers"][0]["env"]
        other_env = other["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "FLIGHTPATH_SHADOW_URL", "value": "http://serving-shadow:8000"} in stable_env
        changed = {e["name"]: e["value"] for e in other_env if e not in stable_env}
        assert changed == env, name
        other["spec"]["template"]["spec"]["containers"][0]["env"] = [e for e in other_env if e["name"] not in env]
        stable["spec"]["template"]["spec"]["containers"][0]["env"] = [e for e in stable_env if e["name"] not in env]
        assert other == stable, f"{name}: the {track}'s pod differs from serving's"


# Seconds the prediction-log flush and process exit get after the graceful shutdown, at least.
SHUTDOWN_MARGIN_S = 10


def test_serving_drains_within_the_termination_grace_period(rendered_overlays, monkeypatch) -> None:
    """SIGTERM -> drain (unready, still serving) -> in-flight requests -> flush, all before SIGKILL."""
    from flightpath.settings import Settings
    from serving.server import GRACEFUL_TIMEOUT_S

    for name, (_, docs) in rendered_overlays.items():
        pod = by_kind(docs, "Deployment")["serving"]["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        env = {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
        with monkeypatch.context() as m:
            m.setenv("FLIGHTPATH_DRAIN_SECONDS", env.get("FLIGHTPATH_DRAIN_SECONDS", "0"))
            drain = Settings(_env_file=None).drain_seconds  # parsed (and bounded) like the pod does
        assert drain >= 2, f"{name}: no drain: the listener would close while endpoints still route here"
        pre_stop = c.get("lifecycle", {}).get("preStop", {})
        sleep = float(pre_stop["sleep"]["seconds"]) if "sleep" in pre_stop else 0.0
        assert "exec" not in pre_stop, f"{name}: a preStop command would add to the drain, not replace it"
        needed = sleep + drain + GRACEFUL_TIMEOUT_S + SHUTDOWN_MARGIN_S
        assert pod["terminationGracePeriodSeconds"] >= needed, (
            f"{name}: {pod['terminationGracePeriodSeconds']} s grace < {needed} s of shutdown"
        )


def test_mlflow_asks_for_a_login_and_serving_reads_with_its_own(rendered_overlays, h) -> None:
    """As in compose: MLflow runs basic-auth with the shared ini, a Job makes the users with the
    shared script, serving logs in read-only and is told where the pipeline's public key is."""
    for name, (_, docs) in rendered_overlays.items():
        deployments = by_kind(docs, "Deployment")
        (mlflow,) = deployments["mlflow"]["spec"]["template"]["spec"]["containers"]
        assert mlflow["args"][mlflow["args"].index("--app-name") + 1] == "basic-auth", name
        env = {e["name"]: e for e in mlflow["env"]}
        assert env["MLFLOW_AUTH_CONFIG_PATH"]["value"] == "/etc/mlflow/basic_auth.ini"
        configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
        auth = next(c for n, c in configmaps.items() if n.startswith("mlflow-auth"))
        assert set(auth["data"]) == {"basic_auth.ini", "create_users.py"}
        (job,) = by_kind(docs, "Job")["mlflow-users"]["spec"]["template"]["spec"]["containers"]
        assert job["command"] == ["python", "/etc/flightpath/create_users.py"]
        (serving,) = deployments["serving"]["spec"]["template"]["spec"]["containers"]
        senv = {e["name"]: e for e in serving["env"]}
        assert senv["MLFLOW_TRACKING_USERNAME"]["value"] == "serving"
        assert senv["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "MLFLOW_SERVING_PASSWORD"
        key_dir = senv["FLIGHTPATH_MODEL_VERIFY_KEY"]["value"].rsplit("/", 1)[0]
        assert key_dir in {m["mountPath"] for m in serving["volumeMounts"]}, name


def test_cloud_mlflow_keeps_nothing_on_its_disk(rendered_overlays, repo_root: Path) -> None:
    """The cloud overlay's MLflow: tracking and logins on PostgreSQL, artifacts in S3, so N replicas
    with rolling updates; no volume of its own, and the password in no argument."""
    _, docs = rendered_overlays["cloud"]
    deployment = by_kind(docs, "Deployment")["mlflow"]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2 and spec["strategy"]["type"] == "RollingUpdate"
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert "--backend-store-uri" not in args, "the URI holds a password: it comes from a Secret"
    assert args[args.index("--artifacts-destination") + 1].startswith("s3://")
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert "mlflow-data" not in by_kind(docs, "PersistentVolumeClaim")
    secrets = by_kind(docs, "Secret")
    env = {e["name"]: e for e in container["env"]}
    uri_secret = secrets[env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"]["name"]]
    import base64

    uri = base64.b64decode(uri_secret["data"]["MLFLOW_BACKEND_STORE_URI"]).decode()
    assert uri.startswith("postgresql+psycopg://")
    (auth_volume,) = [v for v in pod["volumes"] if v["name"] == "auth-config"]
    ini = base64.b64decode(secrets[auth_volume["secret"]["secretName"]]["data"]["basic_auth.ini"]).decode()
    assert "database_uri = postgresql+psycopg://" in ini, "logins shared by every replica"
    assert pod["serviceAccountName"] in by_kind(docs, "ServiceAccount")
    # The image can write to S3 at all.
    assert '"boto3==' in (repo_root / "infra/docker/mlflow.Dockerfile").read_text()
