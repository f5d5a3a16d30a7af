# Two commands matter: `make run` (train + deploy on the bundled data) and `make test`.
# Both create the virtual environment on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pip arguments, e.g. PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
# on machines where PyPI's torch would be the large CUDA build.
PIP_ARGS ?=
# Extras installed into .venv: dev tools, the Kubernetes/Seldon stack's client, the production-local stack's drivers.
EXTRAS ?= dev,kubernetes,production-local
# The seldon-core microservice needs Python >= 3.12 and numpy < 2: it gets its own virtualenv.
PYTHON312 ?= $(shell for p in $$(command -v python3.12) $$HOME/.pyenv/versions/3.12*/bin/python3.12; do "$$p" -c '' 2>/dev/null && { echo "$$p"; break; }; done)
SELDON_VENV ?= .venv-seldon
# checkov pins packages our stack needs older: it gets its own virtualenv too.
CHECKOV_VENV ?= .venv-checkov

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck unit e2e clean seldon-venv checkov-venv tools

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=/path/to/python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install $(PIP_ARGS) -e '.[$(EXTRAS)]'
	@touch $@

install: $(VENV)/.installed  ## create .venv and install the project with its dev tools

$(SELDON_VENV)/.installed: deploy/docker/seldon-requirements.txt
	@test -n "$(PYTHON312)" || { echo "seldon-venv: Python 3.12 not found (set PYTHON312=/path/to/python3.12)"; exit 1; }
	@test -x $(SELDON_VENV)/bin/python || $(PYTHON312) -m venv $(SELDON_VENV)
	$(SELDON_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SELDON_VENV)/bin/python -m pip install $(PIP_ARGS) -r deploy/docker/seldon-requirements.txt
	@touch $@

seldon-venv: $(SELDON_VENV)/.installed  ## the seldon-core 1.19 microservice in its own Python 3.12 venv

$(CHECKOV_VENV)/.installed: deploy/checkov-requirements.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install $(PIP_ARGS) -r deploy/checkov-requirements.txt
	@touch $@

checkov-venv: $(CHECKOV_VENV)/.installed  ## the checkov security scanner in its own venv

# The tools some tests drive from their own venvs; a test whose tool is missing skips and says which target builds it.
tools:
	@$(MAKE) --no-print-directory seldon-venv || echo "make: no seldon venv; the Seldon microservice tests will skip"
	@$(MAKE) --no-print-directory checkov-venv || echo "make: no checkov venv; the security scan tests will skip"

run: install  ## register + activate the local stack, train on the bundled data, deploy the model
	$(BIN)/python run.py stacks --stack local
	$(BIN)/python run.py

lint: install  ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install  ## mypy on the project's packages
	$(BIN)/mypy

unit: install  ## fast tests only
	$(BIN)/pytest -m "not e2e"

e2e: install  ## end-to-end tests only (real ZenML store, MLflow, HTTP servers)
	$(BIN)/pytest -m e2e

test: lint typecheck tools  ## ruff, format check, mypy, then all tests with coverage
	$(BIN)/pytest

clean:  ## remove caches and test output (keeps .venv and the ZenML repository)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage coverage.xml htmlcov test-output
