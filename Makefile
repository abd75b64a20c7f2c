# Aleph Studio: `make run` starts the studio, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test browser migrate clean

$(UV):
	$(PYTHON) -m pip install --user --quiet uv

install: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

migrate: install
	$(PY) manage.py migrate --no-input

run: migrate
	DEBUG=1 $(PY) manage.py run_studio --host $(HOST) --port $(PORT)

# Headless Chromium for the end-to-end test: Debian's package, never a downloaded browser.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

test: install browser
	$(PY) -m pytest

clean:
	rm -rf $(VENV) var .pytest_cache

.PHONY: bench-pages
bench-pages: install
	$(PY) bench/pages.py

# Engine benchmark against Debian's ffmpeg (installed here for the comparison only, not at run time).
.PHONY: bench-engine
bench-engine: install
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "Installing Debian's ffmpeg for the engine benchmark"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq ffmpeg >/dev/null; fi; }
	$(PY) bench/engine.py

# SHA-256 of every engine bench case's output, to show that a change leaves the outputs byte-identical.
.PHONY: bench-fingerprints
bench-fingerprints: install
	@$(PY) bench/fingerprints.py
