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

# (arguments, the start of the message after "error: "); "{tiny}" is a 3-class CSV, the other
# placeholders are the broken files of the `files` fixture; "{output}" holds EXISTING_RUNS.
CASES = {
    # names
    "unknown method": (["--methods", "finetune", "nope"], "unknown method 'nope': use one of finetune, lwf, "),
    "unknown benchmark": (["--benchmark", "no-such-benchmark"], "unknown benchmark 'no-such-benchmark': not clinc150 or banking77"),
    "unknown backbone": (
        ["--benchmark", "{tiny}", "--tasks", "3", "--backbone", "no/such-model"],
        "unknown backbone 'no/such-model': not minilm or tiny-bert, and transformers could not load it (",
    ),
    "unknown head": (["--head", "mlp"], "unknown head 'mlp': use one of linear, cosine, lm"),
    "lm head on an encoder": (["--head", "lm"], "--head lm needs a causal LM backbone (tiny-gpt2 or an HF causal LM), not the encoder 'tiny-bert'"),
    "causal LM under a classifier head": (
        ["--backbone", "tiny-gpt2", "--head", "cosine"], "backbone tiny-gpt2 is a causal LM: use it with --head lm, not --head cosine"
    ),
    "unknown causal LM": (
        ["--benchmark", "{tiny}", "--tasks", "3", "--head", "lm", "--backbone", "no/such-lm"],
        "unknown causal LM 'no/such-lm': not tiny-gpt2, and transformers could not load it as a causal LM (",
    ),
    "template without text": (["--prompt-template", "Label:"], "--prompt-template must contain {{text}}, got 'Label:'"),
    "unknown lm eval": (["--lm-eval", "beam"], "argument --lm-eval: invalid choice: 'beam' (choose from "),
    "derpp topk 0": (["--derpp-topk", "0"], "--derpp-topk must be positive, got 0"),
    "cuda without a GPU": (["--device", "cuda"], "--device cuda: no CUDA device is visible here; use --device cpu or auto"),
    "workers 0": (["--workers", "0"], "--workers must be positive, got 0"),
    "budget 0": (["--select-on", "val", "--budget", "0"], "--budget must be positive, got 0"),
    "select on val measured on val": (
        ["--select-on", "val", "--eval-split", "val"],
        "--select-on val chooses settings on val and measures them on test: drop --eval-split val",
    ),
    "unknown criterion": (["--select-on", "val", "--select-by", "loss"], "argument --select-by: invalid choice: 'loss' (choose from "),
    "probe per class 0": (["--probe", "--probe-per-class", "0"], "--probe-per-class must be positive, got 0"),
    "probe on the lm head": (
        ["--backbone", "tiny-gpt2", "--head", "lm", "--probe"],
        "--probe fits probes on pooled encoder features: --head lm has none, drop --probe",
    ),
    "seq-star on the lm head": (
        ["--methods", "seq-star", "--backbone", "tiny-gpt2", "--head", "lm"],
        "seq-star runs on the linear and cosine heads, not --head lm",
    ),
    "negative warm-up": (["--methods", "seq-star", "--warmup-epochs", "-1"], "--warmup-epochs must not be negative, got -1"),
    "preallocate maybe": (["--methods", "seq-star", "--preallocate-heads", "maybe"], "--preallocate-heads must be yes or no, got 'maybe'"),
    "option seq-star lacks": (
        ["--methods", "seq-star", "--buffer-size", "100"],
        "--buffer-size is an option of er, derpp, er-ace, er-ncm, gdumb, and --methods (seq-star) runs none of them",
    ),
    "option no method uses": (["--methods", "finetune", "--alpha", "0.5"], "--alpha is an option of derpp, and --methods (finetune) runs none of them"),
    "unknown scenario": (["--scenario", "cil", "dil"], "argument --scenario: invalid choice: 'dil' (choose from "),
    # data files
    "missing file": (["--benchmark", "nope.csv"], "missing data file nope.csv"),
    "no data folder": (["--benchmark", "banking77", "--data-dir", "{empty}"], "no folder 'banking77' in data directory {empty}"),
    "directory as file": (["--benchmark", "{folder_csv}"], "{folder_csv} is a directory, not a data file: pass a .csv, .json or .jsonl file"),
    "not utf-8": (["--benchmark", "{latin1}"], "malformed CSV in {latin1}: byte 0xe9 on line 2 is not UTF-8; save the file as UTF-8 text"),
    "binary file": (["--benchmark", "{binary}"], "malformed CSV in {binary}: byte 0x80 on line 2 is not UTF-8"),
    "unclosed quote": (["--benchmark", "{unclosed}"], "malformed CSV in {unclosed}: a quote opened after line 2 is never closed; close it"),
    "stray quote": (["--benchmark", "{stray}"], "malformed CSV in {stray}, line 2: ',' expected after '\"' (a quote inside a field: "),
    "short row": (["--benchmark", "{short}"], "{short}: example 2 has no value for 'label': fill it in or remove the example"),
    "no rows": (["--benchmark", "{header_only}"], "{header_only} holds no examples"),
    "malformed json": (["--benchmark", "{bad_json}"], "malformed JSON in {bad_json}, line 1 column 2: Expecting property name"),
    "malformed jsonl": (
        ["--benchmark", "{bad_jsonl}"], "malformed JSONL in {bad_jsonl}, line 2: Expecting property name enclosed in double quotes; every line"
    ),
    "missing text column": (["--benchmark", "{tiny}", "--text-column", "sentence"], "{tiny} has no column 'sentence' (columns: text, label); name them"),
    "missing label column": (["--benchmark", "{tiny}", "--label-column", "intent"], "{tiny} has no column 'intent' (columns: text, label); name them"),
    "text column is the label column": (
        ["--benchmark", "{tiny}", "--text-column", "label"],
        "--text-column and --label-column both name 'label': the label would be in the text; name two different columns",
    ),
    "fewer classes than tasks": (["--benchmark", "{tiny}", "--tasks", "5"], "3 classes cannot make 5 tasks: use --tasks 3 or fewer"),
    "more classes kept than there are": (["--benchmark", "{tiny}", "--classes", "4"], "--classes 4: 'tiny' has 3 classes"),
    "no classes kept": (["--classes", "0"], "--classes must be positive, got 0"),
    "fewer classes kept than tasks": (["--classes", "4", "--tasks", "5"], "4 classes cannot make 5 tasks: use --tasks 4 or fewer"),
    "class without test example": (
        ["--benchmark", "{no_test}"], "class 'c' of 'no_test' has no test example: add test examples of it or remove its training examples"
    ),
    # numbers
    "tasks 0": (["--tasks", "0"], "--tasks must be positive, got 0"),
    "epochs 0": (["--epochs", "0"], "--epochs must be positive, got 0"),
    "batch size -4": (["--batch-size", "-4"], "--batch-size must be positive, got -4"),
    "buffer size 0": (["--methods", "er", "--buffer-size", "0"], "--buffer-size must be positive, got 0"),
    "stop after task 0": (["--stop-after-task", "0"], "--stop-after-task must be positive, got 0"),
    "negative alpha": (["--methods", "derpp", "--alpha", "-0.5"], "--alpha must not be negative, got -0.5"),
    "negative beta": (["--methods", "derpp", "--beta", "-1"], "--beta must not be negative, got -1.0"),
    "alpha nan": (["--methods", "derpp", "--alpha", "nan"], "--alpha must be a finite number, got nan"),
    "lr inf": (["--lr", "inf"], "--lr must be a finite number, got inf"),
    "not a number": (["--epochs", "two"], "argument --epochs: invalid int value: 'two' (see --help)"),
    # output
    "output not writable": (
        ["--benchmark", "{tiny}", "--tasks", "3", "--output", "{tiny}/out"],
        "output directory {tiny}/out is not writable (Not a directory): choose another --output",
    ),
    "results exist": (  # not a results file of this suite, even: --resume would not touch it either
        ["--benchmark", "{tiny}", "--tasks", "3"],
        "{output}/tiny-cil-finetune-seed0/results.json is not a results file of this suite (no 'method'): delete "
        "{output}/tiny-cil-finetune-seed0 to start that run over",
    ),
    "resume and overwrite": (["--resume", "--overwrite"], "argument --overwrite: not allowed with argument --resume (see --help)"),
}

# The broken data files of CASES: placeholder -> (file name, bytes).
BROKEN_FILES = {
    "latin1": ("latin1.csv", "text,label\ncaf\xe9,a\n".encode("latin-1")),
    "binary": ("binary.csv", bytes(range(256)) * 4),
    "unclosed": ("unclosed.csv", b'text,label\nok,a\n"hello,b\nworld,c\n'),
    "stray": ("stray.csv", b'text,label\n"say "hi"",a\n'),
    "short": ("short.csv", b"text,label\nhello,a\nworld\n"),
    "header_only": ("header_only.csv", b"text,label\n"),
    "bad_json": ("bad.json", b"{not json"),
    "bad_jsonl": ("bad.jsonl", b'{"text": "hi", "label": "a"}\n{not json\n'),
    # classes a and b have a test row, c only training rows
    "no_test": ("no_test.csv", b"text,label,split\n" + b"".join(
        f"{c} {i},{c},{'test' if i == 3 and c != 'c' else 'train'}\n".encode() for c in "abc" for i in range(4)
    )),
}


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    """The placeholders of CASES: a 3-class CSV, broken data files, an empty folder, and the output folder."""
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("text,label\n" + "".join(f"{c} text {i},{c}\n" for c in "abc" for i in range(4)))
    (tmp_path / "empty").mkdir()
    (tmp_path / "folder.csv").mkdir()
    for name, content in BROKEN_FILES.values():
        (tmp_path / name).write_bytes(content)
    output = tmp_path / "out"
    for run in EXISTING_RUNS:
        (output / run).mkdir(parents=True)
        (output / run / "results.json").write_text(f'{{"run": "{run}", "final_average_accuracy": 0.5}}\n')
    paths = {key: str(tmp_path / name) for key, (name, _) in BROKEN_FILES.items()}
    return dict(paths, tiny=str(tiny), empty=str(tmp_path / "empty"), folder_csv=str(tmp_path / "folder.csv"), output=str(output))


def command(case: str, files: dict[str, str]) -> tuple[list[str], str]:
    """The case's arguments come last, so that they override COMMON and the default --output."""
    args, message = CASES[case]
    args = COMMON + ["--output", files["output"]] + [a.format(**files) for a in args]
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

    try:
        code = run_benchmark.main(args)
    except SystemExit as e:  # argparse errors (--scenario choices, --resume with --overwrite) exit in parse_args
        code = e.code

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
