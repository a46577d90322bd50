"""End to end on real CLINC150 data with the tiny backbone: the CLI, the results contract, method ordering."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

import run_benchmark
from benchmarks import metrics
from benchmarks.results import RunConfig
from benchmarks.engine.run import run
from benchmarks.method_registry import option_defaults
from tests.small_stream import DATA_DIR, small_clinc, write_small_clinc_csv

CONTRACT_KEYS = {
    "method", "benchmark", "scenario", "seed", "backbone", "head", "num_tasks", "accuracy_matrix",
    "final_average_accuracy", "average_incremental_accuracy", "forgetting", "backward_transfer",
    "train_seconds", "eval_seconds", "train_examples_per_second", "threads", "config",
}
FAST = ["--backbone", "tiny-bert", "--lr", "1e-3", "--head-lr", "1e-2", "--wandb", "disabled"]


def read(path):
    with open(path) as f:
        return json.load(f)


def test_cli_finetune_cil_and_til_write_the_contract(tmp_path, capsys):
    code = run_benchmark.main(
        ["--methods", "finetune", "--benchmark", "clinc150", "--data-dir", str(DATA_DIR), "--tasks", "5",
         "--limit-per-class", "20", "--epochs", "2", "--scenario", "cil", "til", "--seeds", "0",
         "--output", str(tmp_path), *FAST]
    )
    assert code == 0
    cil = read(tmp_path / "clinc150-cil-finetune-seed0" / "results.json")
    til = read(tmp_path / "clinc150-til-finetune-seed0" / "results.json")
    for r in (cil, til):
        assert set(r) >= CONTRACT_KEYS
        R = np.array(r["accuracy_matrix"])
        assert R.shape == (5, 5) and r["num_tasks"] == 5
        assert ((R >= 0) & (R <= 1)).all()
        assert (R[np.triu_indices(5, k=1)] == 0).all()  # no head yet for later tasks
        assert r["final_average_accuracy"] == pytest.approx(R[-1].mean())
        assert r["average_incremental_accuracy"] == pytest.approx(np.mean([R[i, : i + 1].mean() for i in range(5)]))
        assert r["forgetting"] == pytest.approx(metrics.forgetting(R))
        assert r["backward_transfer"] == pytest.approx(np.mean([R[4, j] - R[j, j] for j in range(4)]))
        assert r["config"]["limit_per_class"] == 20 and r["train_seconds"] > 0
        assert np.diag(R).mean() > 0.3  # each task is learnt when it is trained (chance: 0.1 in TIL)
    # Fine-tuning forgets in CIL; knowing the task makes the same model's job easier.
    assert cil["forgetting"] > 0.3
    assert til["final_average_accuracy"] >= cil["final_average_accuracy"]
    out = capsys.readouterr().out
    assert "A_T" in out and "finetune" in out and "til" in out
    # The log outlives the terminal: grid.log holds every console line, each run.log its run's own.
    assert messages(tmp_path / "grid.log") == out.splitlines()
    for scenario in ("cil", "til"):
        name = f"clinc150-{scenario}-finetune-seed0"
        task_lines = [line for line in out.splitlines() if line.startswith(f"[{name}] task ")]
        assert len(task_lines) == 5
        assert messages(tmp_path / name / "run.log") == task_lines


def messages(log_file: Path) -> list[str]:
    """A log file's messages, without the timestamp and level that start each line."""
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) ", line) for line in lines)
    return [line.split(" ", 3)[3] for line in lines]


def small_run(method: str, scenario: str = "cil", precision: str = "fp32", **hp):
    task_split, data = small_clinc()
    config = RunConfig(
        benchmark="small-clinc", scenario=scenario, method=method, seed=0, backbone="tiny-bert",
        num_tasks=task_split.num_tasks, max_length=24, epochs=3, batch_size=16, lr=1e-3, head_lr=1e-2,
        precision=precision, hp={**option_defaults(), "buffer_size": 60, **hp},
    )
    with tempfile.TemporaryDirectory() as run_dir:
        return run(config, task_split, data, Path(run_dir))


def test_replay_beats_finetune_and_er_is_derpp_with_alpha0_beta1():
    finetune, er = small_run("finetune"), small_run("er")
    derpp, der_as_er = small_run("derpp"), small_run("derpp", alpha=0.0, beta=1.0)
    assert der_as_er["accuracy_matrix"] == er["accuracy_matrix"]
    assert er["final_average_accuracy"] > finetune["final_average_accuracy"] + 0.1
    assert derpp["final_average_accuracy"] > finetune["final_average_accuracy"] + 0.1
    assert derpp["forgetting"] < finetune["forgetting"]
    # 60 examples x (24 token ids + label + task, int32); DER++ adds fp16 logits (12 classes) + an int32 width.
    assert finetune["buffer_bytes"] is None
    assert er["buffer_bytes"] == 60 * (24 * 4 + 4 + 4)
    assert derpp["buffer_bytes"] == er["buffer_bytes"] + 60 * (12 * 2 + 4)


def test_joint_has_one_row_and_no_forgetting():
    joint = small_run("joint")
    R = np.array(joint["accuracy_matrix"])
    assert R.shape == (1, 4)
    assert joint["forgetting"] is None and joint["backward_transfer"] is None
    assert joint["final_average_accuracy"] == pytest.approx(R.mean())
    assert joint["final_average_accuracy"] > small_run("finetune")["final_average_accuracy"]


def test_bf16_autocast_trains_on_cpu_as_well_as_fp32():
    fp32, bf16 = small_run("derpp"), small_run("derpp", precision="bf16")
    assert bf16["config"]["precision"] == "bf16" and bf16["status"] == "finished"
    assert bf16["accuracy_matrix"] != fp32["accuracy_matrix"]  # the arithmetic really changed
    assert np.diag(np.array(bf16["accuracy_matrix"])).mean() > 0.3
    assert bf16["final_average_accuracy"] == pytest.approx(fp32["final_average_accuracy"], abs=0.15)


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_lwf_runs_on_growing_heads(scenario):
    lwf = small_run("lwf", scenario)
    R = np.array(lwf["accuracy_matrix"])
    assert R.shape == (4, 4) and lwf["method"] == "lwf"
    assert np.diag(R).mean() > 0.3


def test_generic_csv_runs_through_the_cli(tmp_path):
    csv_path = write_small_clinc_csv(tmp_path / "intents.csv")
    out = tmp_path / "out"
    code = run_benchmark.main(["--benchmark", str(csv_path), "--tasks", "5", "--output", str(out), "--epochs", "1", *FAST])
    assert code == 0
    r = read(out / "intents-cil-finetune-seed0" / "results.json")
    assert r["benchmark"] == "intents" and np.array(r["accuracy_matrix"]).shape == (5, 5)


def test_lwf_distils_only_after_the_first_task():
    from tests.method_harness import make_strategy

    strategy, bench, lwf, probe = make_strategy("lwf", "til", lwf_alpha=1.0)
    strategy.train(bench.train_stream[0])
    assert lwf.teacher is not None and all("lwf_kd" not in s.loss_terms for s in probe.steps)
    first = len(probe.steps)
    strategy.train(bench.train_stream[1])
    kd = [s.loss_terms["lwf_kd"] for s in probe.steps[first:]]
    assert kd and all(v >= 0 for v in kd) and max(kd) > 0
    for step in probe.steps[first:]:
        assert step.loss == pytest.approx(step.loss_terms["ce"] + step.loss_terms["lwf_kd"], rel=1e-5)


def test_classes_keeps_the_first_intents_by_name(tmp_path):
    """--classes N (the quick start's): the first N classes by name, recorded in the config."""
    from benchmarks.data.prepare import prepare_stream
    from benchmarks.data.registry import load_splits, resolve_spec

    out = tmp_path / "out"
    args = ["--benchmark", "clinc150", "--classes", "6", "--tasks", "2", "--limit-per-class", "10", "--output", str(out)]
    assert run_benchmark.main([*args, *FAST]) == 0
    r = read(out / "clinc150-cil-finetune-seed0" / "results.json")
    assert r["config"]["classes"] == 6 and np.array(r["accuracy_matrix"]).shape == (2, 2)

    spec = resolve_spec("clinc150")
    stream = prepare_stream(spec, DATA_DIR, backbone="tiny-bert", head="linear", num_tasks=2, first_classes=6)
    intents = sorted(set(load_splits(spec, DATA_DIR, seed=0).train.labels))
    assert stream.task_split.class_names == tuple(intents[:6]) and stream.task_split.task_sizes == (3, 3)
    assert len(stream.data.eval_y) == 6 * 30  # CLINC150: 30 test examples per intent
