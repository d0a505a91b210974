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
# the like; on the others (e.g. AMD EPYC) asking for them makes the frozen forward
# passes about 1.5x faster (measured in benchmarks/featurize.py). Set it to 0 to compare.
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
