#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL volume (/docker-entrypoint-initdb.d), in the
# compose stack and in the Kubernetes StatefulSet (k8s/base/postgres.yaml) alike.
# One database and one owner role per consumer whose password is set, so each migrates its own schema:
#   airflow     Airflow metadata (`airflow db migrate`, the airflow-init job)       compose only
#   mlflow      MLflow tracking + model registry (migrated by `mlflow server`)      compose only
#   flightpath  the prediction log (one table, created by the serving log shipper)  both
# Passwords come from the environment (compose: .env; Kubernetes: the postgres-credentials Secret).
# Changing them later needs ALTER ROLE or a fresh volume (`docker compose down -v`, a new PVC).
set -eu

create_db() {  # $1 = role and database name, $2 = password
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v name="$1" -v pass="$2" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'pass';
CREATE DATABASE :"name" OWNER :"name";
SQL
  echo "database $1 with its owner role"
}

[ -z "${POSTGRES_AIRFLOW_PASSWORD:-}" ] || create_db airflow "$POSTGRES_AIRFLOW_PASSWORD"
[ -z "${POSTGRES_MLFLOW_PASSWORD:-}" ] || create_db mlflow "$POSTGRES_MLFLOW_PASSWORD"
create_db flightpath "${POSTGRES_FLIGHTPATH_PASSWORD:?POSTGRES_FLIGHTPATH_PASSWORD is required}"
