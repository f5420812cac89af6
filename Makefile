# Ranksmith. `make serve` and `make test` do all set-up themselves: system
# packages (apt), model files (scripts/fetch-models), the release build.
SWIFT ?= swift
BIN := .build/release/ranksmith
PYTHON ?= python3

.PHONY: all deps models build serve test bench clean

all: build

deps:
	scripts/install-deps

models:
	scripts/fetch-models

build: deps
	$(SWIFT) build -c release --product ranksmith

serve: build models
	$(BIN) serve

test: deps models
	scripts/check-data
	scripts/install-test-deps
	$(SWIFT) build -c release --product ranksmith
	$(SWIFT) test -c release
	RANKSMITH_STRICT_SKIPS=1 .venv-test/bin/python -m pytest -q tests/e2e

bench: build models
	bench/run-all

clean:
	rm -rf .build var
