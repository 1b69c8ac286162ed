# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch (an unpinned torch pulls a CUDA build of several GB).
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: setup browser node lint demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)" -e ".[transformers,test]"
	touch $@

# Debian's Chromium drives the panel's browser tests (playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Node runs the panel's unit tests (tests/js, `node --test`) and, with npm, its linters; Debian's
# nodejs and npm where they are missing.
node:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }

# Lint and format checks (ruff for Python, eslint + prettier for the panel's JS; dev tools only).
lint: setup node
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent lint

demo: setup
	$(PY) -m demo $(DEMO_ARGS)

test: setup browser node lint
	node --test tests/js/
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: setup browser
	$(PY) bench/write.py
	$(PY) bench/render.py
	$(PY) bench/many_steps.py
	$(PY) bench/serving.py
	$(PY) bench/compression.py
	$(PY) bench/write_llm.py

clean:
	rm -rf $(VENV) build dist *.egg-info
