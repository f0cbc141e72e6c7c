# GPT Desk developer entry points. `make run` starts the server, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	@PYTHON=$(PYTHON) VENV=$(VENV) sh scripts/bootstrap.sh
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/gptdesk serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
