# syntax=docker/dockerfile:1
# MLflow 3.17.2 tracking server + model registry, with psycopg for a PostgreSQL backend.
#
#   docker build -f infra/docker/mlflow.Dockerfile -t flightpath-mlflow:dev .   (context = repo root)
#
# The default command uses SQLite on /mlflow (a volume); the compose stack overrides it with
# --backend-store-uri postgresql+psycopg://... . Artifacts are proxied by the server
# (--artifacts-destination), so clients need only HTTP access to it, never the artifact volume.
# The base is a variable with the official default; where no registry is reachable,
# infra/local-images/build.sh makes a stand-in (PYTHON_IMAGE=flightpath-local/python:3.11).
# checkov:skip=CKV_DOCKER_7: the base is a build argument with a pinned default (checkov does not resolve ARG)
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 mlflow \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /mlflow mlflow

WORKDIR /opt/mlflow
COPY constraints.txt ./
# [auth]: the basic-auth app (Flask-WTF) the compose stack starts with --app-name basic-auth.
# boto3: artifacts in S3 (k8s/overlays/cloud); unused while they sit on a volume.
RUN pip install --no-cache-dir -c constraints.txt "mlflow[auth]==3.17.2" "psycopg[binary]" "boto3==1.44.18"

RUN mkdir -p /mlflow/artifacts /mlflow/auth && chown -R 10001:10001 /mlflow
ENV HOME=/tmp

USER 10001:10001
EXPOSE 5000

# /health is exempt from MLflow's Host-header check, so probes work from any address.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=2)"]

ENTRYPOINT ["mlflow", "server"]
CMD ["--backend-store-uri", "sqlite:////mlflow/mlflow.db", "--artifacts-destination", "/mlflow/artifacts", \
     "--host", "0.0.0.0", "--port", "5000"]
