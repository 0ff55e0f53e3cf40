"""`flightpath k8s ...`: the Kubernetes side, without a cluster where possible.

flightpath k8s twin [--plan] [--image A=B]     # each workload under Docker as its pod spec says
flightpath k8s signing-keys                    # the model-signing Secret + ConfigMap, as YAML
flightpath k8s smoke --serving URL [--log-dsn DSN]   # a deployed service, end to end
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from flightpath.errors import FlightpathError

app = typer.Typer(
    help="Kubernetes manifests checked against real containers; a cluster's smoke test.", no_args_is_help=True
)


def _image_map(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise FlightpathError(f"--image {pair!r}: want IMAGE=REPLACEMENT")
        old, new = pair.split("=", 1)
        out[old] = new
    return out


@app.command()
def twin(
    overlay: Annotated[str, typer.Option(help="the overlay under k8s/overlays")] = "kind",
    plan: Annotated[bool, typer.Option("--plan", help="print each twin's `docker run`, run nothing")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="leave the containers, volumes and network (to look)")] = False,
    image: Annotated[
        list[str] | None, typer.Option(help="IMAGE=REPLACEMENT: run a stand-in for a third-party image (repeatable)")
    ] = None,
    stand_ins: Annotated[
        bool, typer.Option("--stand-ins", help="the stand-ins compose would use (POSTGRES_IMAGE=..., REDIS_IMAGE=...)")
    ] = False,
) -> None:
    """Run each Deployment, StatefulSet, Job and CronJob under Docker as its pod spec says; check probes."""
    import os

    from cli.k8s_twin import compose_stand_ins, render, run_twins, twins

    image_map = (compose_stand_ins(dict(os.environ)) if stand_ins else {}) | _image_map(image or [])
    if plan:
        for t in twins(render(overlay), "<network>", image_map):
            typer.echo(f"# {t.kind} {t.name}\ndocker run {' '.join(t.args)}\n")
        return
    for result in run_twins(overlay, image_map, keep=keep):
        detail = {k: v for k, v in result.items() if k not in ("name", "kind")}
        typer.echo(f"twin {result['kind']} {result['name']}: {detail}")


@app.command("signing-keys")
def signing_keys(
    keys_dir: Annotated[Path | None, typer.Option(help="where the pair lives (default <home>/k8s/keys)")] = None,
    namespace: str = "flightpath",
) -> None:
    """Print the model-signing Secret and ConfigMap (a pair made on first use): pipe to kubectl apply -f -."""
    from cli.k8s_keys import ensure_keypair, signing_objects
    from flightpath.settings import get_settings

    folder = keys_dir or get_settings().home / "k8s" / "keys"
    typer.echo(yaml.safe_dump_all(signing_objects(*ensure_keypair(folder), namespace=namespace), sort_keys=False))


@app.command()
def smoke(
    serving: Annotated[str, typer.Option(help="the service's base URL")] = "http://127.0.0.1:8000",
    log_dsn: Annotated[str | None, typer.Option(help="libpq DSN of the prediction log (checks the row)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each check")] = 300,
) -> None:
    """Ready with a model, a prediction from it with online features, its row in the log."""
    from cli.k8s_smoke import smoke as run_smoke

    for line in run_smoke(serving.rstrip("/"), log_dsn, timeout):
        typer.echo(line)


@app.command()
def load(
    url: Annotated[str, typer.Option(help="the service's base URL")] = "http://127.0.0.1:8000",
    seconds: Annotated[float, typer.Option(min=1)] = 300,
    concurrency: Annotated[int, typer.Option(min=1)] = 32,
    context: Annotated[str | None, typer.Option(help="kubectl context: show the HPA beside the load")] = None,
) -> None:
    """Drive /v1/predict and show, every 5 s, throughput and latency beside the HPA's replicas."""
    from cli.k8s_load import drive, hpa_status

    total = drive(url, seconds, concurrency, hpa=lambda: hpa_status(context), echo=typer.echo)
    typer.echo(f"total: {total.answered} answered, {total.errors} errors in {seconds:.0f} s")
    if total.answered == 0:
        raise typer.Exit(code=1)
