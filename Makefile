# poslib: two commands on a fresh machine.
#   make results   create .venv and regenerate the study (default profile) into results/;
#                  a notebook whose inputs (notebook, poslib code, parameters, data, requirements) did not
#                  change is kept; FORCE=1 re-runs every notebook; JOBS=N runs N notebooks at once
#   make test      create .venv and run the test suite (notebooks in the smoke profile included)
# Datasets: set POSLIB_DATA (or DATA=...) to a folder with ECSSD/, SOD/, CamVid/; without it the
# embedded default is used and results go to results/runs/default-embedded/.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.poslib-installed
DATA ?= $(POSLIB_DATA)
PROFILE ?= default
UV_VERSION ?= 0.13.10
# Test processes (pytest-xdist): the cores, at most 4 (each notebook test starts a kernel).
TEST_JOBS ?= $(shell $(PYTHON) -c "import os; print(min(4, os.cpu_count() or 1))")
export MPLBACKEND := Agg

.PHONY: help env results smoke test bench index clean-cache
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# The requirements are installed with uv when it can be had (it unpacks torch's CUDA build in
# about 30 s, pip in about 2 minutes), with this machine's pip settings passed on
# (tools/pip_config_for_uv.py); where uv cannot be installed, pip does the same steps.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml tools/pip_config_for_uv.py
	$(PYTHON) -m venv $(VENV)
	if $(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION) >/dev/null 2>&1; then \
	  install="$(VENV)/bin/uv pip install -q --python $(PY) $$($(PY) tools/pip_config_for_uv.py) --compile-bytecode"; \
	else \
	  echo "uv could not be installed; installing with pip (slower)"; \
	  install="$(PY) -m pip install -q --disable-pip-version-check"; \
	fi; \
	$$install -r requirements.txt && $$install --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

env: $(STAMP) ## create the virtual environment (.venv) with every dependency

results: env ## re-run the notebooks whose inputs changed (PROFILE=default; ONLY="02 03"; DATA=folder; FORCE=1 re-runs all; JOBS=N at once)
	$(PY) -m poslib run --profile $(PROFILE) $(if $(ONLY),--only $(ONLY)) $(if $(DATA),--data $(DATA)) $(if $(FORCE),--force) $(if $(JOBS),--jobs $(JOBS)) --quiet

smoke: env ## run every notebook in the smoke profile (results/runs/smoke-*; FORCE=1 re-runs unchanged ones; JOBS=N at once)
	$(PY) -m poslib run --profile smoke $(if $(DATA),--data $(DATA)) $(if $(FORCE),--force) $(if $(JOBS),--jobs $(JOBS)) --quiet

test: env ## run the test suite, notebooks in the smoke profile included (TEST_JOBS=N processes)
	$(PY) -m pytest -n $(TEST_JOBS) --dist worksteal

bench: env ## benchmark the Table-1 workload into results/bench/
	$(PY) -m poslib bench $(if $(DATA),--data $(DATA))

index: env ## regenerate results/README.md from the provenance records
	$(PY) -m poslib index

clean-cache: ## delete cached features and trained weights
	rm -rf $${POSLIB_CACHE:-$$HOME/.cache/poslib}
