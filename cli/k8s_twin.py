"""Pod-level twins: each workload of the overlay run under Docker exactly as its Kubernetes pod spec says.

    flightpath k8s twin                  # render k8s/overlays/kind, run each twin, check its probes
    flightpath k8s twin --plan           # print the `docker run` of each twin, run nothing
    flightpath k8s twin --image postgres:17-alpine=flightpath-local/postgres:15   # a stand-in image

There is no cluster on the machines this project is built on; the static checks (schema, checkov,
cross-references) cannot see an image that writes outside its volumes, a command that does not
exist in it, or a port that differs. A twin can: the image, command and args, env (ConfigMaps and
Secrets resolved from the rendered overlay), user and group, read-only root filesystem, dropped
capabilities, no privilege escalation, emptyDirs as tmpfs owned by fsGroup, claims as Docker volumes
owned by fsGroup (shared, as a claim is, by the Job and the CronJob that mount it), ConfigMap and
Secret volumes as read-only files, memory and CPU limits, $(VAR) in env values. Each Service name is a
network alias, so the twins reach each other as pods do. Deployments and StatefulSets run until the
end and must pass their probes (httpGet, exec, tcpSocket), readiness included; a Job, and a CronJob's
job template, runs once and must exit 0. In between, `k8s smoke` checks a prediction end to end.

The model-signing Secret and ConfigMap, which a user makes (`flightpath k8s signing-keys`), are made
here from a fresh pair. Where no registry answers, `--image` maps a third-party image (PostgreSQL,
Redis) to a local stand-in (infra/local-images): then the twin also tests the stand-in.

`make stack-test` runs this after it built the images; `docker_run_args` is the pure part, tested offline.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from cli.k8s_keys import ensure_keypair, signing_objects
from cli.k8s_smoke import shadow_smoke, smoke
from flightpath.errors import FlightpathError

ROOT = Path(__file__).resolve().parents[1]
OURS = ("flightpath-",)  # images this repository builds (the Makefile / compose)
STARTUP_GRACE_S = 10  # beyond the startup probe's own budget: docker start, image layers
READY_BUDGET_S = 180  # serving turns ready once model sync fetched and verified the champion
# Start order: the database and stores, the registry, its users, the seed (needs all of them),
# serving and its canary (ready once seeded: the first version is champion and challenger), then
# the CronJob's job (needs the seeded volume). Others go last.
START_ORDER = (
    "postgres", "redis", "mlflow", "mlflow-users", "seed", "serving", "serving-canary", "serving-shadow", "next-day",
)  # fmt: skip
WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob")
SERVERS = ("Deployment", "StatefulSet")


@dataclass
class Twin:
    kind: str  # one of WORKLOADS
    name: str
    service: str | None  # the Service in front of it (its network alias), if any
    args: list[str]  # `docker run` arguments after `docker run`
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # host dir name -> {file: text}
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)  # startup/readiness/liveness
    ports: dict[str, int] = field(default_factory=dict)  # port name -> container port
    # Docker volumes standing for claims -> (uid, fsGroup) that must own them, as the kubelet makes it
    claims: dict[str, tuple[int, int]] = field(default_factory=dict)
    file_modes: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # host dir -> uid, gid, mode
    image: str = ""


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
            env[item["name"]] = expand(str(item["value"]), env)  # only what is defined above it
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


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) in an env value: replaced by a variable defined before it (`env`), `$$(VAR)`
    stays literal as $(VAR), an unknown one stays as written (as the kubelet does)."""

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(0)[1:]
        return env.get(m.group(2), m.group(0))

    return re.sub(r"(\$)?\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, value)


def _quantity_bytes(q: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if q.endswith(suffix):
            return int(float(q[: -len(suffix)]) * factor)
    return int(q)


def _cpus(q: str) -> str:
    return str(int(q[:-1]) / 1000) if q.endswith("m") else q


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a Deployment, StatefulSet, Job or CronJob (its job's)."""
    spec = workload["spec"]
    return spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]


def docker_run_args(
    workload: dict[str, Any], docs: list[dict[str, Any]], *, network: str, image_map: dict[str, str] | None = None
) -> Twin:
    """The `docker run` arguments that reproduce the workload's (first) container as its pod spec says."""
    template = pod_template(workload)
    pod = template["spec"]
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
        and all(template["metadata"]["labels"].get(k) == v for k, v in s["spec"]["selector"].items())
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
    claim_templates = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
    files: dict[str, dict[str, str]] = {}
    file_modes: dict[str, tuple[int, int, int]] = {}
    claims: dict[str, tuple[int, int]] = {}
    for mount in container.get("volumeMounts", []):
        path = mount["mountPath"]
        if mount["name"] in claim_templates or "persistentVolumeClaim" in volumes.get(mount["name"], {}):
            # A claim: one Docker volume per claim for the whole run, so pods that share a claim share it
            # (a StatefulSet's claim is <template>-<name>-0, as the controller names it).
            claim = (
                f"{mount['name']}-{name}-0"
                if mount["name"] in claim_templates
                else volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
            )
            volume_name = f"{network}-{claim}"
            claims[volume_name] = (uid or 0, fs_group or 0)
            args += ["--mount", f"type=volume,source={volume_name},target={path}"]
            continue
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            size = (volume.get("emptyDir") or {}).get("sizeLimit")
            options = [f"uid={uid or 0}", f"gid={fs_group or 0}", "mode=0770", "exec"]
            args += ["--tmpfs", f"{path}:{','.join(options + ([f'size={_quantity_bytes(size)}'] if size else []))}"]
        elif "configMap" in volume or "secret" in volume:
            kind, source = ("ConfigMap", volume["configMap"]) if "configMap" in volume else ("Secret", volume["secret"])
            ref = source.get("name") or source["secretName"]
            data = _config_data(docs, kind, ref)
            if data is None:
                if source.get("optional"):
                    continue
                raise FlightpathError(f"{name}: {kind} {ref} is not in the overlay")
            items = {i["key"]: i["path"] for i in source.get("items", [])}
            files[mount["name"]] = {items[k]: v for k, v in data.items() if k in items} if items else data
            # The kubelet's files: root-owned, group fsGroup, defaultMode (0644) plus group read with fsGroup.
            mode = int(source.get("defaultMode", 0o644)) | (0o040 if fs_group is not None else 0)
            file_modes[mount["name"]] = (0, fs_group or 0, mode)
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
    return Twin(
        workload["kind"],
        name,
        services[0] if services else None,
        args,
        files,
        probes,
        ports,
        claims=claims,
        file_modes=file_modes,
        image=image,
    )


def twins(docs: list[dict[str, Any]], network: str, image_map: dict[str, str] | None = None) -> list[Twin]:
    """Every workload of the overlay, in START_ORDER (what each needs starts before it)."""
    out = [
        docker_run_args(workload, docs, network=network, image_map=image_map)
        for kind in WORKLOADS
        for workload in _objects(docs, kind).values()
    ]
    return sorted(out, key=lambda t: START_ORDER.index(t.name) if t.name in START_ORDER else len(START_ORDER))


def compose_stand_ins(environ: dict[str, str]) -> dict[str, str]:
    """The stand-ins compose runs: `image: ${POSTGRES_IMAGE:-postgres:17-alpine}` with POSTGRES_IMAGE
    set maps postgres:17-alpine to its value (infra/local-images/build.sh --env sets them)."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    out = {}
    for service in services.values():
        match = re.fullmatch(r"\$\{(\w+):-([^}]+)\}", str(service.get("image", "")))
        if match and environ.get(match.group(1)):
            out[match.group(2)] = environ[match.group(1)]
    return out


def images(docs: list[dict[str, Any]]) -> set[str]:
    """Every container image the overlay's workloads run."""
    return {
        c["image"]
        for kind in WORKLOADS
        for workload in _objects(docs, kind).values()
        for c in pod_template(workload)["spec"]["containers"]
    }


# --- running them -------------------------------------------------------------------------------------


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise FlightpathError(f"docker {' '.join(args[:3])}... failed: {proc.stderr.strip()[-800:]}")
    return proc


def _published(container: str, container_port: int) -> int:
    published = _docker("port", container, f"{container_port}/tcp").stdout.strip().splitlines()[0]
    return int(published.rsplit(":", 1)[1])


def _port_of(twin: Twin, port: int | str) -> int:
    return twin.ports[port] if isinstance(port, str) else int(port)


def _probe_once(twin: Twin, probe: dict[str, Any], container: str) -> int | str | None:
    """One try of a probe: the HTTP status, "ok" (exec exit 0 / TCP connect), or None (no answer)."""
    import socket

    try:
        if "httpGet" in probe:
            port = _published(container, _port_of(twin, probe["httpGet"]["port"]))
            return httpx.get(f"http://127.0.0.1:{port}{probe['httpGet']['path']}", timeout=2).status_code
        if "exec" in probe:
            return "ok" if _docker("exec", container, *probe["exec"]["command"], check=False).returncode == 0 else None
        if "tcpSocket" in probe:
            port = _published(container, _port_of(twin, probe["tcpSocket"]["port"]))
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return "ok"
    except (httpx.HTTPError, OSError, IndexError):
        return None
    raise FlightpathError(f"{twin.name}: a probe of a kind the twin does not know: {sorted(probe)}")


def _check_probes(twin: Twin, container: str) -> dict[str, int | str]:
    """Every probe must pass (HTTP 200, exec exit 0, TCP connect): startup and liveness within the
    startup budget, readiness within READY_BUDGET_S (serving is ready once it holds a verified model)."""
    statuses: dict[str, int | str] = {}
    startup = twin.probes.get("startup", {})
    budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3) + STARTUP_GRACE_S
    for kind in ("startup", "liveness", "readiness"):
        probe = twin.probes.get(kind)
        if probe is None:
            continue
        deadline = time.monotonic() + (READY_BUDGET_S if kind == "readiness" else budget)
        while (status := _probe_once(twin, probe, container)) not in (200, "ok"):
            if time.monotonic() > deadline:
                logs = _docker("logs", "--tail", "30", container, check=False)
                raise FlightpathError(f"{twin.name}: {kind} probe last gave {status}:\n{logs.stdout}{logs.stderr}")
            time.sleep(1)
        statuses[kind] = status
    return statuses


def _memory_mib(container: str) -> float | None:
    """The container's memory use now (what `docker stats` shows), MiB."""
    out = _docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container, check=False).stdout.strip()
    match = re.match(r"([\d.]+)\s*([KMG]i?B)", out)
    if not match:
        return None
    return (
        float(match.group(1))
        * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "KB": 1 / 1024, "MB": 1, "GB": 1024}[match.group(2)]
    )


def _run_job(twin: Twin, args: list[str], container: str) -> dict[str, Any]:
    """Run a Job's (or a CronJob's job's) container once; it must exit 0. Its peak memory is sampled."""
    _docker("run", "--detach", *args)
    peak = 0.0
    try:
        while json.loads(_docker("inspect", container).stdout)[0]["State"]["Running"]:
            peak = max(peak, _memory_mib(container) or 0.0)
            time.sleep(2)
        state = json.loads(_docker("inspect", container).stdout)[0]["State"]
        if state["ExitCode"] != 0:
            logs = _docker("logs", "--tail", "60", container, check=False)
            oom = " (OOMKilled: its memory limit)" if state.get("OOMKilled") else ""
            raise FlightpathError(
                f"{twin.kind} {twin.name} exited {state['ExitCode']}{oom}:\n{logs.stdout}{logs.stderr}"
            )
    finally:
        _docker("rm", "--force", container, check=False)
    return {"name": twin.name, "kind": twin.kind, "exit": 0, "peak_mib": round(peak)}


def _prepare_claims(twin: Twin) -> None:
    """A Docker volume per claim, owned by the pod's user and fsGroup (setgid), as the kubelet leaves it."""
    for volume, (uid, gid) in twin.claims.items():
        if _docker("volume", "inspect", volume, check=False).returncode == 0:
            continue
        _docker("volume", "create", volume)
        _docker(
            "run", "--rm", "--user", "0", "--network", "none", "--entrypoint", "sh", "-v", f"{volume}:/claim",
            twin.image, "-c", f"chown {uid}:{gid} /claim && chmod 2770 /claim",
        )  # fmt: skip


def _write_files(twin: Twin, tmp: Path, args: list[str]) -> list[str]:
    for volume, data in twin.files.items():
        folder = tmp / f"{twin.name}-{volume}"
        folder.mkdir()
        uid, gid, mode = twin.file_modes.get(volume, (0, 0, 0o644))
        for file, text in data.items():
            (folder / file).write_text(text)
            os.chown(folder / file, uid, gid)
            (folder / file).chmod(mode)
        folder.chmod(0o755)
        args = [a.replace(f"{{{volume}}}", str(folder)) for a in args]
    return args


def twin_docs(docs: list[dict[str, Any]], keys_dir: Path) -> list[dict[str, Any]]:
    """The overlay plus what a user adds to it: the model-signing Secret and ConfigMap (a fresh pair)."""
    return docs + signing_objects(*ensure_keypair(keys_dir))


def log_dsn(docs: list[dict[str, Any]], port: int) -> str:
    """libpq connection string for the prediction log through the PostgreSQL twin's published port."""
    secret = _config_data(docs, "Secret", _secret_name(docs, "postgres-credentials")) or {}
    password = secret["POSTGRES_FLIGHTPATH_PASSWORD"]
    return f"host=127.0.0.1 port={port} dbname=flightpath user=flightpath password={password}"


def _secret_name(docs: list[dict[str, Any]], prefix: str) -> str:
    """A generated Secret's name carries a hash: find it by its base name."""
    return next(n for n in _objects(docs, "Secret") if n == prefix or n.startswith(f"{prefix}-"))


def run_twins(overlay: str, image_map: dict[str, str] | None = None, *, keep: bool = False) -> list[dict[str, Any]]:
    """Run every twin (see the module docstring); `keep`: leave containers, volumes and network for a look."""
    network = f"flightpath-twin-{uuid.uuid4().hex[:8]}"
    started: list[tuple[Twin, str]] = []
    results: list[dict[str, Any]] = []
    claims: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="flightpath-twin-") as tmp:
        docs = twin_docs(render(overlay), Path(tmp) / "keys")
        _docker("network", "create", network)
        try:
            for twin in twins(docs, network, image_map):
                _prepare_claims(twin)
                claims |= set(twin.claims)
                args = _write_files(twin, Path(tmp), list(twin.args))
                container = args[args.index("--name") + 1]
                if twin.kind in ("Job", "CronJob"):
                    results.append(_run_job(twin, args, container))
                    continue
                _docker("run", "--detach", *args)
                started.append((twin, container))
                results.append({"name": twin.name, "kind": twin.kind, "probes": _check_probes(twin, container)})
                if twin.name == "serving":  # seeded before it: a prediction end to end, into the log
                    postgres = next(c for t, c in started if t.name == "postgres")
                    said = smoke(
                        f"http://127.0.0.1:{_published(container, twin.ports['http'])}",
                        log_dsn(docs, _published(postgres, 5432)),
                    )
                    results.append({"name": "smoke", "kind": "check", "passed": said})
            by_name = {t.name: c for t, c in started}
            if "serving-shadow" in by_name:  # the live pods copy each answer to it: both in the log
                serving = next(t for t, _ in started if t.name == "serving")
                said = shadow_smoke(
                    f"http://127.0.0.1:{_published(by_name['serving'], serving.ports['http'])}",
                    log_dsn(docs, _published(by_name["postgres"], 5432)),
                )
                results.append({"name": "shadow", "kind": "check", "passed": said})
            for twin, container in started:  # still running: nothing it needed was missing
                state = json.loads(_docker("inspect", container).stdout)[0]["State"]
                if not state["Running"]:
                    raise FlightpathError(f"{container} stopped (exit {state['ExitCode']})")
                logs = _docker("logs", container, check=False)
                if "Read-only file system" in logs.stdout + logs.stderr:
                    raise FlightpathError(f"{container} tried to write outside its volumes:\n{logs.stderr[-1500:]}")
                results.append({"name": twin.name, "kind": "memory", "now_mib": round(_memory_mib(container) or 0)})
        finally:
            if keep:
                print(f"kept: network {network}, containers {[c for _, c in started]}, volumes {sorted(claims)}")
            else:
                for _, container in started:
                    _docker("rm", "--force", container, check=False)
                for volume in claims:
                    _docker("volume", "rm", "--force", volume, check=False)
                _docker("network", "rm", network, check=False)
    return results
