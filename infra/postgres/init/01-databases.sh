#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL volume (/docker-entrypoint-initdb.d).
# One database and one owner role per consumer, so each migrates its own schema:
#   airflow     Airflow metadata (`airflow db migrate`, the airflow-init job)
#   mlflow      MLflow tracking + model registry (migrated by `mlflow server` on start)
#   flightpath  the serving prediction log (one table, created by the service)
# Passwords come from the environment (docker-compose.yml passes them; override in .env).
# Changing them later needs ALTER ROLE or a fresh volume (`docker compose down -v`).
set -eu

create_db() {  # $1 = role and database name, $2 = password
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v name="$1" -v pass="$2" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'pass';
CREATE DATABASE :"name" OWNER :"name";
SQL
}

create_db airflow "${POSTGRES_AIRFLOW_PASSWORD:?}"
create_db mlflow "${POSTGRES_MLFLOW_PASSWORD:?}"
create_db flightpath "${POSTGRES_FLIGHTPATH_PASSWORD:?}"
