# Two commands on a fresh clone (Python 3.11 and make only):
#   make quickstart   set up .venv, ingest the bundled sample, train the default agent (a three-seed
#                     ensemble of residual PPO around the prior) on bars up to 2024-09-30
#                     (2024-10..2025-03 stays out of sample for a backtest), register the model
#   make test         set up .venv and run the default (offline) test suite
PYTHON ?= python3
# PyTorch is installed first, on its own, so that you choose the build:
#   TORCH_SPEC   the requirement (default torch==2.13.0; empty: let the project's torch>=2.3
#                requirement pick one)
#   TORCH_INDEX  a package index for it only (default empty: pip's configured index, e.g.
#                PyPI, whose Linux x86_64 wheel is the CUDA build with several GB of nvidia-*
#                packages). TORCH_INDEX=https://download.pytorch.org/whl/cpu installs the
#                CPU-only wheel (a few hundred MB), enough for everything btcrl does on CPU.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlruns/mlflow.db

.PHONY: setup quickstart test test-all lint bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	printf '\n# btcrl: the project store for btcrl, mlflow run and mlflow ui unless one is set\nexport MLFLOW_TRACKING_URI="$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlruns/mlflow.db}"\n' >> $(VENV)/bin/activate
	$(BIN)/pip install -q --upgrade pip
	$(if $(TORCH_SPEC),$(BIN)/pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) '$(TORCH_SPEC)')
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

quickstart: setup
	$(BIN)/btcrl ingest --source sample
	$(BIN)/btcrl train --source sample --end 2024-09-30

test: setup
	$(BIN)/python -m pytest -q -rs

test-all: setup
	$(BIN)/python -m pytest -q -m "not network"

lint: setup
	$(BIN)/ruff check btcrl tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
