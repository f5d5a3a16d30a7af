# Two commands matter: `make run` (train + deploy on the bundled data) and `make test`.
# Both create the virtual environment on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pip arguments, e.g. PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
# on machines where PyPI's torch would be the large CUDA build.
PIP_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck unit e2e clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=/path/to/python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install $(PIP_ARGS) -e '.[dev]'
	@touch $@

install: $(VENV)/.installed  ## create .venv and install the project with its dev tools

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

test: lint typecheck  ## ruff, format check, mypy, then all tests with coverage
	$(BIN)/pytest

clean:  ## remove caches and test output (keeps .venv and the ZenML repository)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage coverage.xml htmlcov test-output
