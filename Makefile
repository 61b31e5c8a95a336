# newsarchive — the targets a newcomer can guess.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,scale]'
	# Bytecode for our modules: with PYTHONDONTWRITEBYTECODE set (as on the dev machine) every
	# crawl, worker and CLI process would compile them from source again (up to ~70 ms CPU).
	$(BIN)/python -m compileall -q crawlers extraction flows storage
	touch $(STAMP)

demo: install
	$(BIN)/newsarchive demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) archive .pytest_cache .mypy_cache .ruff_cache
