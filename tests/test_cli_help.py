"""`--help` teaches: every option in a group with its default, the real defaults, and docs/cli.md's copy is live."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import fields

import run_benchmark
from benchmarks import cli_reference
from benchmarks.results import RunConfig
from benchmarks.method_registry import option_defaults
from benchmarks.settings import names

HELP = run_benchmark.build_parser().format_help()
OPTIONS = [a for a in run_benchmark.build_parser()._actions if not isinstance(a, argparse._HelpAction)]
# A training or method flag's argparse default is None (not given: the grid file's, else this default).
REAL_DEFAULTS = {name: {**{f.name: f.default for f in fields(RunConfig)}, **option_defaults()}[name] for name in names()}


def shown_default(action) -> str:
    """The text after `(default: ` in the option's entry of the rendered help (wrapped lines joined)."""
    flag = action.option_strings[0]
    entry = re.search(rf"^  {re.escape(flag)}\b(.*?)(?=^  -|^\S|\Z)", HELP, re.S | re.M)
    assert entry, f"{flag} is missing from --help"
    text = " ".join(entry.group(1).split())
    assert "(default: " in text, f"{flag} shows no default: {text}"
    return text.rsplit("(default: ", 1)[1].rstrip(")")


def test_every_option_shows_its_default():
    assert len(OPTIONS) > 40
    for action in OPTIONS:
        shown = shown_default(action)
        if action.default not in (None, False):
            expected = " ".join(map(str, action.default)) if isinstance(action.default, list) else str(action.default)
            assert shown == expected, action.option_strings
        elif action.dest in REAL_DEFAULTS and REAL_DEFAULTS[action.dest] is not None:
            real = REAL_DEFAULTS[action.dest]
            real = ("yes" if real else "no") if isinstance(real, bool) else str(real)  # a switch reads yes | no
            assert shown.split(";")[0] == real, action.option_strings


def test_defaults_shown_are_the_ones_runs_use():
    assert shown_default(next(a for a in OPTIONS if a.dest == "alpha")) == "0.2"
    assert shown_default(next(a for a in OPTIONS if a.dest == "buffer_size")) == "500"
    assert shown_default(next(a for a in OPTIONS if a.dest == "lr")) == "2e-05"
    assert shown_default(next(a for a in OPTIONS if a.dest == "eval_batch_size")) == str(RunConfig.eval_batch_size)


def test_groups_and_method_options_under_their_method():
    titles = [g.title for g in run_benchmark.build_parser()._action_groups]
    for title in ("data", "model", "methods", "training", "grid & resume", "logging", "hardware"):
        assert any(t.startswith(title) for t in titles), title
    group_of = {a.dest: g.title for g in run_benchmark.build_parser()._action_groups for a in g._group_actions}
    assert group_of["alpha"].startswith("derpp") and group_of["beta"].startswith("derpp")
    assert group_of["lwf_temperature"].startswith("lwf") and group_of["buffer_size"].startswith("er, derpp")
    assert "examples:" in HELP and "exit codes:" in HELP


def test_docs_reference_is_the_live_help():
    page = cli_reference.DOC.read_text(encoding="utf-8")
    assert cli_reference.doc_block(page) == cli_reference.block(), "run `make cli-reference`"
    assert cli_reference.START not in (cli_reference.ROOT / "README.md").read_text(encoding="utf-8")


def test_help_answers_without_the_heavy_imports():
    """--help exits 0 and imports neither torch nor avalanche (it used to take ~10 s)."""
    code = "import sys, run_benchmark\ntry:\n    run_benchmark.main(['--help'])\nexcept SystemExit as e:\n" \
           "    assert e.code == 0\nassert 'torch' not in sys.modules and 'avalanche' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], cwd=cli_reference.ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == HELP


def test_console_script_is_run_benchmark_main():
    """`clbench` (pyproject's [project.scripts]) runs what `python run_benchmark.py` runs."""
    import tomllib
    from importlib.metadata import EntryPoint

    scripts = tomllib.loads((cli_reference.ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert EntryPoint("clbench", scripts["clbench"], "console_scripts").load() is run_benchmark.main
