#!/usr/bin/env bash
# make stack-test: build every image, start the compose stack, drive it as a user would, take it down.
#
#   1. a Docker engine (started here if none answers, and stopped again at the end);
#   2. base images: the official ones, or local stand-ins (infra/local-images/build.sh) when
#      LOCAL_IMAGES=1 or no registry answers;
#   3. build, up on free ports (its own compose project: a user's `make up` stack is never touched),
#      wait until every container is healthy;
#   4. `flightpath stack trigger` (the demo DAG through Airflow's REST API) and `flightpath stack smoke`;
#      (between 3's build and up: `flightpath k8s twin`, the k8s workloads run under Docker: seeded,
#      a prediction end to end, the daily CronJob's job);
#   5. `down -v`, always, and a check that no container, network or volume of the project is left.
# Prints the seconds of each phase.
set -euo pipefail
cd "$(dirname "$0")/.."

FLIGHTPATH=${FLIGHTPATH:-.venv/bin/flightpath}
PY=${PY:-.venv/bin/python}
# Its own project, whatever COMPOSE_PROJECT_NAME says: the Makefile exports `flightpath` (the user's
# `make up` stack) for every target, and `down -v` below must never reach that stack's volumes.
export COMPOSE_PROJECT_NAME=${STACK_TEST_PROJECT:-flightpath-stacktest}
WAIT_S=${STACK_WAIT_S:-600}

t0=$(date +%s)
phase_start=$t0
phase() {  # phase NAME: print the seconds since the previous phase
  local now; now=$(date +%s)
  echo "== stack-test: $1 took $(( now - phase_start )) s"
  phase_start=$now
}

# --- 1. Docker --------------------------------------------------------------------------------------
started_dockerd=""
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    echo "no Docker engine answers and dockerd is not installed (Debian: apt-get install docker.io docker-compose)" >&2
    exit 1
  fi
  echo "starting dockerd"
  dockerd --host unix:///var/run/docker.sock >"${TMPDIR:-/tmp}/flightpath-dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start:" >&2; tail -20 "${TMPDIR:-/tmp}/flightpath-dockerd.log" >&2; exit 1; }
fi
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi

cleanup() {
  local rc=$?
  echo "== stack-test: down -v"
  "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  local left
  left=$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"; \
         docker network ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"; \
         docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
  if [ -n "$left" ]; then echo "left behind: $left" >&2; rc=1; fi
  if [ -n "$started_dockerd" ]; then kill "$started_dockerd" 2>/dev/null || true; wait "$started_dockerd" 2>/dev/null || true; fi
  echo "== stack-test: total $(( $(date +%s) - t0 )) s, exit $rc"
  exit $rc
}
trap cleanup EXIT
phase "docker engine"

# --- 2. base images ---------------------------------------------------------------------------------
if [ "${LOCAL_IMAGES:-}" = 1 ] || ! timeout 60 docker pull -q python:3.11-slim >/dev/null 2>&1; then
  echo "no registry (or LOCAL_IMAGES=1): local stand-ins for the base images"
  infra/local-images/build.sh
  eval "$(infra/local-images/build.sh --env)"
  # The CPU torch index is not reachable either: PyPI, plus a local CPU wheel when one is given.
  export TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://pypi.org/simple}
  if [ -z "${TORCH_WHEEL:-}" ]; then  # a CPU wheel where the host's own pip finds wheels, if any
    torch_pin=$(sed -n 's/^torch==//p' constraints.txt)
    pip_links=$("$PY" -m pip config list 2>/dev/null | sed -n "s/^[^=]*find-links='\(.*\)'$/\1/p" || true)
    for dir in ${PIP_FIND_LINKS:-} $pip_links; do
      for wheel in "$dir"/torch-"$torch_pin"+cpu-*.whl; do [ -f "$wheel" ] && TORCH_WHEEL=$wheel; done
    done
  fi
  if [ -n "${TORCH_WHEEL:-}" ]; then
    echo "torch: $TORCH_WHEEL (via .wheelhouse/)"
    mkdir -p .wheelhouse && cp -u "$TORCH_WHEEL" .wheelhouse/
  fi
fi
phase "base images"

# --- 3. build and up --------------------------------------------------------------------------------
for name in PG REDIS MLFLOW AIRFLOW SERVING PROMETHEUS GRAFANA EXPORTER EVIDENTLY; do
  var=STACK_${name}_PORT
  [ -n "${!var:-}" ] || export "$var=$("$PY" -c 'from flightpath.processes import free_port; print(free_port())')"
done
"${COMPOSE[@]}" build
phase "build"
# The Kubernetes pod specs, each run under Docker as its pod (user, read-only root, tmpfs emptyDirs,
# claims, limits) with the images just built, the seed Job, a prediction, the CronJob's job: what the
# static checks of k8s/ cannot see. Third-party images: the stand-ins compose uses, if any.
"$FLIGHTPATH" k8s twin --stand-ins
phase "k8s twins"
# Grafana has no Debian package: with local stand-ins its provisioning is checked statically only.
services=$("${COMPOSE[@]}" config --services | grep -v '^grafana$' || true)
[ "${LOCAL_IMAGES:-}" = 1 ] || [ -n "${PYTHON_IMAGE:-}" ] || services=$("${COMPOSE[@]}" config --services)
# shellcheck disable=SC2086
"${COMPOSE[@]}" up -d $services
"$FLIGHTPATH" stack wait --timeout "$WAIT_S"
"$FLIGHTPATH" stack status
phase "up and healthy"

# --- 4. drive it ------------------------------------------------------------------------------------
"$FLIGHTPATH" stack trigger --start 2013-01-01 --end 2013-01-28
phase "pipeline through Airflow"
"$FLIGHTPATH" stack smoke
phase "smoke"
