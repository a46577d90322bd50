"""A full or read-only output disk mid-run: one `error:` line, exit code 1, no `*.tmp`, the finished tasks kept,
and `--resume` after freeing space gives the undisturbed results."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import run_benchmark
from benchmarks import atomic
from benchmarks.atomic import write_atomically
from benchmarks.engine.logs import LogFileHandler
from tests.small_stream import write_small_clinc_csv

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN = "small-cil-derpp-seed0"


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory) -> Path:
    return write_small_clinc_csv(tmp_path_factory.mktemp("data") / "small.csv", num_classes=10, per_class_train=20)


def grid_args(csv_path: Path, output: Path, *extra: str) -> list[str]:
    return ["--methods", "derpp", "--benchmark", str(csv_path), "--tasks", "5", "--backbone", "tiny-bert",
            "--buffer-size", "40", "--batch-size", "8", "--output", str(output), *extra]


def results(output: Path) -> dict:
    return json.loads((output / RUN / "results.json").read_text())


@pytest.fixture(scope="module")
def undisturbed(csv_path, tmp_path_factory) -> dict:
    output = tmp_path_factory.mktemp("undisturbed")
    assert run_benchmark.main(grid_args(csv_path, output, "--wandb", "disabled")) == 0
    return results(output)


def full_after(calls: int, error=errno.ENOSPC):
    """A stand-in for a write that works `calls` times, then fails as a full (or read-only) disk does."""
    count = {"n": 0}

    def fail(*args):
        count["n"] += 1
        if count["n"] > calls:
            raise OSError(error, os.strerror(error))
        return real_fsync(*args)

    real_fsync = os.fsync
    return fail


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_atomically(path, b"old")
    monkeypatch.setattr(atomic.os, "fsync", full_after(0))
    with pytest.raises(Exception, match=r"^cannot write results.json in .*: No space left on device; free space"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_full_disk_at_a_checkpoint_is_one_line_and_resume_gives_the_undisturbed_run(
    csv_path, undisturbed, tmp_path, monkeypatch, capsys
):
    # Task 1 writes its checkpoint and results file (2 writes); task 2's checkpoint finds the disk full.
    monkeypatch.setattr(atomic.os, "fsync", full_after(2))
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--wandb", "disabled")) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: cannot write checkpoint.pt in {tmp_path / RUN}: No space left on device; free space on the disk of "
        f"{tmp_path / RUN} (or pass another --output), then rerun the same command with --resume: the finished "
        "tasks are kept\n"
    )
    assert not list(tmp_path.rglob("*.tmp"))
    kept = results(tmp_path)
    assert kept["completed_tasks"] == 1 and kept["accuracy_matrix"] == undisturbed["accuracy_matrix"][:1]
    monkeypatch.undo()  # space freed
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--wandb", "disabled", "--resume")) == 0
    assert results(tmp_path)["accuracy_matrix"] == undisturbed["accuracy_matrix"]


def test_a_read_only_disk_says_make_it_writable(csv_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(atomic.os, "fsync", full_after(0, errno.EROFS))
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--wandb", "disabled")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Read-only file system; make " in err and "writable" in err
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_full_disk_at_the_run_log_is_one_line(csv_path, undisturbed, tmp_path, monkeypatch, capsys):
    """logging's own handling would print a '--- Logging error ---' traceback for every later line."""
    writes = {"n": 0}
    real_flush = LogFileHandler.flush

    def flush(self):
        writes["n"] += 1
        if writes["n"] > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_flush(self)

    monkeypatch.setattr(LogFileHandler, "flush", flush)
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--wandb", "disabled")) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write ") and err.count("\n") == 1 and "Traceback" not in err
    assert "No space left on device" in err and "--resume" in err
    monkeypatch.undo()
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--wandb", "disabled", "--resume")) == 0
    assert results(tmp_path)["accuracy_matrix"] == undisturbed["accuracy_matrix"]


def test_a_full_disk_at_the_report_is_one_line_and_keeps_the_runs(csv_path, undisturbed, tmp_path, monkeypatch, capsys):
    import reports.render

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(reports.render.Path, "write_text", full)
    assert run_benchmark.main(grid_args(csv_path, tmp_path, "--wandb", "disabled")) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write report.html in {tmp_path}: No space left on device")
    assert err.count("\n") == 1
    assert results(tmp_path)["accuracy_matrix"] == undisturbed["accuracy_matrix"]


def mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None,
                    reason="mounting a small tmpfs needs root on Linux (the tests above inject the same errors)")
def test_a_real_full_tmpfs_with_wandb_is_one_line_and_resume_finishes(csv_path, undisturbed, tmp_path):
    """The real thing: a 6 MB tmpfs as --output, W&B offline writing there too. tiny-bert's checkpoint is
    about 4 MB, so task 2's checkpoint does not fit beside task 1's."""
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "6m"):
        pytest.skip("mount refused (no CAP_SYS_ADMIN in this container)")
    try:
        env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="offline")
        command = [sys.executable, "run_benchmark.py", *grid_args(csv_path, disk / "out")]
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith(f"error: cannot write checkpoint.pt in {disk / 'out' / RUN}: No space left")
        assert done.stderr.count("\n") == 1, done.stderr
        assert not list(disk.rglob("*.tmp"))
        assert results(disk / "out")["completed_tasks"] == 1
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)  # space freed
        done = subprocess.run([*command, "--resume"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert results(disk / "out")["accuracy_matrix"] == undisturbed["accuracy_matrix"]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
