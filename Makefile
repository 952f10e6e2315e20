# Two commands on a fresh clone (Python 3.11 and make only):
#   make quickstart   set up .venv, ingest the bundled sample, train PPO, register the model
#   make test         set up .venv and run the default (offline) test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlruns/mlflow.db

.PHONY: setup quickstart test test-all lint bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build first: a looser torch requirement would pull GBs of CUDA packages
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

quickstart: setup
	$(BIN)/btcrl ingest --source sample
	$(BIN)/btcrl train --algo ppo --source sample --total-timesteps 50000
	@echo "open the UI: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db"

test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q -m "not network"

lint: setup
	$(BIN)/ruff check btcrl tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
