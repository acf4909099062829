# Two entry points: `make repro` runs the pipeline, `make test` runs the test suite.
# Both create .venv from the pinned lock files first; nothing else needs installing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# dvc.yaml's commands call `python`: the venv's must come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: repro test venv clean-venv reference-10k small-data full-scale

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

# Recipes beyond the reference, run as DVC experiments (see the README's results table).
# Each evaluates on the full 10,000-image test set.
reference-10k: $(VENV)/.run-installed
	dvc exp run -n reference-10k -S prepare.n_test=10000

small-data: $(VENV)/.run-installed
	dvc exp run -n small-data -S prepare.n_test=10000 \
	  -S train.epochs=100 -S train.batch_size=32 -S train.lr=0.05 -S train.momentum=0.9 \
	  -S train.nesterov=true -S train.weight_decay=0.0005 -S train.schedule=onecycle \
	  -S train.augment_shift=2 -S train.augment_rotate=10

full-scale: $(VENV)/.run-installed
	dvc exp run -n full-scale -S prepare.n_train=60000 -S prepare.n_test=10000 \
	  -S train.epochs=3 -S train.batch_size=128 -S train.lr=0.003 -S train.optimizer=adamw \
	  -S train.weight_decay=0.01 -S train.schedule=onecycle -S train.threads=2
