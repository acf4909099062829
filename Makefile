# Two entry points: `make repro` runs the pipeline, `make test` runs the test suite.
# Both create .venv from the pinned lock files first; nothing else needs installing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# dvc.yaml's commands call `python`: the venv's must come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: repro test venv clean-venv

repro: $(VENV)/.run-installed
	dvc repro
	mnist-pipeline report

test: $(VENV)/.test-installed
	python -m pytest

venv: $(VENV)/.run-installed

$(VENV)/.run-installed: requirements/run.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/run.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.run-installed requirements/test.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/test.lock
	touch $@

clean-venv:
	rm -rf $(VENV)
