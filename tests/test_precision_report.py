"""The precision table in reports: runs of one method at fp32 and bf16 under one folder give, per method, the
paired A_T difference from its own fp32 runs and the training time relative to them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import stats

from reports.__main__ import main
from tests.test_budget_report import matrix, rows_of
from tests.test_reports import record

# (method, precision) -> (A_T, training seconds) per seed 0, 1, 2
RUNS = {
    ("er", "fp32"): [(0.70, 100.0), (0.72, 110.0), (0.74, 90.0)],
    ("er", "bf16"): [(0.71, 50.0), (0.71, 60.0), (0.76, 40.0)],  # +1, -1, +2 points; 150 s against 300 s
    ("derpp", "fp32"): [(0.60, 200.0), (0.63, 200.0), (0.66, 200.0)],
    ("derpp", "bf16"): [(0.50, 100.0), (0.52, 100.0), (0.57, 100.0)],  # -10, -11, -9 points
}


def write_grid(folder: Path, runs: dict) -> Path:
    for (method, precision), values in runs.items():
        for seed, (a_t, seconds) in enumerate(values):
            r = record(method, seed, matrix(a_t), seconds, buffer_size=500)
            r["config"]["precision"] = precision
            path = folder / precision / f"{method}-seed{seed}" / "results.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(r))
    return folder


def test_each_method_is_paired_with_itself_at_fp32(tmp_path):
    grid = write_grid(tmp_path / "grid", RUNS)
    assert main([str(grid), "--out", str(tmp_path / "out"), "--reference", "er (precision=fp32)"]) == 0
    markdown = (tmp_path / "out" / "report.md").read_text()
    rows = {(r[0], r[1]): r for r in rows_of(markdown, "Precision")}
    assert set(rows) == {("er", "fp32"), ("er", "bf16"), ("derpp", "fp32"), ("derpp", "bf16")}
    # ER: differences +1, -1, +2 (mean 0.67, std 1.53): the interval holds 0.
    d = [1.0, -1.0, 2.0]
    test = stats.ttest_1samp(d, 0.0)
    low, high = test.confidence_interval(0.95)
    assert rows[("er", "bf16")][2:9] == ["3", "72.7 ± 2.9", "+0.67", f"[{low:+.2f}, {high:+.2f}] n.s.",
                                         f"{test.pvalue:.3f}", "50.0 ± 10.0", "0.50"]
    # DER++: -10, -11, -9: std 1, so the interval is -10 ± t / sqrt(3), and it excludes 0.
    half = stats.t.ppf(0.975, 2) / 3**0.5
    assert rows[("derpp", "bf16")][4:6] == ["-10.00", f"[{-10 - half:+.2f}, {-10 + half:+.2f}]"]
    assert rows[("derpp", "bf16")][8] == "0.50"
    assert rows[("er", "fp32")][4:9:4] == ["–", "–"]  # fp32 against itself: nothing
    assert "<h3>Precision</h3>" in (tmp_path / "out" / "report.html").read_text()


def test_a_missing_seed_is_left_out_of_the_pairing_and_of_the_time_ratio(tmp_path):
    runs = {("er", "fp32"): RUNS[("er", "fp32")], ("er", "bf16"): RUNS[("er", "bf16")][:2]}
    grid = write_grid(tmp_path / "grid", runs)
    assert main([str(grid), "--out", str(tmp_path / "out"), "--reference", "er (precision=fp32)"]) == 0
    row = {(r[0], r[1]): r for r in rows_of((tmp_path / "out" / "report.md").read_text(), "Precision")}[("er", "bf16")]
    assert row[2] == "2" and row[4] == "+0.00"  # seeds 0 and 1: +1 and -1
    assert row[8] == f"{110 / 210:.2f}"  # (50 + 60) / (100 + 110): seed 2's fp32 run has no partner


@pytest.mark.parametrize("precisions", [("fp32",), ("bf16",)])
def test_one_precision_gives_no_precision_table(tmp_path, precisions):
    grid = write_grid(tmp_path / "grid", {("er", p): RUNS[("er", p)] for p in precisions})
    assert main([str(grid), "--out", str(tmp_path / "out")]) == 0
    assert "### Precision" not in (tmp_path / "out" / "report.md").read_text()


def test_a_difference_that_rounds_to_zero_has_no_minus_sign():
    from reports.render import paired_cells
    from reports.statistics import Paired

    assert paired_cells(Paired(3, -0.001, -0.05, 0.004, 0.9), digits=2) == ["+0.00", "[-0.05, +0.00] n.s.", "0.900"]
    assert paired_cells(Paired(1, -0.04, None, None, None)) == ["+0.0", "1 shared seed: no interval", "–"]
