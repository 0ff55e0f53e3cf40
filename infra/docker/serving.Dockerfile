# syntax=docker/dockerfile:1
# flightpath serving: FastAPI + ONNX Runtime + Feast online reads. No torch, no airflow.
#
#   docker build -f infra/docker/serving.Dockerfile -t flightpath-serving:dev .     (context = repo root)
#   docker run --rm -p 127.0.0.1:8000:8000 flightpath-serving:dev
#
# Versions come from constraints.txt (the same file `make` installs with), so the image runs the
# versions the tests ran. The project is installed *editable* under /opt/flightpath on purpose:
# flightpath.settings derives PROJECT_ROOT (the Feast repo folder, the DAGs folder) from the source
# location, so the source tree must stay where it is; site-packages would break those paths.
# The base is a variable with the official default; where no registry is reachable,
# infra/local-images/build.sh makes a stand-in (PYTHON_IMAGE=flightpath-local/python:3.11).
# checkov:skip=CKV_DOCKER_7: the base is a build argument with a pinned default (checkov does not resolve ARG)
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 flightpath \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/flightpath flightpath

WORKDIR /opt/flightpath

# 1. Dependencies only: this layer is rebuilt when pyproject/constraints change, not on every code edit.
#    Empty stub packages let setuptools resolve the editable install before the real code is copied.
#    psycopg: the prediction log writes to PostgreSQL in the stack profile.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p flightpath features serving \
 && touch flightpath/__init__.py features/__init__.py serving/__init__.py \
 && pip install --no-cache-dir -c constraints.txt -e ".[serving]" "psycopg[binary]"

# 2. The code serving needs: the shared core, the feature contract (request-time features, and the
#    readers of Feast's online store, which need no Feast), and the service itself.
COPY flightpath/ flightpath/
COPY features/ features/
COPY serving/ serving/

# All runtime state (model cache, prediction log in the embedded profile) lives under one writable folder;
# Kubernetes mounts an emptyDir here and on /tmp, the rest of the filesystem can be read-only.
RUN mkdir -p /var/lib/flightpath && chown 10001:10001 /var/lib/flightpath
ENV HOME=/tmp \
    FLIGHTPATH_HOME=/var/lib/flightpath \
    FLIGHTPATH_SERVE_HOST=0.0.0.0 \
    FLIGHTPATH_SERVE_PORT=8000

USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz): readiness (/readyz, model loaded) is the orchestrator's business.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

CMD ["python", "-m", "serving"]
