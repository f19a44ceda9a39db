# plinth — every target installs what it needs itself (a .venv here, Debian packages when root).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.plinth-installed
PYTHON ?= python3

.PHONY: demo test lint bench system-deps clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "==> installing plinth and its dev tools into $(VENV)"
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# openssh-server, iperf3, fio, iproute2: the real parts the tests and the audit use.
system-deps:
	@bash scripts/ensure-system-deps.sh

## Main job: audit this machine (an honest verdict: no GPU here fails), then preview a stack offline.
demo: $(STAMP) system-deps
	@$(VENV)/bin/plinth audit --json audit.json || echo "(audit exit code $$? — see the verdict above)"
	@$(VENV)/bin/plinth preview --stack cloud-first --json preview.json || echo "(preview exit code $$? — see the verdict above)"

test: $(STAMP) system-deps
	@$(VENV)/bin/pytest -q

lint: $(STAMP)
	@$(VENV)/bin/ruff check stacks components validators policies tests benchmarks __main__.py
	@$(VENV)/bin/pyright

bench: $(STAMP) system-deps
	@$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache audit.json preview.json
