# Every target creates or reuses .venv and installs the project into it, so a fresh clone
# needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test stack-up stack-down worker bench lint

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/caseflow dev up --with-worker
	$(BIN)/caseflow demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

stack-up: $(STAMP)
	$(BIN)/caseflow dev up

stack-down: $(STAMP)
	$(BIN)/caseflow dev down

worker: $(STAMP)
	$(BIN)/caseflow worker

bench: $(STAMP)
	$(BIN)/python -m bench.documents

lint: $(STAMP)
	$(BIN)/ruff check .
