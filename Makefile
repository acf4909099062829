# Two entry points: `make repro` runs the pipeline, `make test` runs the test suite.
# Both create .venv from the pinned lock files first; nothing else needs installing.
# `make` alone lists the targets: each target's `## ` comment is its line in that list.
PYTHON ?= python3
NPM ?= npm
VENV := .venv
BIN := $(VENV)/bin
# dvc.yaml's commands call `python`: the venv's must come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help repro shipped-run test test-fast lint format venv lock clean-venv compare plots-offline \
  offline-page params-backup reference-10k small-data full-scale fast
.DEFAULT_GOAL := help

help: ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

repro: $(VENV)/.run-installed offline-page ## run the pipeline (dvc repro) and print the results
	dvc repro
	mnist-pipeline report

# The shipped run (dvc.lock, metrics/) made again with the committed params.yaml: needed after
# every change to a dependency of train (its code, params or data). Portable numerics make the
# same bytes on any x86-64 CPU with AVX2, so it can be remade on any such machine.
shipped-run: $(VENV)/.run-installed offline-page ## remake the committed run (dvc.lock, metrics/)
	@git diff --quiet HEAD -- params.yaml || { echo "error: params.yaml differs from HEAD:" \
	  "the shipped run uses the committed params (git checkout HEAD -- params.yaml)" >&2; exit 1; }
	dvc repro
	mnist-pipeline report
	@echo "Commit the shipped run: git add dvc.lock metrics && git commit"

# PYTEST_ARGS: pytest's own options, e.g. make test PYTEST_ARGS='-m "not slow"'.
PYTEST_ARGS ?=
test: $(VENV)/.test-installed build/plots-template.html ## the whole test suite (PYTEST_ARGS=...)
	python -m pytest $(PYTEST_ARGS)

# The edit-run loop's tier, under a minute: no model trained, no dvc, stage or server run.
test-fast: $(VENV)/.test-installed ## the quick tests: pytest -m "not slow and not heavy"
	python -m pytest -m "not slow and not heavy" $(PYTEST_ARGS)

lint: $(VENV)/.test-installed ## ruff (lint, format check) and mypy (types of src/, stages/)
	ruff check .
	ruff format --check .
	mypy

# ruff check --fix first: a fix can leave lines ruff format then reflows.
format: $(VENV)/.test-installed ## ruff check --fix, then ruff format
	ruff check --fix .
	ruff format .

venv: $(VENV)/.run-installed ## only create .venv from requirements/run.lock

# The experiments and the workspace side by side: validation and test accuracy, test loss and
# the params that differ between the rows (`dvc exp show` alone has about 90 columns); failed
# and queued experiments, which have no results of their own, left out. N=3: the experiments
# of the last 3 commits. COMPARE_DROP drops every column but the params (train.* names that
# are metrics excepted), COMPARE_KEEP keeps the three numbers even where they are all equal.
N ?= 1
COMPARE_DROP := (?!Experiment$$|dataset$$|(fetch|prepare|train)\.(?!loss$$|accuracy|n$$|per_class)).*
COMPARE_KEEP := (val|test)\.accuracy$$|test\.loss$$
compare: $(VENV)/.run-installed ## the experiments side by side (N=3: the last 3 commits')
	dvc exp show -n $(N) --hide-failed --hide-queued --only-changed \
	  --drop '$(COMPARE_DROP)' --keep '$(COMPARE_KEEP)'

$(VENV)/.run-installed: requirements/run.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/run.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.run-installed requirements/test.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/test.lock
	touch $@

# requirements/*.lock, compiled from pyproject.toml by pip-tools; test.lock keeps run.lock's
# versions. pip-compile keeps each version already locked while it still fits: to move them,
# `make lock LOCK_FLAGS=--upgrade` (or --upgrade-package NAME). torch==2.13.0 resolves to the
# CPU build where pip is configured to look (a find-links folder in pip.conf, or PyTorch's
# CPU index), whose version carries the local label +cpu; the label is dropped so that the
# lock names the version every index has and pip installs that build again.
PIP_TOOLS := pip-tools==7.6.2
LOCK_FLAGS ?=
COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --strip-extras \
  --no-emit-index-url --no-emit-find-links pyproject.toml
DROP_LOCAL_LABEL := sed -i -E 's/^(torch==[^+ ]+)[+][^ ]+/\1/'

lock: ## compile requirements/*.lock from pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_TOOLS)
	$(COMPILE) $(LOCK_FLAGS) --output-file requirements/run.lock
	$(DROP_LOCAL_LABEL) requirements/run.lock
	$(COMPILE) $(LOCK_FLAGS) --extra test --constraint requirements/run.lock \
	  --output-file requirements/test.lock
	$(DROP_LOCAL_LABEL) requirements/test.lock

# `dvc plots show` without internet: vega, vega-lite and vega-embed from npm (package-lock.json),
# inlined into build/plots-template.html, which .dvc/config.local makes DVC's default page.
plots-offline: build/plots-template.html ## `dvc plots show` pages that work offline
	dvc config --local plots.html_template ../build/plots-template.html

build/plots-template.html: node_modules/.package-lock.json src/mnist_pipeline/apps/plots_html.py \
  $(VENV)/.run-installed
	mnist-pipeline plots-template node_modules $@

# The lock pins every package by hash, so npm's cache may serve it without asking the registry;
# no retries, so that a machine without the registry learns it in seconds, not minutes.
node_modules/.package-lock.json: package-lock.json
	$(NPM) ci --prefer-offline --fetch-retries=0 --no-audit --no-fund --loglevel=error

# repro, shipped-run and the recipes make the offline page on the way (the venv is ready by
# then: -o). Where npm cannot, one line says what to do and the run goes on; then, with no page
# made, our setting naming it is dropped (a user's own template is kept), so that DVC's own
# page (charts from a CDN) works.
NOTE := note: dvc plots pages need internet to draw their charts
offline-page: $(VENV)/.run-installed
	@mkdir -p build
	@if ! command -v $(NPM) >/dev/null; then echo "$(NOTE) (no npm); for an offline page" \
	  "install Node.js with npm, then run make plots-offline" >&2; \
	elif ! $(MAKE) --no-print-directory -o $(VENV)/.run-installed plots-offline \
	  >build/plots-offline.log 2>&1; then echo "$(NOTE) (npm failed, build/plots-offline.log);" \
	  "for an offline page run make plots-offline with the npm registry reachable" >&2; fi
	@test -f build/plots-template.html \
	  || [ "$$(dvc config --local plots.html_template 2>/dev/null)" != ../build/plots-template.html ] \
	  || dvc config --local --unset plots.html_template

clean-venv: ## remove .venv
	rm -rf $(VENV)

# Recipes, run as DVC experiments and evaluated on all 10,000 test images (the README's
# results table). `dvc exp run -S` applies on top of the workspace's params.yaml, which after an
# experiment holds that experiment's values, so each recipe first restores the committed
# params.yaml (the reference recipe, portable: the same bytes on any x86-64 CPU with AVX2;
# uncommitted edits to it are dropped, a copy kept), then sets only its own changes.
params-backup:
	@git diff --quiet HEAD -- params.yaml || { mkdir -p build && cp params.yaml build/params.yaml.bak \
	  && echo "note: params.yaml differed from the commit (an experiment's values, or your" \
	    "edits); the recipe starts from the commit's, and a copy is in build/params.yaml.bak" >&2; }

reference-10k: $(VENV)/.run-installed offline-page params-backup ## experiment: the reference recipe, tested on all 10,000 images
	git checkout HEAD -- params.yaml
	dvc exp run -n reference-10k -S prepare.n_test=10000

small-data: $(VENV)/.run-installed offline-page params-backup ## experiment: a better recipe on the same 1,000 images
	git checkout HEAD -- params.yaml
	dvc exp run -n small-data -S prepare.n_test=10000 -S train.epochs=100 \
	  -S train.batch_size=32 -S train.lr=0.05 -S train.momentum=0.9 -S train.nesterov=true \
	  -S train.weight_decay=0.0005 -S train.schedule=onecycle -S train.augment_shift=2 \
	  -S train.augment_rotate=10

full-scale: $(VENV)/.run-installed offline-page params-backup ## experiment: 59,000 training images, 3 epochs
	git checkout HEAD -- params.yaml
	dvc exp run -n full-scale -S prepare.n_train=59000 -S prepare.n_test=10000 \
	  -S train.epochs=3 -S train.batch_size=128 -S train.lr=0.003 -S train.optimizer=adamw \
	  -S train.weight_decay=0.01 -S train.schedule=onecycle -S train.threads=2

# The fast recipe: 99 % test accuracy as soon as this machine allows (bench/time_to_99.py
# measures it against PyTorch's own MNIST example). Native numerics, every core, and bf16
# where the CPU runs it natively (train.precision: auto): its bytes reproduce on the same CPU
# type only. No offline-page: it is about time, and the page is made by the other targets.
fast: $(VENV)/.run-installed params-backup ## experiment: 99 % test accuracy, soonest (native numerics, bf16 where the CPU has it)
	git checkout HEAD -- params.yaml
	dvc exp run -n fast -S prepare.n_train=59000 -S prepare.n_test=10000 \
	  -S train.epochs=1.5 -S train.batch_size=256 -S train.lr=0.005 -S train.optimizer=adamw \
	  -S train.weight_decay=0.01 -S train.schedule=onecycle -S train.threads=$$(nproc) \
	  -S train.numerics=native -S train.precision=auto
