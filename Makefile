# The entry points of the README: `make demo`, `make test` and `make lint`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo demo-run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## Run a digits search (offline, a few minutes on 2 CPU cores) and print the K architectures.
# A rerun replaces the previous demo run (its journal, results and retrained children), so the
# journal does not grow with each run and no old results lie beside new ones.
DEMO_OUT ?= runs/demo
DEMO_ARGS ?=
demo: $(STAMP)
	@$(MAKE) --no-print-directory demo-run

# The demo itself, without the install step (the tests run it with a quick DEMO_ARGS).
demo-run:
	@if [ -e "$(DEMO_OUT)" ]; then \
		echo "make demo: replacing the previous demo run in $(DEMO_OUT)"; rm -rf "$(DEMO_OUT)"; fi
	$(BIN)/optuna-isnas search --dataset digits --space chain --out $(DEMO_OUT) $(DEMO_ARGS)

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
