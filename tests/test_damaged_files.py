"""--resume on damaged files: one `error:` line naming the file and the fix, exit code 2, nothing touched.

The files are those of a real grid stopped after task 1 (two seeds), then damaged the ways a
power cut, a full disk, a hand edit or a copy between folders damage them. Every case is refused
while the grid is planned, before any run starts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import run_benchmark
from tests.small_stream import write_small_clinc_csv
from tests.test_cli_errors import assert_one_error_line, snapshot

RUN = "small-cil-finetune-seed0"
OTHER = "small-cil-finetune-seed1"
TASKS = 3


def grid_args(csv_path: Path, output: Path, *extra: str) -> list[str]:
    return ["--methods", "finetune", "--seeds", "0", "1", "--benchmark", str(csv_path), "--tasks", str(TASKS),
            "--backbone", "tiny-bert", "--batch-size", "8", "--wandb", "disabled", "--output", str(output), *extra]


@pytest.fixture(scope="module")
def stopped_grid(tmp_path_factory) -> tuple[Path, Path]:
    """(data, output) of a grid stopped after task 1: results.json and checkpoint.pt in each run."""
    data = write_small_clinc_csv(tmp_path_factory.mktemp("data") / "small.csv", num_classes=6, per_class_train=5)
    output = tmp_path_factory.mktemp("stopped")
    assert run_benchmark.main(grid_args(data, output, "--stop-after-task", "1")) == 0
    return data, output


def edit_results(change):
    def damage(run: Path) -> None:
        record = json.loads((run / "results.json").read_text())
        (run / "results.json").write_text(json.dumps(change(record)))
    return damage


def edit_checkpoint(change):
    def damage(run: Path) -> None:
        state = torch.load(run / "checkpoint.pt", weights_only=False)
        change(state)
        torch.save(state, run / "checkpoint.pt")
    return damage


def cut(name: str, keep):
    def damage(run: Path) -> None:
        content = (run / name).read_bytes()
        (run / name).write_bytes(keep(content))
    return damage


def older_checkpoint_of_another_run(state: dict) -> None:
    del state["format"], state["config"]
    state["progress"]["matrix"] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]


RESULTS = f"{{output}}/{RUN}/results.json"
CHECKPOINT = f"{{output}}/{RUN}/checkpoint.pt"
START_OVER = f"delete {{output}}/{RUN} to start that run over (--overwrite starts every run of the grid over)"
RESTART = "; delete it to restart that run from task 1"

# case -> (damage done to RUN's folder, the message after "error: ").
CASES = {
    "truncated results": (cut("results.json", lambda b: b[: len(b) // 2]), f"{RESULTS} is not a results file of this suite (not readable JSON): {START_OVER}"),
    "results a list": (edit_results(lambda r: [r]), f"{RESULTS} is not a results file of this suite (a JSON list, not an object): {START_OVER}"),
    "results without a matrix": (
        edit_results(lambda r: {k: v for k, v in r.items() if k != "accuracy_matrix"}),
        f"{RESULTS} is not a results file of this suite (no 'accuracy_matrix'): {START_OVER}",
    ),
    "seed a string": (edit_results(lambda r: {**r, "seed": "0"}), f"{RESULTS} is not a results file of this suite ('seed' is \"0\"): {START_OVER}"),
    "unknown status": (
        edit_results(lambda r: {**r, "status": "paused"}),
        f"{RESULTS} is not a results file of this suite ('status' is 'paused', not one of running, stopped, finished, failed): "
        f"{START_OVER}",
    ),
    "a short matrix row": (
        edit_results(lambda r: {**r, "accuracy_matrix": [r["accuracy_matrix"][0][:2]]}),
        f"{RESULTS} is not a results file of this suite (row 1 of the accuracy matrix is not 3 accuracies in [0, 1]): {START_OVER}",
    ),
    "more rows than tasks done": (
        edit_results(lambda r: {**r, "accuracy_matrix": r["accuracy_matrix"] * 2}),
        f"{RESULTS} is not a results file of this suite (the accuracy matrix has 2 rows for 1 completed tasks of 3): {START_OVER}",
    ),
    "accuracy above 1": (
        edit_results(lambda r: {**r, "accuracy_matrix": [[1.5, 0.0, 0.0]]}),
        f"{RESULTS} is not a results file of this suite (row 1 of the accuracy matrix is not 3 accuracies in [0, 1]): {START_OVER}",
    ),
    "empty checkpoint": (cut("checkpoint.pt", lambda b: b""), f"{CHECKPOINT} cannot continue this run: it cannot be read ("),
    "truncated checkpoint": (
        cut("checkpoint.pt", lambda b: b[: len(b) // 2]),
        f"{CHECKPOINT} cannot continue this run: it cannot be read (PytorchStreamReader failed reading zip archive",
    ),
    "garbage checkpoint": (
        cut("checkpoint.pt", lambda b: bytes(range(256)) * (len(b) // 256)),
        f"{CHECKPOINT} cannot continue this run: it cannot be read (",
    ),
    "checkpoint of another run": (
        lambda run: shutil.copy(run.parent / OTHER / "checkpoint.pt", run / "checkpoint.pt"),
        f"{CHECKPOINT} cannot continue this run: it was saved by a run with seed=1, not 0{RESTART}",
    ),
    "checkpoint of a newer version": (
        edit_checkpoint(lambda state: state.update(format=99)),
        f"{CHECKPOINT} cannot continue this run: it has format 99, written by a newer version of this suite "
        f"(this one reads up to 2){RESTART}",
    ),
    "older checkpoint of another run": (
        edit_checkpoint(older_checkpoint_of_another_run),
        f"{CHECKPOINT} cannot continue this run: its 2 tasks of accuracies are not those of the results file (1 tasks){RESTART}",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_file_stops_the_resume_before_anything_is_written(case, stopped_grid, tmp_path, capsys):
    data, stopped = stopped_grid
    output = tmp_path / "output"
    shutil.copytree(stopped, output)
    damage, message = CASES[case]
    damage(output / RUN)
    before = snapshot(output)
    capsys.readouterr()

    code = run_benchmark.main(grid_args(data, output, "--resume"))

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert_one_error_line(err, message.format(output=output))
    assert snapshot(output) == before
