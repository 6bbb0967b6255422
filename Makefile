# oma: `make demo` runs the main job, `make test` passes the tests; both set up a fresh machine first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEVCLUSTER := $(BIN)/python -m oma.devcluster
PY_DIRS := src tests hack $(wildcard bench)

.PHONY: help deps venv tools generate crds cluster-up cluster-down cluster-status lint typecheck test test-unit \
        test-integration chaos demo dashboard clean kind-e2e lock audit node-tools images e2e linters

help:
	@echo "make demo          bring the local cluster up and run the demo job end to end"
	@echo "make test          lint, type-check, unit and integration tests (sets everything up)"
	@echo "make dashboard     the dashboard on the local cluster, at http://127.0.0.1:8000 (prints a token)"
	@echo "make cluster-up    start (or reuse) the local control plane; prints export KUBECONFIG=..."
	@echo "make cluster-down  stop every process of the local control plane"
	@echo "make chaos         the long chaos tests (operator kills, apiserver and etcd outages)"
	@echo "make e2e           the real node (kubelet + containerd, as root): our images, the chart, the examples"
	@echo "make images        build our images with buildah on a local Debian base (cached by content)"
	@echo "make cluster-up NODE=real   the local cluster with a real node instead of KWOK + process-backed pods"
	@echo "make kind-e2e      with Docker: kind cluster, images, Helm chart, the title-card example end to end"

deps:
	@bash hack/install-deps.sh

# The venv is the lock: requirements.lock pins every distribution (constraints), so CI audits what it tests.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

tools:
	@bash hack/build-tools.sh >/dev/null

# kubeconform and kube-score from pinned Go modules, and Kubernetes 1.30's and 1.36's JSON schemas from the pinned
# k8s.io/kubernetes modules, cached in ~/.cache/oma (cold, with empty Go caches: 5 min on a busy 2-core machine).
linters:
	@bash hack/build-linters.sh >/dev/null

# Everything generated from the code: CRDs, the chart's values schema, the operator's alerts and dashboard.
generate: venv
	$(BIN)/python -m oma.models.crd crds charts/oma-operator/files/crds
	$(BIN)/python -m oma.models.chart_values charts/oma-operator
	$(BIN)/python -m oma.operator.monitoring.operator_rules monitoring charts/oma-operator/files/monitoring

crds: generate

# NODE=process (default): KWOK's simulated node and the process-backed one. NODE=real: kubelet + containerd.
NODE ?= process
cluster-up: deps venv tools $(if $(filter real,$(NODE)),node-tools)
	@$(DEVCLUSTER) up --node $(NODE)

# The real node's Go components (kubelet, kube-proxy, containerd, CoreDNS, pause), cached like the control plane.
node-tools:
	@bash hack/build-node.sh >/dev/null

# Our images (operator, worker, Redis, Postgres, exporters, pause, CoreDNS) as OCI archives in ~/.cache/oma/images.
images: deps node-tools
	@bash hack/build-images.sh

cluster-down: venv
	@$(DEVCLUSTER) down

cluster-status: venv
	@$(DEVCLUSTER) status

# After changing dependencies in pyproject.toml: resolve them and pin the result (a unit test checks the sync).
lock:
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python hack/lock.py write

# Known vulnerabilities of every pinned distribution, from PyPI's JSON API (hack/lock.py explains the source).
audit: venv
	$(BIN)/python hack/lock.py audit

lint: venv
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

typecheck: venv
	$(BIN)/mypy

# Seconds, and nothing but Python: no ffmpeg, no Postgres, no Go builds.
test-unit: venv
	$(BIN)/pytest -m unit tests

test-integration: deps venv tools linters
	$(BIN)/pytest -m integration tests

# End to end on the real node, in its own state dir ($$OMA_CLUSTER_DIR-real); root only.
e2e: deps venv tools node-tools images
	$(BIN)/pytest -m e2e tests

# The long version of the chaos tests: 200 VideoJobs and 20 kills of the leader, apiserver and etcd outages.
chaos: deps venv tools
	OMA_CHAOS=full $(BIN)/pytest -m chaos -s tests

# As root (CI) the e2e on the real node runs too (node components and images built first); otherwise its tests
# fail with what they need.
test: deps venv tools linters $(if $(filter 0,$(shell id -u)),node-tools images) lint typecheck audit
	$(BIN)/pytest tests

demo: deps venv tools
	@$(BIN)/python hack/demo.py

dashboard: deps venv tools
	@$(BIN)/python hack/dashboard.py

kind-e2e:
	@bash hack/kind-e2e.sh

clean: cluster-down
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
