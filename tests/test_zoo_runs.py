"""EWC, online EWC, SI, A-GEM, GDumb, ER-ACE and ER-NCM end to end: CIL and TIL runs, their memory,
a bit-identical resume after task 1, and their refusals of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import run_benchmark
from benchmarks.engine.run import train_and_evaluate
from benchmarks.errors import UsageError
from benchmarks.method_registry import option_defaults
from benchmarks.results import RunConfig
from tests.small_stream import small_clinc

ZOO = ["ewc", "online-ewc", "si", "agem", "gdumb", "er-ace", "er-ncm"]
BUFFER = 24
ROW = 24 * 8 + 2 * 8  # A-GEM and GDumb keep the stream's own rows: int64 token ids, label, task label
HP = {"buffer_size": BUFFER, "agem_patterns": 10, "agem_sample_size": 6, "ewc_lambda": 1e3, "si_lambda": 1e3, "ewc_decay": 0.9}


def run(method: str, scenario: str, run_dir: Path, head: str = "linear", **options) -> dict:
    lm = head == "lm"
    task_split, data = small_clinc(per_class=10, head=head) if lm else small_clinc()
    config = RunConfig(
        benchmark="small-clinc", scenario=scenario, method=method, seed=0, backbone="tiny-gpt2" if lm else "tiny-bert",
        head=head, num_tasks=task_split.num_tasks, max_length=32 if lm else 24, batch_size=8, lr=1e-3, head_lr=1e-2,
        hp={**option_defaults(), **HP},
    )
    return train_and_evaluate(config, task_split, data, run_dir, **options)


@pytest.mark.parametrize("method", ZOO)
@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_runs_and_resumes_bit_identically(method, scenario, tmp_path):
    full = run(method, scenario, tmp_path / "full")
    R = np.array(full["accuracy_matrix"])
    assert full["status"] == "finished" and R.shape == (4, 4)
    assert (R[np.triu_indices(4, k=1)] == 0).all()
    if method != "gdumb":  # GDumb trains on 2 examples per class here, for one epoch: it learns next to nothing
        assert R[-1].mean() > (1 / 12 if scenario == "cil" else 1 / 3)  # above chance (EWC, SI, A-GEM forget all but the last task in CIL)
    memory = {"agem": 4 * 10 * ROW, "gdumb": BUFFER * ROW, "er-ace": BUFFER * (24 * 4 + 8), "er-ncm": BUFFER * (24 * 4 + 8)}
    assert full["buffer_bytes"] == memory.get(method)
    stopped = run(method, scenario, tmp_path / "part", stop_after_task=1)
    assert stopped["status"] == "stopped" and len(stopped["accuracy_matrix"]) == 1
    resumed = run(method, scenario, tmp_path / "part", resume=True)
    assert resumed["accuracy_matrix"] == full["accuracy_matrix"]


@pytest.mark.parametrize("method", ["ewc", "online-ewc", "si", "agem", "gdumb"])
def test_a_resume_without_the_plugins_state_differs(method, tmp_path, monkeypatch):
    """The resume test can fail: the same resume, its plugin's state left out, changes the matrix."""
    full = run(method, "cil", tmp_path / "full")
    run(method, "cil", tmp_path / "part", stop_after_task=1)
    from benchmarks.engine import checkpoint

    monkeypatch.setattr(checkpoint, "method_state", lambda state: None)
    if method == "agem":  # no memory at all would fail its loader, not change the matrix: an empty reference instead
        monkeypatch.setattr(checkpoint, "method_state", lambda state: {"buffers": [state["method"]["buffers"][0].subset([0])]})
    resumed = run(method, "cil", tmp_path / "part", resume=True)
    assert resumed["accuracy_matrix"] != full["accuracy_matrix"]


@pytest.mark.parametrize("method", ["si", "gdumb"])
@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_the_generative_head_runs(method, scenario, tmp_path):
    result = run(method, scenario, tmp_path, head="lm")
    assert result["status"] == "finished" and np.array(result["accuracy_matrix"]).shape == (4, 4)


@pytest.mark.parametrize("method,why", [
    ("ewc", "without the answer tokens"), ("online-ewc", "without the answer tokens"), ("agem", "without the answer tokens"),
    ("er-ace", "no class columns to mask"), ("er-ncm", "no pooled sentence feature"),
])
def test_the_generative_head_is_refused_with_the_reason(method, why, tmp_path, capsys):
    code = run_benchmark.main(["--methods", method, "--backbone", "tiny-gpt2", "--head", "lm", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {method} runs on the linear and cosine heads, not --head lm: ") and why in err
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,message", [
    (["--methods", "agem", "--agem-sample-size", "0"], "--agem-sample-size must be positive, got 0"),
    (["--methods", "agem", "--agem-patterns", "2.5"], "argument --agem-patterns: invalid int value: '2.5'"),
    (["--methods", "ewc", "--ewc-lambda", "0"], "--ewc-lambda must be positive, got 0.0"),
    (["--methods", "online-ewc", "--ewc-decay", "1.5"], "--ewc-decay must be in (0, 1], got 1.5"),
    (["--methods", "si", "--si-lambda", "-1"], "--si-lambda must be positive, got -1.0"),
    (["--methods", "ewc", "--ewc-decay", "0.5"], "--ewc-decay is an option of online-ewc, and --methods (ewc) runs none of them"),
])
def test_bad_values_are_one_error_line(argv, message, tmp_path, capsys):
    try:
        code = run_benchmark.main([*argv, "--output", str(tmp_path / "out")])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_agem_sample_smaller_than_the_earlier_tasks_is_refused(tmp_path):
    with pytest.raises(UsageError, match="agem draws --agem-sample-size // \\(earlier tasks\\).*2 is fewer than the 3 earlier tasks"):
        HP_small = {**HP, "agem_sample_size": 2}
        task_split, data = small_clinc()
        config = RunConfig(benchmark="small-clinc", scenario="cil", method="agem", seed=0, backbone="tiny-bert",
                           num_tasks=4, max_length=24, batch_size=8, hp={**option_defaults(), **HP_small})
        train_and_evaluate(config, task_split, data, tmp_path)


def test_cli_refuses_a_gdumb_buffer_smaller_than_the_classes(tmp_path, capsys):
    code = run_benchmark.main([
        "--methods", "gdumb", "--benchmark", "clinc150", "--classes", "10", "--tasks", "2", "--limit-per-class", "5",
        "--backbone", "tiny-bert", "--buffer-size", "8", "--wandb", "disabled", "--output", str(tmp_path),
    ])
    assert code == 2
    assert "error: gdumb keeps an equal share of --buffer-size per class: 8 is fewer than the 10 classes" in capsys.readouterr().err


def test_cli_refuses_agem_on_the_generative_head(tmp_path, capsys):
    code = run_benchmark.main([
        "--methods", "agem", "--benchmark", "clinc150", "--classes", "4", "--tasks", "2", "--limit-per-class", "5",
        "--backbone", "tiny-gpt2", "--head", "lm", "--wandb", "disabled", "--output", str(tmp_path),
    ])
    assert code == 2
    assert "error: agem runs on the linear and cosine heads, not --head lm" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["agem", "gdumb"])
def test_cli_resumes_a_checkpoint_holding_avalanche_datasets(method, tmp_path):
    """Their memories are Avalanche datasets, pickled into the checkpoint: the CLI's check before a resume reads them."""
    args = [
        "--methods", method, "--benchmark", "clinc150", "--classes", "6", "--tasks", "3", "--limit-per-class", "10",
        "--backbone", "tiny-bert", "--lr", "1e-3", "--head-lr", "1e-2", "--batch-size", "8", "--wandb", "disabled",
        *(["--buffer-size", "12"] if method == "gdumb" else []),  # A-GEM keeps agem_patterns (100) per task
    ]
    assert run_benchmark.main([*args, "--output", str(tmp_path / "full")]) == 0
    assert run_benchmark.main([*args, "--output", str(tmp_path / "part"), "--stop-after-task", "1"]) == 0
    assert run_benchmark.main([*args, "--output", str(tmp_path / "part"), "--resume"]) == 0
    name = f"clinc150-cil-{method}-seed0/results.json"
    full, resumed = (json.loads((tmp_path / part / name).read_text()) for part in ("full", "part"))
    assert resumed["accuracy_matrix"] == full["accuracy_matrix"] and len(full["accuracy_matrix"]) == 3
