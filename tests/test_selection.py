"""--select-on val: Ray Tune trials on the validation split, the best one chosen, then run on test."""

from __future__ import annotations

import json

import pytest

import run_benchmark
from benchmarks.engine.selection import draw, partial_score
from tests.small_stream import DATA_DIR

FAST = ["--backbone", "tiny-bert", "--wandb", "disabled", "--benchmark", "clinc150", "--data-dir", str(DATA_DIR),
        "--tasks", "3", "--limit-per-class", "10"]


def test_partial_scores_are_the_criteria_over_the_tasks_so_far():
    R = [[0.9, 0.0, 0.0], [0.5, 0.8, 0.0]]
    assert partial_score(R[:1], "average_incremental_accuracy", False) == pytest.approx(0.9)
    assert partial_score(R, "average_incremental_accuracy", False) == pytest.approx((0.9 + 0.65) / 2)
    assert partial_score(R, "final_average_accuracy", False) == pytest.approx(0.65)
    assert partial_score([[0.5, 0.7, 0.9]], "average_incremental_accuracy", True) == pytest.approx(0.7)


def test_draw_is_seeded_distinct_and_whole_when_the_budget_allows():
    space = {"lr": [1, 2, 3], "beta": [0.5, 1.0]}
    assert draw(space, 4) == draw(space, 4) and len({json.dumps(s) for s in draw(space, 4)}) == 4
    assert len(draw(space, 10)) == 6


def test_select_on_val_runs_the_best_trial_on_test(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--methods", "er", "--select-on", "val", "--budget", "3", "--lr", "1e-4", "1e-3", "--head-lr", "1e-2",
            "1e-1", "--seeds", "0", "1", "--output", str(out), *FAST]
    assert run_benchmark.main(args) == 0

    search = json.loads((out / "search" / "cil-er" / "selection.json").read_text())["selection"]
    assert search["space"] == {"lr": [1e-4, 1e-3], "head_lr": [1e-2, 1e-1]} and len(search["trials"]) == 3
    complete = [t for t in search["trials"] if t["tasks"] == 3]
    best = max(complete, key=lambda t: t["score"])
    assert search["chosen"] == best["setting"]
    for trial in search["trials"]:  # every trial scored on val, its score the criterion of its matrix
        (path,) = (out / "search" / "cil-er").glob(f"*trial-lr{trial['setting']['lr']}-head_lr{trial['setting']['head_lr']}*/results.json")
        record = json.loads(path.read_text())
        assert record["eval_split"] == "val" and record["seed"] == 0
        if trial["tasks"] == 3:
            assert record["average_incremental_accuracy"] == pytest.approx(trial["score"])
    for seed in (0, 1):
        run = json.loads((out / f"clinc150-cil-er-tuned-seed{seed}" / "results.json").read_text())
        assert run["eval_split"] == "test" and run["selection"]["chosen"] == best["setting"]
        assert (run["config"]["lr"], run["config"]["head_lr"]) == (best["setting"]["lr"], best["setting"]["head_lr"])

    # --resume reuses the search: no new trial
    before = sorted(p.name for p in (out / "search" / "cil-er").iterdir())
    assert run_benchmark.main([*args, "--resume"]) == 0
    assert sorted(p.name for p in (out / "search" / "cil-er").iterdir()) == before
    assert "[search]" not in capsys.readouterr().out.split("skipped")[-1]


def test_each_derpp_label_is_searched_with_the_targets_that_name_it(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--methods", "derpp", "--derpp-logits", "stored", "teacher", "--select-on", "val", "--budget", "2",
            "--lr", "1e-3", "--head-lr", "1e-2", "--alpha", "0.1", "0.5", "--beta", "1", "--seeds", "0",
            "--output", str(out), *FAST]
    assert run_benchmark.main(args) == 0
    for label, targets in (("derpp", "stored"), ("derpp-teacher", "teacher")):
        search = json.loads((out / "search" / f"cil-{label}" / "selection.json").read_text())["selection"]
        assert search["space"] == {"lr": [1e-3], "head_lr": [1e-2], "alpha": [0.1, 0.5], "beta": [1.0]}
        assert all("derpp_logits" not in t["setting"] for t in search["trials"])
        run = json.loads((out / f"clinc150-cil-{label}-tuned-seed0" / "results.json").read_text())
        assert run["config"]["hp"]["derpp_logits"] == targets and run["config"]["hp"]["alpha"] == search["chosen"]["alpha"]
    # one label alone asks for the same search: it is reused, not refused as another request
    alone = [a for a in args if a not in ("stored", "teacher")]
    alone.insert(alone.index("--derpp-logits") + 1, "teacher")
    assert run_benchmark.main([*alone, "--resume"]) == 0
    assert "[search]" not in capsys.readouterr().out.split("skipped")[-1]
