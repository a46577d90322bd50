"""One output folder, one writer: a second invocation is refused while the first runs, and a
holder killed by `kill -9` leaves the folder free. Real processes, the real script."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.engine.lock import LOCK_FILE, hold
from benchmarks.errors import UsageError
from tests.small_stream import write_small_clinc_csv

REPO_ROOT = Path(__file__).resolve().parents[1]


def start(csv_path: Path, output: Path, *extra: str) -> subprocess.Popen:
    args = ["--methods", "finetune", "--benchmark", str(csv_path), "--tasks", "3", "--backbone", "tiny-bert",
            "--epochs", "500", "--wandb", "disabled", "--output", str(output), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "run_benchmark.py"), *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_holder(output: Path, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            holder = (output / LOCK_FILE).read_text()
        except FileNotFoundError:
            holder = ""
        if holder.startswith(f"pid {process.pid} "):
            return holder.strip()
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"the first invocation never held {output}: {process.communicate()}")


def test_a_second_invocation_is_refused_and_a_killed_holder_frees_the_folder(tmp_path):
    csv_path = write_small_clinc_csv(tmp_path / "small.csv", num_classes=6, per_class_train=5)
    output = tmp_path / "out"
    first = start(csv_path, output)
    try:
        holder = wait_for_holder(output, first)
        assert holder.startswith(f"pid {first.pid} on {socket.gethostname()} since 20")

        second = start(csv_path, output, "--resume")
        _, stderr = second.communicate(timeout=300)
        assert second.returncode == 2
        assert stderr == f"error: {output} is in use by {holder}: wait for it to end, or choose another --output\n"
        assert first.poll() is None  # the holder runs on, untouched
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    # The kernel released the lock with the killed process; its stale note is overwritten.
    with hold(output):
        assert (output / LOCK_FILE).read_text().startswith(f"pid {os.getpid()} on ")
    assert not (output / LOCK_FILE).exists()


def test_the_lock_is_held_until_the_invocation_ends(tmp_path):
    with hold(tmp_path):
        with pytest.raises(UsageError, match=f"^{tmp_path} is in use by pid {os.getpid()} on "):
            with hold(tmp_path):
                pass
    with hold(tmp_path):  # released
        pass
