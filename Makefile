# Coupon strategy lab. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DB ?= data/lab.duckdb
PORT ?= 5006
ADDRESS ?= 127.0.0.1
WORLD_USERS ?= 100000
WORLD_DAYS ?= 28
LAB_PORT ?= 8888

.DEFAULT_GOAL := help
.PHONY: help install dashboard data test lint unit notebooks browser chromium java lab bench clean docs lock

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install: $(VENV)/.installed ## Create .venv and install the locked dependencies and the lab

DASHBOARD_PRESETS ?= default platform_wechat platform_alipay platform_meituan platform_mix denomination_split

# built into a temporary file and renamed, so an interrupted build never leaves half a world
$(DB): | $(VENV)/.installed
	rm -f $(DB).building
	for preset in $(DASHBOARD_PRESETS); do \
		$(PY) -m lab generate --preset $$preset --users $(WORLD_USERS) --days $(WORLD_DAYS) \
			--seed 0 --db $(DB).building || exit 1; \
	done
	mv $(DB).building $(DB)

data: $(DB) ## Build the default worlds (one run per preset) into data/lab.duckdb if missing

dashboard: $(VENV)/.installed $(DB) ## Build the default world if missing and serve the dashboard on http://localhost:5006
	LAB_DB=$(DB) $(PY) dashboards/app.py --address $(ADDRESS) --port $(PORT) --num-procs 2 --warm

# CJK fonts so the 中文 interface renders (and is screenshot) as text, not boxes
chromium: ## Install Debian's chromium and CJK fonts for the browser tests (apt-get, when root)
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=zh | grep -q .; } || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
		else echo "chromium or CJK fonts missing: run 'sudo apt-get install chromium fonts-noto-cjk'" >&2; exit 1; fi; }

# PySpark (the Spark tests of `make unit`) needs a Java 17+ runtime
java: ## Install Debian's Java 17 runtime for the Spark tests (apt-get, when root)
	@command -v java >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
		else echo "java missing: run 'sudo apt-get install openjdk-17-jre-headless'" >&2; exit 1; fi; }

lint: $(VENV)/.installed ## Check style with ruff
	$(VENV)/bin/ruff check lab dashboards tests benchmarks
	$(VENV)/bin/ruff format --check lab dashboards tests benchmarks

unit: $(VENV)/.installed java ## Unit and property-based tests (Spark ones too: -m "not spark" skips them)
	$(PY) -m pytest -m "not browser" -q

notebooks: $(VENV)/.installed java ## Execute every notebook with nbval (strict) and compare outputs
	$(PY) -m pytest --nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg -q -p no:cacheprovider

browser: $(VENV)/.installed chromium ## Browser tests of the served dashboard (Playwright + chromium)
	$(PY) -m pytest -m browser -q

test: lint unit notebooks browser ## Everything CI checks: ruff, unit + property tests, nbval, browser tests

# --allow-root only for root (containers): Jupyter refuses root without it
lab: $(VENV)/.installed ## Serve JupyterLab on the notebooks and print its URL (LAB_PORT=8888)
	@echo "JupyterLab on the notebooks: open the http://$(ADDRESS):$(LAB_PORT)/lab?token=... URL printed below"
	$(VENV)/bin/jupyter lab --ip=$(ADDRESS) --port=$(LAB_PORT) --no-browser \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/

bench: $(VENV)/.installed ## Run the benchmarks; figures go to benchmarks/results/*.json
	@for f in benchmarks/bench_*.py; do m=$$(basename $$f .py); echo "== $$m"; $(PY) -m benchmarks.$$m || exit 1; done

clean: ## Remove the virtualenv and generated data (keeps committed samples)
	rm -rf $(VENV) $(DB) data/scratch benchmarks/scratch

docs: $(VENV)/.installed ## Regenerate the tables under docs/ and README's headline figures
	$(PY) docs/update_docs.py

lock: $(VENV)/.installed ## Re-resolve requirements.lock from pyproject.toml (uses uv from PyPI)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock
