"""Grids of settings in one invocation: several values per flag, grid files, runs named by what differs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import run_benchmark
from benchmarks.data.stream import split_classes
from benchmarks.engine.plan import run_configs
from reports.collect import collect
from tests.small_stream import write_small_clinc_csv

TINY = ["--backbone", "tiny-bert", "--tasks", "2", "--wandb", "disabled", "--lr", "1e-3", "--head-lr", "1e-2",
        "--buffer-size", "20", "--batch-size", "16"]


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    return write_small_clinc_csv(tmp_path_factory.mktemp("grid") / "small.csv", num_classes=4, per_class_train=12)


def configs(*argv: str):
    """The run configs of an invocation, without running it."""
    request = run_benchmark.parse_args(list(argv))
    stream = SimpleNamespace(spec=SimpleNamespace(name="b"), task_split=split_classes(list("abcd"), 2), max_length=24,
                             val_fraction=None)
    return run_configs(request, stream, "cpu", None)


def test_a_2x2_value_grid_runs_4_distinct_settings_and_reports_4(csv_path, tmp_path):
    out = tmp_path / "out"
    code = run_benchmark.main([*TINY, "--benchmark", str(csv_path), "--methods", "derpp", "--alpha", "0.1", "0.5",
                               "--beta", "0.5", "1", "--output", str(out)])
    assert code == 0
    records = [json.loads(p.read_text()) for p in sorted(out.rglob("results.json"))]
    names = sorted(p.parent.name for p in out.rglob("results.json"))
    assert names == ["small-cil-derpp-alpha0.1-beta0.5-seed0", "small-cil-derpp-alpha0.1-beta1.0-seed0",
                     "small-cil-derpp-alpha0.5-beta0.5-seed0", "small-cil-derpp-alpha0.5-beta1.0-seed0"]
    settings = {(r["config"]["hp"]["alpha"], r["config"]["hp"]["beta"]) for r in records}
    assert settings == {(0.1, 0.5), (0.1, 1.0), (0.5, 0.5), (0.5, 1.0)}
    (section,) = collect(out)
    assert len(section.methods) == 4
    assert {m.label for m in section.methods} == {
        f"derpp (hp.alpha={a}, hp.beta={b})" for a in (0.1, 0.5) for b in (0.5, 1.0)
    }


def test_values_apply_only_to_the_methods_that_use_them():
    runs = configs("--methods", "er", "derpp", "--beta", "0.5", "1", "--lr", "1e-5", "2e-5")
    er = [c for c in runs if c.method == "er"]
    derpp = [c for c in runs if c.method == "derpp"]
    assert [c.run_name for c in er] == ["b-cil-er-lr1e-05-seed0", "b-cil-er-lr2e-05-seed0"]
    assert len(derpp) == 4 and len({c.run_name for c in derpp}) == 4
    assert all("beta" not in c.hp for c in er)


def test_one_value_per_flag_keeps_the_names_results_were_filed_under():
    (config,) = configs("--methods", "derpp", "--beta", "1")
    assert config.run_name == "b-cil-derpp-seed0" and config.variant == "" and config.hp["beta"] == 1.0


def test_the_same_run_asked_for_twice_runs_once():
    runs = configs("--methods", "er", "er", "--seeds", "0", "0", "1", "--scenario", "cil", "cil")
    assert [c.run_name for c in runs] == ["b-cil-er-seed0", "b-cil-er-seed1"]


def test_logit_sources_are_labels_not_variants():
    runs = configs("--methods", "derpp", "--derpp-logits", "stored", "teacher")
    assert [c.run_name for c in runs] == ["b-cil-derpp-seed0", "b-cil-derpp-teacher-seed0"]


def test_a_grid_file_gives_each_method_its_own_values(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("derpp:\n  alpha: [0.1, 0.5]\n  lr: 1e-5\ner:\n  lr: [1e-5, 2e-5]\n")  # 1e-5: a string to YAML
    args = ["--methods", "er", "derpp", "--alpha", "0.3", "--grid", str(grid)]
    runs = configs(*args)
    assert sorted((c.method, c.lr, c.hp.get("alpha")) for c in runs) == [
        ("derpp", 1e-05, 0.1), ("derpp", 1e-05, 0.5), ("er", 1e-05, None), ("er", 2e-05, None)
    ]


GRID_ERRORS = {
    "not yaml": ("derpp: [0.1\n", "is not YAML (line 2)"),
    "not a mapping": ("- 0.1\n", "must map method names to their values"),
    "unknown method": ("dercc: {alpha: [0.1]}\n", "names method 'dercc', which --methods does not run"),
    "unknown hyper-parameter": ("er: {beta: [1]}\n", "er has no hyper-parameter 'beta' (it has lr, head_lr, epochs"),
    "wrong type": ("derpp: {buffer_size: [ten]}\n", "--buffer-size must be an integer, got 'ten'"),
    "out of range": ("derpp: {alpha: [-1]}\n", "--alpha must not be negative, got -1.0"),
    "empty list": ("derpp: {alpha: []}\n", "derpp.alpha is an empty list"),
}


@pytest.mark.parametrize("case", list(GRID_ERRORS))
def test_a_bad_grid_file_is_one_error_line_and_nothing_is_written(case, csv_path, tmp_path, capsys):
    content, message = GRID_ERRORS[case]
    grid = tmp_path / "grid.yaml"
    grid.write_text(content)
    out = tmp_path / "out"
    code = run_benchmark.main([*TINY, "--benchmark", str(csv_path), "--methods", "er", "derpp", "--grid", str(grid),
                               "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()
