"""A researcher's own method runs without editing the suite: the worked example of docs/adding-a-method.md,
copied to a folder outside the package, as a file (`--methods l2.py`) and as an installed package's
entry point (`clbench.methods`)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import run_benchmark
from benchmarks import method_registry
from benchmarks.cli import build_parser
from tests.small_stream import write_small_clinc_csv

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-a-method.md"
EXAMPLE = re.search(r"<!-- example: l2.py -->\n```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory) -> Path:
    return write_small_clinc_csv(tmp_path_factory.mktemp("data") / "small.csv", num_classes=6, per_class_train=12)


@pytest.fixture
def l2_file(tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "l2.py"
    path.parent.mkdir()
    path.write_text(EXAMPLE, encoding="utf-8")
    return path


def grid(csv_path: Path, output: Path, *methods: str, extra=()) -> list[str]:
    return ["--methods", *methods, "--benchmark", str(csv_path), "--tasks", "3", "--backbone", "tiny-bert",
            "--lr", "1e-3", "--head-lr", "1e-2", "--batch-size", "8", "--wandb", "disabled", "--output", str(output),
            *extra]


def results(output: Path, label: str) -> dict:
    return json.loads((output / f"small-cil-{label}-seed0" / "results.json").read_text())


def test_the_example_is_about_30_lines():
    assert 25 <= len(EXAMPLE.strip().splitlines()) <= 40


def test_a_file_method_runs_end_to_end_beside_a_suite_method_and_resumes_exactly(csv_path, l2_file, tmp_path):
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    weight = ["--l2-weight", "5"]
    assert run_benchmark.main(grid(csv_path, whole, str(l2_file), "finetune", extra=weight)) == 0
    l2, finetune = results(whole, "l2"), results(whole, "finetune")
    assert l2["status"] == "finished" and l2["config"]["method"] == "l2"
    assert l2["config"]["method_source"] == str(l2_file) and l2["config"]["hp"] == {"l2_weight": 5.0}
    assert l2["accuracy_matrix"] != finetune["accuracy_matrix"]  # the penalty changed the training
    assert "| l2 |" in (whole / "report.md").read_text(encoding="utf-8")

    assert run_benchmark.main(grid(csv_path, interrupted, str(l2_file), extra=[*weight, "--stop-after-task", "1"])) == 0
    assert results(interrupted, "l2")["status"] == "stopped"
    assert run_benchmark.main(grid(csv_path, interrupted, str(l2_file), extra=[*weight, "--resume"])) == 0
    assert results(interrupted, "l2")["accuracy_matrix"] == l2["accuracy_matrix"]


def test_help_shows_the_file_methods_options_with_their_defaults(l2_file):
    text = " ".join(build_parser(files=[str(l2_file)]).format_help().split())
    assert "l2: L2, CE(new)" in text and re.search(r"--l2-weight [^-]*weight of the L2 penalty \(default: 0\.01\)", text)
    assert "--l2-weight" not in build_parser().format_help()


@pytest.fixture
def installed_package(tmp_path, monkeypatch):
    """The example as an installed distribution that declares it under the `clbench.methods` entry points."""
    site = tmp_path / "site"
    (site / "l2_method").mkdir(parents=True)
    (site / "l2_method" / "__init__.py").write_text(EXAMPLE, encoding="utf-8")
    info = site / "l2_method-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: l2-method\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[clbench.methods]\nl2 = l2_method:METHOD\n")
    monkeypatch.syspath_prepend(str(site))
    method_registry.suite_methods.cache_clear()
    yield
    monkeypatch.undo()
    method_registry.suite_methods.cache_clear()
    sys.modules.pop("l2_method", None)


def test_an_installed_packages_method_is_named_like_the_suites(installed_package, csv_path, tmp_path):
    assert list(method_registry.suite_methods())[-1] == "l2"
    assert run_benchmark.main(grid(csv_path, tmp_path, "l2", extra=["--l2-weight", "0.5"])) == 0
    record = results(tmp_path, "l2")
    assert record["config"]["method_source"] is None and record["config"]["hp"] == {"l2_weight": 0.5}


@pytest.mark.parametrize("content, message", [
    (None, "--methods {path}: no such file"),
    ("x = 1\n", "--methods {path}: the file declares no METHOD (see docs/adding-a-method.md)"),
    ("import no_such_module\n", "--methods {path}: the file fails to import: ModuleNotFoundError: No module named"),
    ("from methods.er import METHOD\n", "--methods {path} declares method 'er', which the suite already has"),
])
def test_a_bad_method_file_is_one_error_line(content, message, tmp_path, capsys):
    path = tmp_path / "mine.py"
    if content is not None:
        path.write_text(content)
    assert run_benchmark.main(["--methods", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {message.format(path=path)}"), err
    assert not (tmp_path / "out").exists()
