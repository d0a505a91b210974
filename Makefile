# Two commands: `make run` executes the notebook series, `make test` runs the tests.
# Both create or update the local virtual environment (.venv) first when needed.
#   make run PROFILE=workshop NOTEBOOKS=01,02        # a profile and a subset of notebooks
#   make run DATASET=folder:/path/to/my_images       # the image notebooks on your own images
#   make run NOTEBOOKS=05 SERIES=GunPoint            # notebook 05 on another series set
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= full
NOTEBOOKS ?= all
DATASET ?=
SERIES ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with AVX-512 and the like; on the others
# (e.g. AMD EPYC with AVX2) asking for them made training 1.08x and TensorFlow's forward pass 1.5x faster. 0: off.
export TF_ENABLE_ONEDNN_OPTS ?= 1

.PHONY: run test test-fast lint format readme record site benchmark lab clean-outputs

# The series is pinned to Python 3.11: say so before anything is installed (the venv's Python once it exists).
CHECKED_PYTHON = $(if $(wildcard $(PY)),$(PY),$(PYTHON))

$(STAMP): requirements.txt pyproject.toml
	@$(CHECKED_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { \
	  echo "This series needs Python 3.11; $(CHECKED_PYTHON) is $$($(CHECKED_PYTHON) --version 2>&1 | head -n 1):" \
	  "run make PYTHON=python3.11 (e.g. from conda create -n tl python=3.11)."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

run: $(STAMP)
	@$(PY) -m helpers.runner --profile $(PROFILE) --notebooks $(NOTEBOOKS) $(if $(DATASET),--dataset "$(DATASET)") $(if $(SERIES),--series "$(SERIES)")

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not notebook and not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

readme: $(STAMP)
	$(PY) -m helpers.report.readme

# rerun NOTEBOOKS of PROFILE from an empty cache into results/<profile>_profile.json, then the README's tables
record: $(STAMP)
	$(PY) -m helpers.report.records --profile $(PROFILE) --notebooks $(NOTEBOOKS)
	$(PY) -m helpers.report.readme

site: $(STAMP)
	$(PY) -m helpers.report.site --profile $(PROFILE)

benchmark: $(STAMP)
	$(PY) benchmarks/featurize.py --output results/featurize_benchmark.json
	$(PY) benchmarks/dask_featurize.py --output results/dask_benchmark.json

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-outputs:
	rm -rf outputs/
