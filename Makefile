# Bugbridge: `make run` (demo on http://127.0.0.1:8000) and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint format migrate seed clean

# (Re)install whenever requirements.txt changes.
$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

migrate: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput

seed: migrate
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py seed_demo

# Web + Celery worker + beat, embedded defaults (SQLite in WAL mode, filesystem broker under var/).
run: seed
	DEBUG=$${DEBUG:-true} PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

test: $(STAMP)
	$(BIN)/python -m pytest

# Benchmarks print ratios against a baseline measured in the same run; never part of `make test`.
bench: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks -p no:cacheprovider -s --benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var/broker var/media var/*.sqlite3*
