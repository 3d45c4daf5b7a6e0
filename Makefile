# The two commands: `make run` serves the instance, `make test` runs lint and the whole suite.
# Each sets up what it needs first (virtualenv, npm packages; for tests Chromium and services).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SHARED := $(CURDIR)/../shared

.PHONY: run test lint setup setup-dev chromium coturn services bench spy-bench clean

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py create_demo_content
	$(PY) manage.py build_hls
	$(PY) manage.py ensure_admin
	$(PY) manage.py serve

test: setup-dev chromium coturn services
	$(MAKE) lint
	$(PY) -m pytest

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

setup: $(VENV)/.installed node_modules/.installed
setup-dev: setup $(VENV)/.installed-dev

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# --ignore-scripts: a preinstall hook of a webtorrent dependency refuses npm (interop-notes).
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# Browser tests drive Debian's Chromium; never a browser downloaded by a test tool.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

# The instance's STUN server (Debian's coturn), and nft for the tests' NATs in network namespaces.
# `make run` needs neither: without turnserver it serves with P2P limited to one network.
coturn:
	@test -x /usr/bin/turnserver -a -x /usr/sbin/nft || { apt-get update -qq && apt-get install -y -qq coturn nftables; }

services:
	@if [ -x "$(SHARED)/services-up.sh" ] || [ -f "$(SHARED)/services-up.sh" ]; then \
		bash "$(SHARED)/services-up.sh"; \
	else echo "no $(SHARED)/services-up.sh: using the services as they are"; fi

# Benchmarks are measurements, not tests: each prints its tables (README, "Benchmark").
# bench: peerveil against PeerTube's tracker, then 1 process in memory against 1 and 2 on Redis.
bench: setup-dev
	$(PY) bench/tracker_bench.py
	$(PY) bench/redis_bench.py

spy-bench: setup-dev
	$(PY) bench/spy_bench.py

clean:
	rm -rf $(VENV) node_modules var
