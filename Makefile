# face_assets: `make demo` runs the whole pipeline on the embedded database; `make test` runs the tests (`make e2e`: only
# the end-to-end and fault tests).
# Both create/update .venv and install the project first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
FIXTURES := $(SHARED)/fixtures
EXTRAS ?= test

export FACE_ASSETS_HOME ?= $(CURDIR)/.face_assets

# The fixture library (when it is beside the checkout) is what the demo and `make dev` run on.
ifneq ($(wildcard $(FIXTURES)/legacy/video_library.db),)
export FACE_ASSETS_LEGACY_DB ?= $(FIXTURES)/legacy/video_library.db
export FACE_ASSETS_PATH_MAP ?= /srv/media=$(FIXTURES)/library
endif
ifneq ($(wildcard $(FIXTURES)/models/buffalo_sc),)
export FACE_ASSETS_MODEL ?= buffalo_sc
export FACE_ASSETS_MODEL_ROOT ?= $(FIXTURES)
endif

.PHONY: install chromium demo lint test e2e dev bench db-stop clean install-rocm install-cuda

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv

# Re-installs when the dependency list changes; versions are pinned in constraints.txt (names and versions only).
$(VENV)/.installed-$(EXTRAS): pyproject.toml constraints.txt | $(BIN)/uv
	$(BIN)/uv pip install -q -p $(BIN)/python -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS) chromium

# The browser tests drive Debian's chromium with Playwright (never `playwright install`). As root, install it when
# it is missing; elsewhere the browser tests skip and say why (CI sets FACE_ASSETS_E2E_REQUIRE_BROWSER=1: fail instead).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium is not installed: the browser tests will skip"

# GPU runtimes replace the CPU onnxruntime rather than sitting beside it.
install-rocm install-cuda: install
	$(BIN)/uv pip uninstall -p $(BIN)/python onnxruntime
	$(BIN)/uv pip install -p $(BIN)/python -e ".[$(subst install-,,$@)]"

# With the fixtures (above) the demo runs on them; without them `face-assets demo` first builds a small demo library in
# $(FACE_ASSETS_HOME)/demo from installed packages' sample photos, and the model is buffalo_l (downloaded on first use).
demo: install
	$(BIN)/face-assets demo $(if $(wildcard $(FIXTURES)/truth.json),--truth $(FIXTURES)/truth.json)

# The layers (import-linter: pyproject's [tool.importlinter]) and the code's uniformity (ruff: [tool.ruff]).
lint: $(VENV)/.installed-$(EXTRAS)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(BIN)/face-assets dg check defs
	$(BIN)/python -m pytest

# Only the end-to-end tests (real webserver + daemon, browser) and the fault tests; `make test` runs them too.
e2e: install
	$(BIN)/python -m pytest face_assets_tests/e2e face_assets_tests/faults

dev: install
	$(BIN)/face-assets dev

# Every benchmark in benchmarks/ (ours vs baseline), writing benchmarks/results.json and benchmarks/RESULTS.md.
# `make bench BENCH_ARGS="migrate --quick"`: some stages, or tiny sizes; see benchmarks/README.md.
bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

db-stop:
	-$(BIN)/face-assets db stop

clean: db-stop
	rm -rf $(FACE_ASSETS_HOME)
