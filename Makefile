# The entry points of the README: `make demo`, `make test` and `make lint`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## Run a digits search (offline, a few minutes on 2 CPU cores) and print the K architectures.
demo: $(STAMP)
	$(BIN)/optuna-isnas search --dataset digits --space chain --out runs/demo

## Create the environment, install the project with its test extras and run the whole suite.
# Two pytest workers, one torch/BLAS thread each: on 2 cores more threads only contend.
test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 tests

## Lint and types (configured in pyproject.toml): ruff lint, ruff format check, mypy.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ask_tell.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
