# syntax=docker/dockerfile:1
# flightpath pipelines: Airflow 3.3.2 (api-server, scheduler, dag-processor, triggerer) plus every
# stage the DAG tasks run in-process under the LocalExecutor: ingest, features, training, monitoring.
#
#   docker build -f infra/docker/pipelines.Dockerfile -t flightpath-pipelines:dev .   (context = repo root)
#
# Built on python:3.11-slim rather than apache/airflow: Airflow's own constraints clash with the
# feast/mlflow pins, so this image installs Airflow from the project's constraints.txt like every
# other environment of the project (docs/design.md, stack facts). The command picks the role:
#   airflow api-server | airflow scheduler | airflow dag-processor | airflow triggerer | airflow db migrate
# The base is a variable with the official default; where no registry is reachable,
# infra/local-images/build.sh makes a stand-in (PYTHON_IMAGE=flightpath-local/python:3.11).
# checkov:skip=CKV_DOCKER_7: the base is a build argument with a pinned default (checkov does not resolve ARG)
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

# torch: the CPU wheel index, so the image carries no CUDA libraries (PyPI's Linux wheel is the CUDA
# build, several GB). Set to "" to build from PyPI alone. torch==2.13.0 in constraints.txt matches
# the index's 2.13.0+cpu (a local version label is ignored by ==).
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 flightpath \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /opt/airflow flightpath

WORKDIR /opt/flightpath

# 1. Dependencies (cached until pyproject/constraints change); stub packages, then an editable install
#    (settings derive the DAGs folder and the Feast repo from the source location).
#    psycopg: Airflow's metadata DB and the prediction log are PostgreSQL in the stack
#    (Airflow 3 uses psycopg 3 when it is installed: postgresql+psycopg:// URLs).
#    Local wheels, optional: whatever lies in .wheelhouse/ of the build context (ignored by git; e.g.
#    the CPU torch wheel on a machine that cannot reach the CPU index) is preferred by pip. README.md
#    is named too so that the COPY has a source when the folder is absent.
COPY pyproject.toml constraints.txt README.md ./
COPY README.md .wheelhouse* /tmp/wheelhouse/
RUN mkdir -p cli flightpath pipelines features training monitoring \
 && touch cli/__init__.py flightpath/__init__.py pipelines/__init__.py features/__init__.py training/__init__.py \
          monitoring/__init__.py \
 && pip install --no-cache-dir --find-links /tmp/wheelhouse -c constraints.txt \
        -e ".[ingest,features,training,monitoring,pipelines]" "psycopg[binary]" \
 && rm -rf /tmp/wheelhouse

# 2. The code of every stage a task runs (tests/infra checks that the DAGs' import closure is covered).
COPY cli/ cli/
COPY flightpath/ flightpath/
COPY pipelines/ pipelines/
COPY features/ features/
COPY training/ training/
COPY monitoring/ monitoring/

RUN mkdir -p /opt/airflow/logs /var/lib/flightpath \
 && chown -R 10001:10001 /opt/airflow /var/lib/flightpath

ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/flightpath/pipelines/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    FLIGHTPATH_HOME=/var/lib/flightpath

USER 10001:10001
EXPOSE 8080

# No image-level HEALTHCHECK: one image, four roles with different liveness signals. Compose and
# Kubernetes define one per role (HTTP for the api-server, `airflow jobs check` for the others).
# checkov:skip=CKV_DOCKER_2: one image runs four Airflow roles; compose defines a healthcheck per role
CMD ["airflow", "api-server"]
