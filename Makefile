# Two commands: `make run` executes the notebook series, `make test` runs the tests.
# Both create or update the local virtual environment (.venv) first when needed.
#   make run PROFILE=smoke NOTEBOOKS=01,02   # a profile and a subset of notebooks
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= full
NOTEBOOKS ?= all
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with AVX-512 and
# the like; on the others (e.g. AMD EPYC with AVX2) asking for them made MobileNetV2's
# forward pass 1.5x faster (60 vs 40 images/s at 224 px, 2 cores). 0 turns them off.
export TF_ENABLE_ONEDNN_OPTS ?= 1

.PHONY: run test benchmark lab clean-outputs

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

run: $(STAMP)
	$(PY) -m helpers.runner --profile $(PROFILE) --notebooks $(NOTEBOOKS)

test: $(STAMP)
	$(PY) -m pytest

benchmark: $(STAMP)
	$(PY) benchmarks/featurize.py

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-outputs:
	rm -rf outputs/
