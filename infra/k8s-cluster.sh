#!/usr/bin/env bash
# make kind-up / kind-down / minikube-up / minikube-down: a local cluster with a model in it.
#
#   infra/k8s-cluster.sh up kind        # or minikube
#   infra/k8s-cluster.sh down kind
#
# up, in order (each step says what it does; rerunning it on a running cluster is safe):
#   1. the tools answer (docker engine, kubectl, kind or minikube), else a clear message and exit 1;
#   2. the cluster (kind: infra/kind-config.yaml; minikube: profile flightpath);
#   3. our images built (as compose builds them) and loaded into the cluster (no registry needed);
#   4. the model-signing key pair (<home>/k8s/keys) as a Secret and a ConfigMap;
#   5. the overlay applied; PostgreSQL, Redis, MLflow, its users; the seed Job (pipeline on a small
#      window: a champion, features in Redis), its progress every 20 s; serving rolled out;
#   6. port-forwards, `flightpath k8s smoke` (ready, a prediction from the champion, its row in the
#      in-cluster PostgreSQL), the URLs.
# down deletes the cluster (every volume with it) and stops the port-forwards this script started.
#
# What could not be run where this project is built (no cluster there): k8s/NOTES.md says so; the
# pods themselves run there under Docker as their specs say (`make k8s-twin`).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 up|down kind|minikube" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1 flavour=$2
case "$action" in up|down) ;; *) usage ;; esac
case "$flavour" in kind|minikube) ;; *) usage ;; esac

CLUSTER=${K8S_CLUSTER:-flightpath}
NS=flightpath
FLIGHTPATH=${FLIGHTPATH:-.venv/bin/flightpath}
STATE=${FLIGHTPATH_HOME:-.flightpath}/k8s
SEED_TIMEOUT_S=${SEED_TIMEOUT_S:-2400}
METRICS_SERVER_VERSION=v0.7.2

# --- 1. tools ---------------------------------------------------------------------------------------
need() {  # need TOOL WHERE-TO-GET-IT
  command -v "$1" >/dev/null 2>&1 || { echo "$1 is not installed (needed by make $flavour-$action): $2" >&2; exit 1; }
}
need docker "https://docs.docker.com/engine/install/ (Debian: apt-get install docker.io)"
need kubectl "https://kubernetes.io/docs/tasks/tools/"
case "$flavour" in
  kind) need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" ;;
  minikube) need minikube "https://minikube.sigs.k8s.io/docs/start/" ;;
esac
docker info >/dev/null 2>&1 || { echo "no Docker engine answers: start Docker first" >&2; exit 1; }
[ -x "$FLIGHTPATH" ] || { echo "$FLIGHTPATH is missing: run make install first" >&2; exit 1; }
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi

if [ "$flavour" = kind ]; then CONTEXT=kind-$CLUSTER; else CONTEXT=$CLUSTER; fi
k() { kubectl --context "$CONTEXT" -n "$NS" "$@"; }

stop_forwards() {
  for pidfile in "$STATE"/port-forward-*.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

if [ "$action" = down ]; then
  stop_forwards
  case "$flavour" in
    kind) kind delete cluster --name "$CLUSTER" ;;
    minikube) minikube delete -p "$CLUSTER" ;;
  esac
  exit 0
fi

step() { echo "== $flavour-up: $*"; }

# --- 2. cluster -------------------------------------------------------------------------------------
step "cluster $CLUSTER"
case "$flavour" in
  kind)
    kind get clusters 2>/dev/null | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --config infra/kind-config.yaml
    # metrics-server: the HPA's CPU numbers (kind ships none; its kubelets' certificates are self-signed)
    if ! kubectl --context "$CONTEXT" -n kube-system get deployment metrics-server >/dev/null 2>&1; then
      kubectl --context "$CONTEXT" apply -f "https://github.com/kubernetes-sigs/metrics-server/releases/download/$METRICS_SERVER_VERSION/components.yaml"
      kubectl --context "$CONTEXT" -n kube-system patch deployment metrics-server --type=json \
        -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-insecure-tls"}]'
    fi
    ;;
  minikube)
    minikube -p "$CLUSTER" status >/dev/null 2>&1 || minikube start -p "$CLUSTER" --cpus 4 --memory 8g
    minikube -p "$CLUSTER" addons enable metrics-server >/dev/null  # the HPA's CPU numbers
    ;;
esac

# --- 3. images --------------------------------------------------------------------------------------
IMAGES=(flightpath-serving:dev flightpath-mlflow:dev flightpath-pipelines:dev)
step "build ${IMAGES[*]}"
"${COMPOSE[@]}" build serving mlflow airflow-init  # airflow-init builds the pipelines image
step "load the images into the cluster"
case "$flavour" in
  kind) kind load docker-image "${IMAGES[@]}" --name "$CLUSTER" ;;
  minikube) for image in "${IMAGES[@]}"; do minikube -p "$CLUSTER" image load "$image"; done ;;
esac

# --- 4. signing keys --------------------------------------------------------------------------------
step "model-signing keys ($STATE/keys)"
kubectl --context "$CONTEXT" apply -f k8s/base/namespace.yaml
"$FLIGHTPATH" k8s signing-keys --keys-dir "$STATE/keys" | k apply -f -

# --- 5. apply, seed, roll out -----------------------------------------------------------------------
step "apply k8s/overlays/$flavour"
# A Job's pod template cannot change in place (a new ConfigMap hash would change it): replace them.
k delete job mlflow-users seed --ignore-not-found
kubectl --context "$CONTEXT" apply -k "k8s/overlays/$flavour"
for workload in statefulset/postgres deployment/redis deployment/mlflow; do
  k rollout status "$workload" --timeout=600s
done
k wait --for=condition=complete job/mlflow-users --timeout=600s
step "seed: the pipeline on a small window (a champion, features in Redis); up to $((SEED_TIMEOUT_S / 60)) min"
deadline=$(( $(date +%s) + SEED_TIMEOUT_S ))
while true; do
  state=$(k get job seed -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{end}')
  case "$state" in
    *Complete*) break ;;
    *Failed*) k logs job/seed --tail=40 >&2 || true; echo "the seed Job failed (logs above)" >&2; exit 1 ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || { k logs job/seed --tail=40 >&2 || true; echo "the seed Job did not finish" >&2; exit 1; }
  echo "   seed: $(k logs job/seed --tail=1 2>/dev/null | cut -c1-160 || echo starting)"
  sleep 20
done
k logs job/seed --tail=8
k rollout status deployment/serving --timeout=600s

# --- 6. reach it, smoke it --------------------------------------------------------------------------
mkdir -p "$STATE"
stop_forwards
forward() {  # forward SERVICE LOCAL-PORT REMOTE-PORT: a port-forward in the background, its pid kept
  k port-forward "svc/$1" "$2:$3" >"$STATE/port-forward-$1.log" 2>&1 &
  echo $! >"$STATE/port-forward-$1.pid"
  for _ in $(seq 1 30); do
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    sleep 1
  done
  echo "port-forward to $1 did not come up: $(cat "$STATE/port-forward-$1.log")" >&2
  exit 1
}
SERVING_PORT=${K8S_SERVING_PORT:-8000}
if [ "$flavour" = minikube ]; then  # kind publishes the NodePorts on 127.0.0.1 (infra/kind-config.yaml)
  forward serving "$SERVING_PORT" 8000
  forward mlflow "${K8S_MLFLOW_PORT:-5000}" 5000
fi
pg_port=$("${PY:-.venv/bin/python}" -c 'from flightpath.processes import free_port; print(free_port())')
forward postgres "$pg_port" 5432
secret=$(k get secrets -o name | grep '^secret/postgres-credentials' | head -1)
password=$(k get "$secret" -o jsonpath='{.data.POSTGRES_FLIGHTPATH_PASSWORD}' | base64 -d)
step "smoke"
"$FLIGHTPATH" k8s smoke --serving "http://127.0.0.1:$SERVING_PORT" \
  --log-dsn "host=127.0.0.1 port=$pg_port dbname=flightpath user=flightpath password=$password"
kill "$(cat "$STATE/port-forward-postgres.pid")" 2>/dev/null || true
rm -f "$STATE/port-forward-postgres.pid"

cat <<EOF
== $flavour-up: done
serving  http://127.0.0.1:$SERVING_PORT/docs     (/healthz /readyz /metrics /v1/predict)
MLflow   http://127.0.0.1:${K8S_MLFLOW_PORT:-5000}        (admin / flightpath-admin-local: k8s/base/mlflow-auth/credentials.env)
pods     kubectl --context $CONTEXT -n $NS get pods
a day    kubectl --context $CONTEXT -n $NS create job --from=cronjob/next-day next-day-now
down     make $flavour-down
EOF
