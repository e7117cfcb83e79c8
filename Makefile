# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run serve test lint typecheck unit bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEVSTAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

## run: code the bundled example encounters, then check them (exit 1 from check means "findings", which the
## examples are meant to show; anything else is a failure)
run: $(STAMP)
	$(BIN)/cleanclaim code examples/ --as-of 2026-04-01 || test $$? -eq 1
	$(BIN)/cleanclaim check examples/ --as-of 2026-04-01 || test $$? -eq 1

## serve: the billing workspace at http://127.0.0.1:8000 (SQLite in the data directory unless
## CLEANCLAIM_DATABASE_URL is set; an empty database is migrated and its first admin's sign-in printed once)
serve: $(STAMP)
	$(BIN)/cleanclaim serve --host 127.0.0.1 --port 8000

## test: ruff, mypy --strict on src, and every test
test: $(DEVSTAMP) chromium lint typecheck unit

## chromium: the audit report's browser test drives Debian's chromium (Playwright never downloads a browser here);
## installed with apt-get where it is missing
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser test (apt-get)"; \
	  SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests scripts $(wildcard bench)

typecheck: $(DEVSTAMP)
	$(BIN)/mypy

## unit: every test, spread over TEST_WORKERS processes (pytest-xdist; auto: one per core); each worker has its own
## temp dirs, PostgreSQL databases and session fixtures, and runs whole modules (--dist loadfile), so a module-scoped
## fixture such as the Spark session of tests/audit/test_spark.py is made once, not once per worker
TEST_WORKERS ?= auto
unit: $(DEVSTAMP) chromium
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

## bench: benchmarks on demand (never part of `make test`); claim-validator lives only in .venv-bench
bench: $(STAMP)
	bash bench/run

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
