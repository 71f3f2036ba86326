# One command each: `make demo`, `make test`, `make dev`. Each builds .venv from the pinned
# requirements the first time (and again whenever requirements.txt or pyproject.toml change).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
SUPERSET_VENV := .venv-superset
SUPERSET_STAMP := $(SUPERSET_VENV)/.installed

.PHONY: demo test test-fast check system-packages dev serve docs dashboards bench mutants lock clean

$(STAMP): requirements.txt requirements-shell.txt pyproject.toml
	@PYTHON=$(PYTHON) sh scripts/system-packages venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --upgrade --target $(VENV)/duckdb-extensions -r requirements-shell.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vod-stickers demo

# What the tests and checks add to the demo's environment: pytest and its plugins, the SeaweedFS server,
# chromium's driver, Spark, ruff, mypy, and the celery extra (the Celery test's workers).
$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $(TEST_STAMP)

# CI's command: the checks, then the whole suite, its files spread over both cores (pytest-xdist).
test: $(TEST_STAMP) $(SUPERSET_STAMP) system-packages
	$(MAKE) --no-print-directory check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

TEST_WORKERS ?= 4  # the tests wait on servers and child processes more than they compute: 4 on 2 cores

# The tests that need no server, browser, Spark or Dagster instance (docs/testing.md), in seconds.
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not (server or dagster or browser)"

# Lint and format (ruff) over the repository, types (mypy) over pipeline/, and which package imports which
# (lint-imports: the product's layers, no circles, the local VOD service apart; pyproject.toml lists them).
check: $(TEST_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Debian's chromium, openssl and a Java runtime for the report, TLS and Spark tests: installed when missing
# (as root or with sudo), or a one-line message saying what to run.
system-packages:
	@sh scripts/system-packages test

dev: $(STAMP)
	$(BIN)/vod-stickers dev

serve: $(STAMP)
	$(BIN)/vod-stickers serve

# Superset, in an environment of its own (it pins pandas 2.1, pyarrow 18 and SQLAlchemy 1.4), for the VOD
# stickers dashboard: `make dashboards` serves it over the demo's data (make demo) or PIPELINE_DATA_DIR on
# 127.0.0.1:8088 and prints the login; the dashboard's browser test (make test) uses it too.
$(SUPERSET_STAMP): deploy/superset/requirements.txt
	@PYTHON=$(PYTHON) sh scripts/system-packages venv
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r deploy/superset/requirements.txt
	touch $(SUPERSET_STAMP)

dashboards: $(SUPERSET_STAMP)
	$(SUPERSET_VENV)/bin/python deploy/superset/start.py

# docs/analysts.md, rebuilt from a fresh two-day warehouse of the demo catalog, and docs/configuration.md
# from the declaration of the variables (pipeline/variables.py).
docs: $(STAMP)
	$(BIN)/python -m docs.build
	$(BIN)/python -m docs.configuration

# Benchmarks against the local VOD service; writes docs/benchmarks.md. BENCH_ARGS=--quick for small sizes.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(TEST_STAMP) requirements-bench.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# Mutation testing of the checks, the rate limiter, the error table and the typing rules with their fast
# tests ([tool.mutmut] in pyproject.toml); one child process, results under mutants/ (docs/testing.md).
MUTATION_STAMP := $(VENV)/.installed-mutation

$(MUTATION_STAMP): $(TEST_STAMP) requirements-mutation.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-mutation.txt
	touch $(MUTATION_STAMP)

mutants: $(MUTATION_STAMP)
	$(BIN)/mutmut run --max-children 1 $(MUTANTS)
	$(BIN)/mutmut results

# Re-resolve the pins after changing dependencies in pyproject.toml.
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -o requirements.txt
	$(BIN)/uv pip compile pyproject.toml --extra test --extra celery --python-version 3.11 -c requirements.txt -o requirements-test.txt
	$(BIN)/uv pip compile pyproject.toml --extra test --extra celery --extra bench --python-version 3.11 -c requirements-test.txt -o requirements-bench.txt
	$(BIN)/uv pip compile pyproject.toml --extra test --extra celery --extra mutation --python-version 3.11 -c requirements-test.txt -o requirements-mutation.txt
	$(BIN)/uv pip compile requirements-shell.in --no-deps --python-version 3.11 -o requirements-shell.txt
	$(BIN)/uv pip compile pyproject.toml --extra celery --python-version 3.11 -c requirements.txt -o requirements-celery.txt
	$(BIN)/uv pip compile pyproject.toml --extra k8s --python-version 3.11 -c requirements.txt -o requirements-k8s.txt
	$(BIN)/uv pip compile deploy/superset/requirements.in --python-version 3.11 -o deploy/superset/requirements.txt

clean:
	rm -rf $(VENV) $(SUPERSET_VENV)
