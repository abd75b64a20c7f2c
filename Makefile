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

# The whole suite on SQLite (with the tests that start Redis, nginx and an S3 server), again on a
# throwaway PostgreSQL cluster (the engines' own tests touch no database and run once), then Django's
# deployment checks with the production environment docs/deploy.md documents.
test: install browser
	$(PY) -m pytest
	$(PY) -m tests.servers postgres -- $(PY) -m pytest -p no:cacheprovider --ignore=tests/engines -m "not servers"
	$(MAKE) --no-print-directory check-deploy

.PHONY: check-deploy
check-deploy: install
	DEBUG=0 SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  ALEPH_PUBLIC_URL=https://studio.example.com ALEPH_TRUSTED_PROXY_COUNT=1 ALEPH_MEDIA_DELIVERY=x-accel \
	  ALEPH_DATA_DIR="$$(mktemp -d)" $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var .pytest_cache

.PHONY: bench-pages
bench-pages: install
	$(PY) bench/pages.py

# One worker running a batch of 16 local edits, next to one running a single edit: its peak memory.
.PHONY: bench-batch
bench-batch: install
	$(PY) bench/batch_memory.py

# 50 clients polling status partials under gunicorn, next to a bare view, on PostgreSQL and Redis.
.PHONY: bench-load
bench-load: install
	$(PY) -m tests.servers postgres redis -- $(PY) bench/load.py

# Debian's ffmpeg for the benchmarks (the comparison and the 30 s clip only, never at run time).
.PHONY: ffmpeg
ffmpeg:
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "Installing Debian's ffmpeg for the benchmarks"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq ffmpeg >/dev/null; fi; }

# Engine benchmark against the ffmpeg command line.
.PHONY: bench-engine
bench-engine: install ffmpeg
	$(PY) bench/engine.py

# People edits, styles and the preview on one frame; what the reframe's subject track costs.
.PHONY: bench-people
bench-people: install ffmpeg
	$(PY) bench/people.py

# SHA-256 of every engine bench case's output, to show that a change leaves the outputs byte-identical.
.PHONY: bench-fingerprints
bench-fingerprints: install
	@$(PY) bench/fingerprints.py
