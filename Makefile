# The README's two set-up commands are `make run` and `make test`; everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?= serve

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installed once, again only when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

## run: set up certdesk and run it: the portal, API and scheduler (or ARGS="inspect my.pfx ...")
run: $(VENV)/.installed-run
	$(BIN)/certdesk $(ARGS)

## test: set up everything the tests need, then lint, type-check and run the whole suite
test: $(VENV)/.installed-test
	scripts/test-system-deps
	$(MAKE) --no-print-directory lint typecheck pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: run the benchmarks (they print figures; they are not tests)
bench: $(VENV)/.installed-test
	scripts/test-system-deps scripts/debian-packages-bench.txt
	$(BIN)/python bench/bench_inspect.py
	$(BIN)/python bench/bench_hostile.py
	$(BIN)/python bench/bench_desk.py --count 1000 --key ec
	$(BIN)/python bench/bench_reports.py
	$(BIN)/python bench/bench_probe.py
	$(BIN)/python bench/bench_sweep.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_stall.py
	$(BIN)/python bench/bench_acme.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
