# Aliases for the commands CI and the README use. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test test-fast services chromium lint bench clean

install: $(VENV)/.installed

# torch first, from the local CPU build (any other spec downloads a multi-GB CUDA build), then
# everything else under a constraint that pins it.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	echo "torch==2.13.0" > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -c $(VENV)/constraints.txt -e '.[train,dev]'
	touch $@

demo: install
	$(BIN)/triage demo

services:
	@bash scripts/services.sh

# The review page's browser tests drive Debian's chromium; installed once, when missing (needs root).
chromium:
	@bash scripts/chromium.sh

test: install services chromium
	$(BIN)/python -m pytest

test-fast: install chromium
	$(BIN)/python -m pytest -m "not services"

lint: install
	$(BIN)/ruff check service integrations training tests bench

bench: install services
	$(BIN)/python bench/intake.py

clean:
	rm -rf $(VENV) var
