# The entry points of the README: `make demo`, `make test` and `make lint`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo demo-run test lint bench clean

# Without an NVIDIA GPU (no working `nvidia-smi`) on Linux x86_64, the venv first takes PyTorch's
# CPU build of torch and torchvision from TORCH_CPU_INDEX: about 1.7 GB in all instead of 6.1 GB
# (the default index's torch brings the CUDA libraries and triton). It is kept only if both wheels
# are +cpu builds and import together; anything else (index unreachable, no such wheels, a failed
# install or import) removes them, says so in one line and goes on with the default index's build.
# `make TORCH_CPU_INDEX=` always takes the default index's build. Elsewhere (a GPU, macOS, aarch64)
# the default index's torch is already the right one.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@if [ -n "$(TORCH_CPU_INDEX)" ] && [ "$$(uname -sm)" = "Linux x86_64" ] \
			&& ! nvidia-smi -L >/dev/null 2>&1; then \
		echo "no NVIDIA GPU: trying PyTorch's CPU build from $(TORCH_CPU_INDEX)"; \
		dir=$$(mktemp -d); log=$$dir/log; why=; \
		timeout 600 $(BIN)/pip download --quiet --no-deps --retries 1 --timeout 30 \
			--index-url "$(TORCH_CPU_INDEX)" --dest "$$dir" torch torchvision >"$$log" 2>&1 \
			|| why="download failed: $$(grep . "$$log" | tail -n 1)"; \
		wheels=$$(cd "$$dir" && ls *.whl 2>/dev/null | xargs); \
		if [ -z "$$why" ] && ! ls "$$dir"/torch-*+cpu-*.whl "$$dir"/torchvision-*+cpu-*.whl \
				>/dev/null 2>&1; then \
			why="got $$wheels (no +cpu builds: index unreachable?)"; fi; \
		if [ -z "$$why" ] && ! timeout 600 $(BIN)/pip install --quiet "$$dir"/*.whl >"$$log" 2>&1; \
			then why="install failed: $$(grep . "$$log" | tail -n 1)"; fi; \
		if [ -z "$$why" ] && ! $(BIN)/python -c "import torch, torchvision; \
				assert torch.version.cuda is None; \
				torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)" >"$$log" 2>&1; \
			then why="$$wheels do not work together: $$(grep . "$$log" | tail -n 1)"; fi; \
		rm -rf "$$dir"; \
		if [ -z "$$why" ]; then echo "installed $$wheels"; else \
			echo "note: no CPU build of PyTorch, $$why" | cut -c1-300; \
			echo "note: installing the default index's PyTorch (with CUDA: about 6 GB)"; \
			$(BIN)/pip uninstall --quiet --yes torch torchvision >/dev/null 2>&1 || true; \
		fi; \
	fi
	$(BIN)/pip install --quiet -e ".[dev]"
	@$(BIN)/python -c "import torch; print(f'torch {torch.__version__} (CUDA build: {torch.version.cuda or \"none\"})')"
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
