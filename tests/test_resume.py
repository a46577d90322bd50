"""Interrupted runs continue exactly: --stop-after-task, kill -9 and Ctrl-C, then --resume.

The reference is one uninterrupted grid; every interrupted-and-resumed grid must give the
same accuracy matrices, bit for bit (same seed, CPU).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import run_benchmark
from tests.small_stream import write_small_clinc_csv

REPO_ROOT = Path(__file__).resolve().parents[1]
METHODS = ["derpp", "lwf"]  # buffer with stored logits, and a teacher
TASKS = 5


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory) -> Path:
    return write_small_clinc_csv(tmp_path_factory.mktemp("data") / "small.csv", num_classes=10, per_class_train=20)


def grid_args(csv_path: Path, output: Path, *extra: str, methods=METHODS) -> list[str]:
    buffer = ["--buffer-size", "40"] if "derpp" in methods else []  # refused where no method has a buffer
    return [
        "--methods", *methods, "--benchmark", str(csv_path), "--tasks", str(TASKS), "--backbone", "tiny-bert",
        "--lr", "1e-3", "--head-lr", "1e-2", *buffer, "--batch-size", "8", "--wandb", "disabled",
        "--output", str(output), *extra,
    ]


def results(output: Path, method: str, seed: int = 0) -> dict:
    return json.loads((output / f"small-cil-{method}-seed{seed}" / "results.json").read_text())


@pytest.fixture(scope="module")
def reference(csv_path, tmp_path_factory) -> dict[str, dict]:
    output = tmp_path_factory.mktemp("uninterrupted")
    assert run_benchmark.main(grid_args(csv_path, output, "--epochs", "2")) == 0
    return {m: results(output, m) for m in METHODS}


def test_stop_after_task_then_resume_equals_the_uninterrupted_run(csv_path, reference, tmp_path):
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "2", "--stop-after-task", "2")) == 0
    for method in METHODS:
        stopped = results(tmp_path, method)
        assert stopped["status"] == "stopped" and stopped["completed_tasks"] == 2
        assert stopped["accuracy_matrix"] == reference[method]["accuracy_matrix"][:2]
        assert stopped["final_average_accuracy"] is None  # no numbers before the run has finished
        assert (tmp_path / f"small-cil-{method}-seed0" / "checkpoint.pt").is_file()

    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "2", "--resume")) == 0
    for method in METHODS:
        resumed = results(tmp_path, method)
        assert resumed["status"] == "finished" and resumed["completed_tasks"] == TASKS
        assert resumed["accuracy_matrix"] == reference[method]["accuracy_matrix"]
        assert resumed["final_average_accuracy"] == reference[method]["final_average_accuracy"]
        assert not (tmp_path / f"small-cil-{method}-seed0" / "checkpoint.pt").exists()


def test_resume_skips_finished_runs_and_overwrite_starts_over(csv_path, reference, tmp_path, capsys):
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "2", methods=["lwf"])) == 0
    path = tmp_path / "small-cil-lwf-seed0" / "results.json"
    before = path.read_bytes()
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "2", "--resume", methods=["lwf"])) == 0
    assert path.read_bytes() == before
    assert "skipped: finished" in capsys.readouterr().out

    # Different settings cannot continue an unfinished run: that would mix two experiments.
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "2", "--overwrite", "--stop-after-task", "1", methods=["lwf"])) == 0
    assert results(tmp_path, "lwf")["status"] == "stopped"
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "3", "--resume", methods=["lwf"])) == 2
    assert "cannot resume small-cil-lwf-seed0: it was started with epochs=2, not 3" in capsys.readouterr().err
    assert results(tmp_path, "lwf")["status"] == "stopped"


def start_grid(csv_path: Path, output: Path) -> subprocess.Popen:
    """The real script in a subprocess, slowed by epochs so that it can be interrupted mid-grid."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = grid_args(csv_path, output, "--epochs", "12", methods=["derpp"])
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "run_benchmark.py"), *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_tasks(output: Path, process: subprocess.Popen, tasks: int) -> None:
    path = output / "small-cil-derpp-seed0" / "results.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and json.loads(path.read_text())["completed_tasks"] >= tasks:
            return
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"the run did not reach task {tasks}: {process.communicate()}")


@pytest.fixture(scope="module")
def slow_reference(csv_path, tmp_path_factory) -> dict:
    output = tmp_path_factory.mktemp("slow-uninterrupted")
    assert run_benchmark.main(grid_args(csv_path, output, "--epochs", "12", methods=["derpp"])) == 0
    return results(output, "derpp")


def test_kill_9_then_resume_equals_the_uninterrupted_run(csv_path, slow_reference, tmp_path):
    process = start_grid(csv_path, tmp_path)
    wait_for_tasks(tmp_path, process, 2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = results(tmp_path, "derpp")
    assert killed["status"] == "running" and 2 <= killed["completed_tasks"] < TASKS

    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "12", "--resume", methods=["derpp"])) == 0
    assert results(tmp_path, "derpp")["accuracy_matrix"] == slow_reference["accuracy_matrix"]


def test_ctrl_c_saves_state_exits_130_and_resumes_exactly(csv_path, slow_reference, tmp_path):
    process = start_grid(csv_path, tmp_path)
    wait_for_tasks(tmp_path, process, 1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: every completed task is saved; rerun with --resume to continue"
    stopped = results(tmp_path, "derpp")
    assert stopped["status"] == "stopped" and 1 <= stopped["completed_tasks"] < TASKS

    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "12", "--resume", methods=["derpp"])) == 0
    assert results(tmp_path, "derpp")["accuracy_matrix"] == slow_reference["accuracy_matrix"]


def test_same_seed_same_matrix_other_seed_other_matrix(csv_path, reference, tmp_path):
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "2", "--seeds", "0", "1", methods=["derpp"])) == 0
    assert results(tmp_path, "derpp", seed=0)["accuracy_matrix"] == reference["derpp"]["accuracy_matrix"]
    assert results(tmp_path, "derpp", seed=1)["accuracy_matrix"] != reference["derpp"]["accuracy_matrix"]


def test_non_finite_loss_fails_that_run_and_the_grid_goes_on(csv_path, tmp_path, capsys):
    # An LwF weight that overflows float32 turns the loss infinite as soon as there is a teacher (task 2).
    code = run_benchmark.main(grid_args(csv_path, tmp_path, "--epochs", "1", "--lwf-alpha", "1e39", methods=["lwf", "finetune"]))
    assert code == 1
    failed = results(tmp_path, "lwf")
    assert failed["status"] == "failed" and failed["completed_tasks"] == 1
    assert failed["error"].startswith("loss is inf at task 2, iteration 1: training diverged")
    assert results(tmp_path, "finetune")["status"] == "finished"
    err = capsys.readouterr().err
    assert "error: small-cil-lwf-seed0 failed: loss is inf at task 2" in err and "Traceback" not in err
