# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm ci writes this file last: the TypeScript SDK's toolchain is current with its lockfile.
JS_STAMP := sdk/js/node_modules/.package-lock.json

.PHONY: run test test-fast lint format install migrate bench clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: 2.13.0 resolves to the local CPU build; never a CUDA download.
	$(BIN)/pip install --quiet torch==2.13.0
	# quantization: torchao, for the tests of the registry's `quantize` key (tests/generation/test_quantization.py).
	$(BIN)/pip install --quiet -e '.[dev,quantization]'
	touch $(STAMP)

install: $(STAMP) system-deps $(JS_STAMP)

# The TypeScript SDK's devDependencies (tsc, openapi-typescript) from the committed lockfile; node 20+ is required.
$(JS_STAMP): sdk/js/package-lock.json
	cd sdk/js && npm ci --prefer-offline --no-audit --no-fund

# espeak-ng and CJK fonts come from the OS packages (apt, or brew); installed only when missing.
system-deps:
	./scripts/install-system-deps.sh

migrate: install
	$(BIN)/videoapi db upgrade

run: migrate
	$(BIN)/videoapi serve

# Both cores: most tests wait on ffmpeg, servers and sockets. A file's tests stay on one worker
# (`loadfile`), so a module's server or app fixture starts once.
test: install
	$(BIN)/pytest -q -n auto --dist loadfile

# No services, no ffmpeg, nothing slow by design: the quick loop while editing (under a minute on 2 idle cores: 52-57 s for 1,302 tests, pytest's own figure).
# The schemathesis module holds only the slow fuzz run: it is not even imported (hypothesis takes seconds
# per process), and neither are its plugins.
test-fast: $(STAMP)
	$(BIN)/pytest -q -n auto -p no:schemathesis -p no:hypothesispytest -p no:locust \
		--ignore=tests/gateway/test_schemathesis.py \
		-m "not postgres and not redis and not rabbitmq and not ffmpeg and not slow and not node"

# Style, then the import contracts of pyproject.toml's [tool.importlinter] (docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check src tests scripts migrations sdk/python
	$(BIN)/ruff format --check src tests scripts migrations sdk/python
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests scripts migrations sdk/python
	$(BIN)/ruff check --fix src tests scripts migrations sdk/python

bench: $(STAMP)
	$(BIN)/python scripts/bench/trim.py
	$(BIN)/python scripts/bench/composite.py

clean:
	rm -rf $(VENV) var .pytest_cache
