# One command each: `make demo`, `make test`, `make dev`. Each builds .venv from the pinned
# requirements the first time (and again whenever requirements.txt or pyproject.toml change).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test dev serve docs bench lock clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vod-stickers demo

test: $(STAMP)
	$(BIN)/python -m pytest

dev: $(STAMP)
	$(BIN)/vod-stickers dev

serve: $(STAMP)
	$(BIN)/vod-stickers serve

# docs/analysts.md, rebuilt from a fresh two-day warehouse of the demo catalog.
docs: $(STAMP)
	$(BIN)/python -m pipeline.docs

# Benchmarks against the local VOD service; writes docs/benchmarks.md. BENCH_ARGS=--quick for small sizes.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# Re-resolve the pins after changing dependencies in pyproject.toml.
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 -o requirements.txt
	$(BIN)/uv pip compile pyproject.toml --extra test --extra bench --python-version 3.11 -c requirements.txt -o requirements-bench.txt

clean:
	rm -rf $(VENV)
