"""The training budget in reports: runs of several `--epochs` values under one folder give, per epoch count,
each method's paired difference from the reference and a figure of A_T and Ā against epochs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import stats

from reports.__main__ import main
from reports.budget import budget_series
from reports.collect import collect
from tests.test_reports import assert_valid_png, record

# (method, epochs) -> A_T per seed 0, 1, 2 (2 tasks; the first task's row is [A_T + 0.1, 0])
A_T = {
    ("er", 1): [0.70, 0.72, 0.74], ("derpp", 1): [0.60, 0.63, 0.66],  # DER++ - ER: -10, -9, -8 points
    ("er", 4): [0.80, 0.80, 0.83], ("derpp", 4): [0.82, 0.83, 0.84],  # +2, +3, +1
}


def matrix(a_t: float) -> list[list[float]]:
    return [[min(a_t + 0.1, 1.0), 0.0], [a_t, a_t]]


@pytest.fixture
def budget_grid(tmp_path) -> Path:
    for (method, epochs), values in A_T.items():
        for seed, a_t in enumerate(values):
            r = record(method, seed, matrix(a_t), 10.0 * epochs, buffer_size=500)
            r["config"]["epochs"] = epochs
            path = tmp_path / "grid" / f"e{epochs}" / f"{method}-seed{seed}" / "results.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(r))
    # joint has no budget series: it is an upper bound, not paired
    joint = record("joint", 0, [[0.9, 0.9]], 5.0)
    joint["config"]["epochs"] = 1
    (tmp_path / "grid" / "joint").mkdir()
    (tmp_path / "grid" / "joint" / "results.json").write_text(json.dumps(joint))
    return tmp_path / "grid"


def rows_of(markdown: str, heading: str) -> list[list[str]]:
    part = markdown.split(f"### {heading}")[1].split("\n\n", 2)[2]
    return [[c.strip() for c in line.strip("|").split("|")] for line in part.splitlines()[2:] if line.startswith("|")]


def test_each_method_is_paired_with_the_reference_at_the_same_epochs(budget_grid, tmp_path):
    assert main([str(budget_grid), "--out", str(tmp_path / "out")]) == 0
    markdown = (tmp_path / "out" / "report.md").read_text()
    rows = {(r[0], r[1]): r for r in rows_of(markdown, "Training budget")}
    assert set(rows) == {("1", "er"), ("1", "derpp"), ("4", "er"), ("4", "derpp")}
    # Differences -10, -9, -8 at 1 epoch and +2, +3, +1 at 4: std 1 both times, so the interval is mean ± t * 1/sqrt(3).
    half = stats.t.ppf(0.975, 2) / 3**0.5
    p = 2 * stats.t.sf(9.0 * 3**0.5, 2)
    assert rows[("1", "derpp")][2:7] == ["3", "63.0 ± 3.0", "-9.0", f"[{-9 - half:+.1f}, {-9 + half:+.1f}]", f"{p:.3f}"]
    assert rows[("4", "derpp")][3:6] == ["83.0 ± 1.0", "+2.0", f"[{2 - half:+.1f}, {2 + half:+.1f}] n.s."]
    assert rows[("1", "er")][4:7] == ["–", "–", "–"]  # the reference against itself: nothing
    assert (tmp_path / "out" / "figures" / "clinc150-cil-2tasks-budget.png").is_file()
    assert_valid_png(tmp_path / "out" / "figures" / "clinc150-cil-2tasks-budget.png")
    assert "Training budget" in (tmp_path / "out" / "report.html").read_text()


def test_the_figure_gets_the_per_seed_values_of_each_epoch_count(budget_grid):
    (section,) = collect(budget_grid)
    series = budget_series(section)
    assert series["A_T"]["derpp"] == {1: pytest.approx([60.0, 63.0, 66.0]), 4: pytest.approx([82.0, 83.0, 84.0])}
    assert set(series["A_T"]) == {"er", "derpp"}  # joint is not a series


def test_one_epoch_count_gives_no_budget_table(tmp_path):
    for method in ("er", "derpp"):
        r = record(method, 0, matrix(0.7), 10.0)
        r["config"]["epochs"] = 1
        path = tmp_path / "grid" / method / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(r))
    assert main([str(tmp_path / "grid"), "--out", str(tmp_path / "out")]) == 0
    assert "Training budget" not in (tmp_path / "out" / "report.md").read_text()
    (section,) = collect(tmp_path / "grid")
    assert budget_series(section) is None
