# face_assets: `make demo` runs the main job on the embedded database; `make test` runs the tests.
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

.PHONY: install demo test e2e dev bench db-stop clean install-rocm install-cuda

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv

# Re-installs when the dependency list changes; versions are pinned in constraints.txt (names and versions only).
$(VENV)/.installed-$(EXTRAS): pyproject.toml constraints.txt | $(BIN)/uv
	$(BIN)/uv pip install -q -p $(BIN)/python -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

# GPU runtimes replace the CPU onnxruntime rather than sitting beside it.
install-rocm install-cuda: install
	$(BIN)/uv pip uninstall -p $(BIN)/python onnxruntime
	$(BIN)/uv pip install -p $(BIN)/python -e ".[$(subst install-,,$@)]"

demo: install
	$(BIN)/face-assets run

test: install
	$(BIN)/face-assets dagster definitions validate -m face_assets.definitions
	$(BIN)/python -m pytest

dev: install
	$(BIN)/face-assets dev

db-stop:
	-$(BIN)/face-assets db stop

clean: db-stop
	rm -rf $(FACE_ASSETS_HOME)
