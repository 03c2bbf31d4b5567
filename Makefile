# Two commands do all the set-up on a fresh machine:
#   make demo   the whole story on the embedded sandbox account (no AWS credentials)
#   make test   the test suite (installs what it needs: Python packages, Debian packages)
# and, while developing, `make test-fast`: the unit tier alone (pure: no subprocess, no root).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint bench clean terraform-user-data record-plans

demo: $(VENV)/.sandbox
	$(BIN)/eniplan demo

test: $(VENV)/.dev
	./scripts/install-system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.dev  # tests/unit: no subprocess, no network, no root
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_collect.py
	$(BIN)/python benchmarks/bench_org.py
	$(BIN)/python benchmarks/bench_audit.py
	$(BIN)/python benchmarks/bench_checkplan.py
	$(BIN)/python benchmarks/bench_iproute2.py  # root: network namespaces
	$(BIN)/python benchmarks/bench_agent.py  # root: network namespaces

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.sandbox: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[sandbox]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.sandbox

terraform-user-data: $(VENV)/.sandbox  # the Terraform module's copy of the dynamic user data
	./scripts/render-terraform-user-data $(BIN)/python

record-plans: $(VENV)/.dev  # real Terraform plans for the tests: tests/fixtures/plans
	./scripts/record-plans

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
