"""`run_benchmark.py` on bad input: exit code 2, one `error: ...` line on stderr, nothing written.

Most cases call `run_benchmark.main` in this process (cheaper than a fresh interpreter each);
one case runs the real script as a subprocess, to check what a user sees end to end (no
import warnings on stderr, no traceback, the real exit code).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import run_benchmark

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMON = ["--backbone", "tiny-bert"]
# Runs an invocation could be filed under; each is seeded with a results.json that must survive.
EXISTING_RUNS = ["clinc150-cil-finetune-seed0", "tiny-cil-finetune-seed0", "tiny-cil-er-seed0"]

# (arguments, the start of the message after "error: "); "{tiny}" is a 3-class CSV.
CASES = {
    "unknown method": (["--methods", "finetune", "nope"], "unknown method 'nope': use one of finetune, joint, er, derpp, lwf"),
    "unknown benchmark": (["--benchmark", "no-such-benchmark"], "unknown benchmark 'no-such-benchmark': not clinc150 or banking77"),
    "missing file": (["--benchmark", "nope.csv"], "missing data file nope.csv"),
    "missing label column": (["--benchmark", "{tiny}", "--label-column", "intent"], "{tiny} has no column 'intent' (columns: text, label)"),
    "fewer classes than tasks": (["--benchmark", "{tiny}", "--tasks", "5"], "3 classes cannot make 5 tasks"),
    "no data folder": (["--benchmark", "banking77", "--data-dir", "{empty}"], "no folder 'banking77' in data directory {empty}"),
    "tasks 0": (["--tasks", "0"], "--tasks must be positive, got 0"),
    "epochs 0": (["--epochs", "0"], "--epochs must be positive, got 0"),
    "batch size -4": (["--batch-size", "-4"], "--batch-size must be positive, got -4"),
    "buffer size 0": (["--methods", "er", "--buffer-size", "0"], "--buffer-size must be positive, got 0"),
    "negative alpha": (["--methods", "derpp", "--alpha", "-0.5"], "--alpha must not be negative, got -0.5"),
    "unknown head": (["--head", "mlp"], "unknown head 'mlp': use one of linear, cosine"),
}


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    """The placeholders of CASES: a 3-class CSV, an empty folder, and the output folder."""
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("text,label\n" + "".join(f"{c} text {i},{c}\n" for c in "abc" for i in range(4)))
    (tmp_path / "empty").mkdir()
    output = tmp_path / "out"
    for run in EXISTING_RUNS:
        (output / run).mkdir(parents=True)
        (output / run / "results.json").write_text(f'{{"run": "{run}", "final_average_accuracy": 0.5}}\n')
    return {"tiny": str(tiny), "empty": str(tmp_path / "empty"), "output": str(output)}


def command(case: str, files: dict[str, str]) -> tuple[list[str], str]:
    args, message = CASES[case]
    args = [a.format(**files) for a in args] + COMMON + ["--output", files["output"]]
    return args, message.format(**files)


def snapshot(folder: str) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def assert_one_error_line(stderr: str, message: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, f"not one line: {stderr!r}"
    assert stderr.startswith(f"error: {message}"), stderr


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_error_line_and_exit_code_2(case, files, data_dir, monkeypatch, capsys):
    monkeypatch.setenv("CLBENCH_DATA_DIR", str(data_dir))
    monkeypatch.chdir(REPO_ROOT)
    args, message = command(case, files)
    before = snapshot(files["output"])

    code = run_benchmark.main(args)

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert_one_error_line(err, message)
    assert snapshot(files["output"]) == before  # existing results.json byte-identical, nothing added


def test_real_script_exits_2_with_one_line_and_keeps_results(files, data_dir):
    """Through `python run_benchmark.py`: a case that loads the data before it fails."""
    env = dict(os.environ, CLBENCH_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    args, message = command("fewer classes than tasks", files)
    before = snapshot(files["output"])

    result = subprocess.run(
        [sys.executable, "run_benchmark.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert_one_error_line(result.stderr, message)
    assert snapshot(files["output"]) == before
    assert before["tiny-cil-finetune-seed0/results.json"] == b'{"run": "tiny-cil-finetune-seed0", "final_average_accuracy": 0.5}\n'
