# flightpath: the front door. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# checkov pins versions the project venv cannot share (packaging, networkx...): its own venv.
CHECKOV_VENV  ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# Optional window for demo/backfill/monitor: make backfill START=2013-01-01 END=2013-03-31
WINDOW := $(if $(START),--start $(START)) $(if $(END),--end $(END))
# `make replay` keeps its own state (lake, registry, reports) apart from the demo's.
REPLAY_HOME ?= $(CURDIR)/.flightpath/replay
# The CPU build of torch for `make install` (and the pipelines image: TORCH_INDEX_URL in .env).
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu
# Compose v2 (`docker compose`) where it exists, else v1 (`docker-compose`, e.g. Debian's 1.29).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
export COMPOSE_PROJECT_NAME ?= flightpath

.PHONY: help install demo tour figures test test-fast lint clean serve bench backfill promote rollback mlflow-ui monitor-day replay evidently-ui monitoring-exporter airflow airflow-backfill up down ps logs trigger smoke stack-test k8s-twin kind-up kind-down minikube-up minikube-down k8s-load airflow-chart airflow-chart-install release-status release-compare release-promote release-abort

help: ## list every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-17s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "flightpath needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25"
	@# torch first, from the CPU wheel index: PyPI's Linux wheel is the CUDA build (several GB of
	@# unused libraries). Where that index is unreachable this falls back to what pip finds next;
	@# TORCH_INDEX_URL= (empty) skips it, as our CI does.
	$(if $(TORCH_INDEX_URL),$(PY) -m pip install --quiet -c constraints.txt --index-url $(TORCH_INDEX_URL) torch==2.13.0 \
	  || echo "the CPU torch index ($(TORCH_INDEX_URL)) did not answer: torch comes from PyPI (on Linux, the CUDA build)")
	@# Exact versions from constraints.txt; torch is already there if the line above installed it.
	$(PY) -m pip install --quiet -c constraints.txt -e ".[all]"
	@touch $(STAMP)

$(CHECKOV_STAMP): infra/checkov-constraints.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -c infra/checkov-constraints.txt checkov
	@touch $(CHECKOV_STAMP)

install: $(STAMP) ## create .venv and install the pinned dependencies (done automatically by other targets)

demo: $(STAMP) ## run the whole loop on the embedded default, then serve and predict (START=/END= optional; V=1: all logs)
	$(VENV)/bin/flightpath $(if $(V),-v) demo $(WINDOW)

tour: $(STAMP) ## walk the stages in order on the demo's home: each artifact, its note, where to look (runs the demo first if needed)
	$(VENV)/bin/flightpath tour

figures: $(STAMP) ## the numbers the docs cite, from docs/benchmarks.json and docs/demo_summary.json (check: stale citations)
	$(PY) -m benchmarks.figures show

test: $(STAMP) $(CHECKOV_STAMP) ## run the test suite (CI=true turns missing PostgreSQL/Redis from a skip into a failure)
	CHECKOV_BIN=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(PY) -m pytest -q

test-fast: $(STAMP) ## the tests that start no servers (no uvicorn, Airflow, MLflow server, Redis/PostgreSQL): minutes, for a laptop
	$(PY) -m pytest -q -m "not integration"

lint: $(STAMP) ## ruff check + format check, mypy, import layers (import-linter), declared dependencies (deptry)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/deptry .

clean: ## remove all runtime state (.flightpath/: lake, feature store, MLflow, Airflow, reports)
	rm -rf .flightpath

serve: $(STAMP) ## start the inference service on 127.0.0.1:8000 (FLIGHTPATH_SERVE_PORT to change)
	$(VENV)/bin/flightpath serve

bench: $(STAMP) ## run the benchmarks, write docs/benchmarks.md (ONLY="serving online" for some; needs wrk)
	$(PY) -m benchmarks.run $(ONLY)

backfill: $(STAMP) ## ingest START..END day by day (progress bar), then rebuild features and materialize
	$(VENV)/bin/flightpath backfill $(WINDOW)

promote: $(STAMP) ## register a run's model and run the promotion gate: make promote RUN_ID=...
	@test -n "$(RUN_ID)" || { echo "usage: make promote RUN_ID=<mlflow run id>"; exit 2; }
	$(VENV)/bin/flightpath promote $(RUN_ID)

rollback: $(STAMP) ## move the `champion` alias back to the previous champion
	$(VENV)/bin/flightpath rollback

mlflow-ui: $(STAMP) ## MLflow UI on 127.0.0.1:5000 over the embedded tracking DB (FLIGHTPATH_HOME=.flightpath/replay: the replay's)
	$(VENV)/bin/mlflow ui --backend-store-uri "$$($(PY) -c 'from flightpath.settings import get_settings; print(get_settings().mlflow_tracking_uri)')" --host 127.0.0.1 --port 5000

monitor-day: $(STAMP) ## batch-score DAY=2013-03-31 with the champion, then judge it: drift, quality, retrain or not
	@test -n "$(DAY)" || { echo "usage: make monitor-day DAY=YYYY-MM-DD (an ingested day)"; exit 2; }
	$(VENV)/bin/flightpath batch-score $(DAY)
	$(VENV)/bin/flightpath monitor-day $(DAY)

replay: $(STAMP) ## train on Jan-Mar, then replay Apr-Dec day by day: batch-score, monitor, retrain (own home: .flightpath/replay)
	FLIGHTPATH_HOME="$(REPLAY_HOME)" $(VENV)/bin/flightpath replay $(if $(START),--start $(START)) $(if $(END),--end $(END))

evidently-ui: $(STAMP) ## Evidently UI over the monitoring reports on 127.0.0.1:8001 (FLIGHTPATH_HOME=... for another home)
	$(VENV)/bin/evidently ui --workspace "$$($(PY) -c 'from flightpath.settings import get_settings; print(get_settings().reports_dir / "evidently")')" --host 127.0.0.1 --port 8001

monitoring-exporter: $(STAMP) ## the monitoring verdict as Prometheus metrics on 127.0.0.1:8002
	$(VENV)/bin/flightpath monitoring-exporter

AIRFLOW_ENV := export PATH="$(CURDIR)/$(VENV)/bin:$$PATH" && eval "$$($(PY) -m pipelines.airflow_env)"

release-status: $(STAMP) ## staged release: which version is champion, which challenger, and the gate's word on each
	$(VENV)/bin/flightpath release status

release-compare: $(STAMP) ## champion vs challenger live answers from the prediction log (MINUTES=60)
	$(VENV)/bin/flightpath release compare --minutes $(or $(MINUTES),60)

release-promote: $(STAMP) ## end a staged release: champion := challenger (gate-passed, bytes and signature checked)
	$(VENV)/bin/flightpath release promote

release-abort: $(STAMP) ## end a staged release the other way: drop the challenger alias (canary pods leave the Service)
	$(VENV)/bin/flightpath release abort

airflow: $(STAMP) ## Airflow standalone (scheduler + UI on 127.0.0.1:8080, user admin) over the project DAGs
	$(AIRFLOW_ENV) && exec $(PY) -m pipelines.standalone

airflow-backfill: $(STAMP) ## backfill START..END through the running `make airflow` scheduler (daily DAG)
	@test -n "$(START)" -a -n "$(END)" || { echo "usage: make airflow-backfill START=2013-01-01 END=2013-01-31"; exit 2; }
	@# A data-interval timetable: --to-date is where the last day's interval ends, END + 1 day.
	$(AIRFLOW_ENV) && airflow dags unpause flightpath_daily && airflow backfill create --dag-id flightpath_daily \
	  --from-date $(START) --to-date $$($(PY) -c 'import datetime as d,sys; print(d.date.fromisoformat(sys.argv[1]) + d.timedelta(days=1))' $(END)) \
	  --reprocess-behavior failed

up: $(STAMP) ## build and start the compose stack, wait until healthy, print the URLs (needs Docker; DEV=1: live code in Airflow)
	@docker info >/dev/null 2>&1 || { echo "no Docker engine answers: start Docker (Debian: dockerd as root)"; exit 1; }
	@# A failed build or a taken port leaves part of the stack started: stop it, say what to change.
	$(COMPOSE) $(if $(DEV),-f docker-compose.yml -f docker-compose.dev.yml) up -d --build || { echo "make up failed (above). A port taken? Set STACK_*_PORT in .env (see .env.example). Stopping what started."; $(COMPOSE) down; exit 1; }
	$(VENV)/bin/flightpath stack wait
	@echo "serving  http://127.0.0.1:$${STACK_SERVING_PORT:-8000}/docs   (ready once a champion exists: make trigger)"
	@echo "Airflow  http://127.0.0.1:$${STACK_AIRFLOW_PORT:-8080}        (no login on the local stack)"
	@echo "MLflow   http://127.0.0.1:$${STACK_MLFLOW_PORT:-5000}        (admin / MLFLOW_ADMIN_PASSWORD, default flightpath-admin-local; read-only: serving / MLFLOW_SERVING_PASSWORD)"
	@echo "Grafana  http://127.0.0.1:$${STACK_GRAFANA_PORT:-3000}        (admin / GRAFANA_ADMIN_PASSWORD, default admin)"
	@echo "Prometheus http://127.0.0.1:$${STACK_PROMETHEUS_PORT:-9090}   (alerts: /alerts)"
	@echo "Evidently http://127.0.0.1:$${STACK_EVIDENTLY_PORT:-8001}        (monitoring reports, after flightpath_monitor runs)"

down: ## stop the compose stack (its volumes stay; `make down ARGS=-v` removes them)
	$(COMPOSE) down $(ARGS)

ps: $(STAMP) ## each service of the stack: state, health, URL (exit 1 if one is not healthy)
	$(VENV)/bin/flightpath stack status

logs: ## follow the compose stack's logs
	$(COMPOSE) logs -f --tail=100

trigger: $(STAMP) ## run the demo DAG in the stack through Airflow's REST API and wait (START=/END= optional)
	$(VENV)/bin/flightpath stack trigger $(if $(START),--start $(START)) $(if $(END),--end $(END))

smoke: $(STAMP) ## check the running stack end to end: ready, a prediction from the champion, logged, scraped
	$(VENV)/bin/flightpath stack smoke

stack-test: $(STAMP) ## build the images, start the stack on free ports, trigger, smoke, down -v (needs Docker)
	infra/stack-test.sh

k8s-twin: $(STAMP) ## run every k8s workload under Docker exactly as its pod spec says: probes, seed, a prediction (images built)
	$(VENV)/bin/flightpath k8s twin

kind-up: $(STAMP) ## a kind cluster with flightpath in it: build, load, apply, seed, smoke, print the URLs (needs kind, kubectl, Docker)
	infra/k8s-cluster.sh up kind

kind-down: ## delete the kind cluster (and everything in it)
	infra/k8s-cluster.sh down kind

minikube-up: $(STAMP) ## the same on minikube (profile flightpath), port-forwards to 127.0.0.1:8000 and :5000
	infra/k8s-cluster.sh up minikube

minikube-down: ## delete the minikube profile (and everything in it)
	infra/k8s-cluster.sh down minikube

airflow-chart: $(STAMP) ## render Airflow's official Helm chart with our DAGs (k8s/helm/airflow-values.yaml) and validate it; needs helm
	infra/airflow-chart.sh template

airflow-chart-install: $(STAMP) ## install that chart into the kind cluster (after make kind-up); needs helm and kubectl
	infra/airflow-chart.sh install

k8s-load: $(STAMP) ## load the kind cluster's service and watch the HPA add pods (SECONDS=300 CONCURRENCY=32 CONTEXT=kind-flightpath)
	$(VENV)/bin/flightpath k8s load --url http://127.0.0.1:8000 --seconds $(or $(SECONDS),300) \
	  --concurrency $(or $(CONCURRENCY),32) --context $(or $(CONTEXT),kind-flightpath)
