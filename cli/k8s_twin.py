"""Pod-level twins: each of our containers run under Docker exactly as its Kubernetes pod spec says.

    flightpath k8s twin                  # render k8s/overlays/kind, run each twin, check its probes
    flightpath k8s twin --plan           # print the `docker run` of each twin, run nothing

There is no cluster on the machines this project is built on; the static checks (schema, checkov,
cross-references) cannot see an image that writes outside its volumes, a command that does not
exist in it, or a port that differs. A twin can: the image, command and args, env (ConfigMaps and
Secrets resolved from the rendered overlay), user and group, read-only root filesystem, dropped
capabilities, no privilege escalation, emptyDirs as tmpfs owned by fsGroup, ConfigMap volumes as
read-only files, memory and CPU limits. Each Service name is a network alias, so the twins reach each
other as pods do. Third-party images (Redis) are not twinned: no registry answers here, and a
stand-in image would test the stand-in.

`make stack-test` runs this after it built the images; `docker_run_args` is the pure part, tested offline.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml

from flightpath.errors import FlightpathError

ROOT = Path(__file__).resolve().parents[1]
OURS = ("flightpath-",)  # images this repository builds (the Makefile / compose)
JOB_TIMEOUT_S = 120
STARTUP_GRACE_S = 10  # beyond the startup probe's own budget: docker start, image layers

app = typer.Typer(help="Kubernetes manifests checked against real containers.", no_args_is_help=True)


@dataclass
class Twin:
    kind: str  # Deployment or Job
    name: str
    service: str | None  # the Service in front of it (its network alias), if any
    args: list[str]  # `docker run` arguments after `docker run`
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # host dir name -> {file: text}
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)  # startup/readiness/liveness httpGet
    ports: dict[str, int] = field(default_factory=dict)  # port name -> container port


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise FlightpathError("kubectl is not on PATH (it renders the overlay with its built-in kustomize)")
    proc = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "k8s" / "overlays" / overlay)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise FlightpathError(f"kubectl kustomize {overlay} failed: {proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _config_data(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, str] | None:
    obj = _objects(docs, kind).get(name)
    if obj is None:
        return None
    if kind == "Secret":
        data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        return data | dict(obj.get("stringData") or {})
    return dict(obj.get("data") or {})


def _env(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        kind, ref = (
            ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source["secretRef"])
        )
        data = _config_data(docs, kind, ref["name"])
        if data is None and not ref.get("optional"):
            raise FlightpathError(f"{container['name']}: {kind} {ref['name']} is not in the overlay")
        env.update(data or {})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        source = item["valueFrom"]
        kind, ref = (
            ("Secret", source["secretKeyRef"]) if "secretKeyRef" in source else ("ConfigMap", source["configMapKeyRef"])
        )
        data = _config_data(docs, kind, ref["name"]) or {}
        if ref["key"] not in data:
            if ref.get("optional"):
                continue
            raise FlightpathError(f"{container['name']}: {kind} {ref['name']} has no key {ref['key']}")
        env[item["name"]] = data[ref["key"]]
    return env


def _quantity_bytes(q: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if q.endswith(suffix):
            return int(float(q[: -len(suffix)]) * factor)
    return int(q)


def _cpus(q: str) -> str:
    return str(int(q[:-1]) / 1000) if q.endswith("m") else q


def docker_run_args(
    workload: dict[str, Any], docs: list[dict[str, Any]], *, network: str, image_map: dict[str, str] | None = None
) -> Twin:
    """The `docker run` arguments that reproduce the workload's (first) container as its pod spec says."""
    pod = workload["spec"]["template"]["spec"]
    (container,) = pod["containers"]  # ours have one; a second would need its own twin
    name = workload["metadata"]["name"]
    pod_sec, sec = pod.get("securityContext", {}), container.get("securityContext", {})
    uid, gid = sec.get("runAsUser", pod_sec.get("runAsUser")), sec.get("runAsGroup", pod_sec.get("runAsGroup"))
    fs_group = pod_sec.get("fsGroup", gid)
    args = ["--name", f"twin-{name}-{uuid.uuid4().hex[:6]}", "--network", network]
    services = [
        s["metadata"]["name"]
        for s in _objects(docs, "Service").values()
        if s["spec"].get("selector")
        and all(
            workload["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in s["spec"]["selector"].items()
        )
    ]
    for service in services:
        args += ["--network-alias", service]
    if uid is not None:
        args += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
    if fs_group is not None:
        args += ["--group-add", str(fs_group)]
    if sec.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    for cap in (sec.get("capabilities") or {}).get("drop", []):
        args += ["--cap-drop", cap]
    if sec.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    limits = (container.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        args += ["--memory", str(_quantity_bytes(limits["memory"]))]
    if "cpu" in limits:
        args += ["--cpus", _cpus(str(limits["cpu"]))]
    for key, value in sorted(_env(container, docs).items()):
        args += ["--env", f"{key}={value}"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    files: dict[str, dict[str, str]] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        path = mount["mountPath"]
        if "emptyDir" in volume or "persistentVolumeClaim" in volume:  # a claim: fresh storage here
            size = (volume.get("emptyDir") or {}).get("sizeLimit")
            options = [f"uid={uid or 0}", f"gid={fs_group or 0}", "mode=0770", "exec"]
            args += ["--tmpfs", f"{path}:{','.join(options + ([f'size={_quantity_bytes(size)}'] if size else []))}"]
        elif "configMap" in volume:
            data = _config_data(docs, "ConfigMap", volume["configMap"]["name"])
            if data is None:
                if volume["configMap"].get("optional"):
                    continue
                raise FlightpathError(f"{name}: ConfigMap {volume['configMap']['name']} is not in the overlay")
            files[mount["name"]] = data
            args += ["--mount", f"type=bind,source={{{mount['name']}}},target={path},readonly"]
        else:
            raise FlightpathError(f"{name}: volume {mount['name']} of a kind the twin does not know")
    ports = {p.get("name", str(p["containerPort"])): p["containerPort"] for p in container.get("ports", [])}
    for port in ports.values():
        args += ["--publish", f"127.0.0.1::{port}"]
    image = (image_map or {}).get(container["image"], container["image"])
    if container.get("command"):
        args += ["--entrypoint", container["command"][0], image, *container["command"][1:]]
    else:
        args.append(image)
    args += [str(a) for a in container.get("args", [])]
    probes = {
        kind.removesuffix("Probe"): container[kind]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
        if kind in container
    }
    return Twin(workload["kind"], name, services[0] if services else None, args, files, probes, ports)


def twins(docs: list[dict[str, Any]], network: str) -> list[Twin]:
    """Our workloads in start order: servers first (what Jobs and clients need), then Jobs."""
    out = []
    for kind in ("Deployment", "Job"):
        for workload in _objects(docs, kind).values():
            image = workload["spec"]["template"]["spec"]["containers"][0]["image"]
            if image.startswith(OURS):
                out.append(docker_run_args(workload, docs, network=network))
    deployments = [t for t in out if t.kind == "Deployment"]
    servers = sorted(deployments, key=lambda t: t.name != "mlflow")  # MLflow first: its Job and serving use it
    return servers[:1] + [t for t in out if t.kind == "Job"] + servers[1:]


# --- running them -------------------------------------------------------------------------------------


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise FlightpathError(f"docker {' '.join(args[:3])}... failed: {proc.stderr.strip()[-800:]}")
    return proc


def _probe_port(twin: Twin, probe: dict[str, Any], container: str) -> int:
    port = probe["httpGet"]["port"]
    container_port = twin.ports[port] if isinstance(port, str) else int(port)
    published = _docker("port", container, f"{container_port}/tcp").stdout.strip().splitlines()[0]
    return int(published.rsplit(":", 1)[1])


def _check_probes(twin: Twin, container: str) -> dict[str, int]:
    """Each httpGet probe must answer within its startup budget: liveness/startup 200, readiness an answer."""
    statuses: dict[str, int] = {}
    startup = twin.probes.get("startup", {})
    budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3) + STARTUP_GRACE_S
    for kind in ("startup", "liveness", "readiness"):
        probe = twin.probes.get(kind)
        if probe is None or "httpGet" not in probe:
            continue
        url = f"http://127.0.0.1:{_probe_port(twin, probe, container)}{probe['httpGet']['path']}"
        deadline = time.monotonic() + budget
        while True:
            try:
                statuses[kind] = httpx.get(url, timeout=2).status_code
                if kind == "readiness" or statuses[kind] == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                logs = _docker("logs", "--tail", "30", container, check=False)
                raise FlightpathError(
                    f"{twin.name}: {kind} probe {url} never answered 200:\n{logs.stdout}{logs.stderr}"
                )
            time.sleep(1)
    return statuses


def run_twins(overlay: str) -> list[dict[str, Any]]:
    docs = render(overlay)
    network = f"flightpath-twin-{uuid.uuid4().hex[:8]}"
    _docker("network", "create", network)
    started: list[str] = []
    results = []
    with tempfile.TemporaryDirectory(prefix="flightpath-twin-") as tmp:
        try:
            for twin in twins(docs, network):
                args = list(twin.args)
                for volume, data in twin.files.items():
                    folder = Path(tmp) / f"{twin.name}-{volume}"
                    folder.mkdir()
                    for file, text in data.items():
                        (folder / file).write_text(text)
                    folder.chmod(0o755)
                    args = [a.replace(f"{{{volume}}}", str(folder)) for a in args]
                container = args[args.index("--name") + 1]
                if twin.kind == "Job":
                    proc = _docker("run", "--rm", *args, check=False)  # its output is in proc
                    if proc.returncode != 0:
                        raise FlightpathError(f"Job {twin.name} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
                    results.append({"name": twin.name, "kind": "Job", "exit": 0})
                    continue
                _docker("run", "--detach", *args)
                started.append(container)
                statuses = _check_probes(twin, container)
                results.append({"name": twin.name, "kind": twin.kind, "probes": statuses})
            for container in started:  # still running: nothing it needed was missing
                state = json.loads(_docker("inspect", container).stdout)[0]["State"]
                if not state["Running"]:
                    raise FlightpathError(f"{container} stopped (exit {state['ExitCode']})")
                logs = _docker("logs", container, check=False)
                if "Read-only file system" in logs.stdout + logs.stderr:
                    raise FlightpathError(f"{container} tried to write outside its volumes:\n{logs.stderr[-1500:]}")
        finally:
            for container in started:
                _docker("rm", "--force", container, check=False)
            _docker("network", "rm", network, check=False)
    return results


@app.command()
def twin(
    overlay: Annotated[str, typer.Option(help="the overlay under k8s/overlays")] = "kind",
    plan: Annotated[bool, typer.Option("--plan", help="print each twin's `docker run`, run nothing")] = False,
) -> None:
    """Run each of our Deployments and Jobs under Docker as its pod spec says; check its probes."""
    if plan:
        for t in twins(render(overlay), "<network>"):
            typer.echo(f"# {t.kind} {t.name}\ndocker run {' '.join(t.args)}\n")
        return
    for result in run_twins(overlay):
        typer.echo(f"twin {result['kind']} {result['name']}: {result.get('probes', 'exit 0')}")
