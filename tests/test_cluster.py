"""A grid on a real two-node Ray cluster: results equal to the sequential grid's, a killed worker
retried from its checkpoint, Ctrl-C leaving every run `stopped` for --resume.

The nodes are `ray start` processes on this machine, with token authentication on (a random
token in RAY_AUTH_TOKEN, which the nodes and the driver share), bound to 127.0.0.2: loopback,
as 127.0.0.1 is, which Ray would replace by the machine's network address. They are stopped by
killing the processes that carry this module's marker in their environment (never `ray stop`,
which stops every Ray instance on the machine).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import run_benchmark

pytestmark = pytest.mark.cluster
from tests.small_stream import write_small_clinc_csv

REPO_ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
NODE_IP = "127.0.0.2"
RUNS = ["small-cil-finetune-seed0", "small-cil-finetune-seed1"]
# Where and when it ran; `threads` is checked apart (1 on the cluster's 1-CPU nodes).
RUNTIME = {"train_seconds", "eval_seconds", "train_examples_per_second", "threads", "provenance"}


def marked_processes(marker: str) -> list[int]:
    """This cluster's processes: the nodes, their workers and drivers inherit the marker."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"CLBENCH_TEST_CLUSTER={marker}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # ended, or not ours to read
            pass
    return pids


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop(marker: str) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in marked_processes(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster():
    """(address, environment with the token) of a head and one more node, 1 CPU each."""
    marker = secrets.token_hex(8)
    root = Path(tempfile.mkdtemp(prefix="clb-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    with socket.socket() as s:
        s.bind((NODE_IP, 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16), CLBENCH_TEST_CLUSTER=marker,
               OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    node = ["--node-ip-address", NODE_IP, "--num-cpus", "1", "--object-store-memory", str(100 * 1024**2),
            "--disable-usage-stats"]
    address = f"{NODE_IP}:{port}"
    try:
        for args in (["--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", str(root / "h")],
                     ["--address", address, "--temp-dir", str(root / "w")]):
            subprocess.run([RAY, "start", *args, *node], env=env, check=True, capture_output=True, timeout=300)
        yield address, env, marker
    finally:
        stop(marker)
        shutil.rmtree(root, ignore_errors=True)


def node_ids(marker: str) -> set[str]:
    """The node ids of this cluster, from its raylets' command lines."""
    return {arg.split("=", 1)[1] for pid in marked_processes(marker) for arg in command_line(pid).split()
            if arg.startswith("--node_id=") and "raylet" in command_line(pid).split()[0]}


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory) -> Path:
    return write_small_clinc_csv(tmp_path_factory.mktemp("data") / "small.csv", num_classes=6, per_class_train=5)


def grid_args(csv_path: Path, output: Path, *extra: str) -> list[str]:
    return ["--methods", "finetune", "--seeds", "0", "1", "--benchmark", str(csv_path), "--tasks", "3",
            "--backbone", "tiny-bert", "--max-length", "32", "--batch-size", "8", "--epochs", "300",
            "--wandb", "disabled", "--output", str(output), *extra]


def results(output: Path, run: str) -> dict:
    return json.loads((output / run / "results.json").read_text())


@pytest.fixture(scope="module")
def sequential(csv_path, tmp_path_factory) -> dict[str, dict]:
    output = tmp_path_factory.mktemp("sequential")
    assert run_benchmark.main(grid_args(csv_path, output)) == 0
    return {run: results(output, run) for run in RUNS}


def start_on_cluster(cluster, csv_path: Path, output: Path, *extra: str) -> subprocess.Popen:
    address, env, _ = cluster
    args = grid_args(csv_path, output, "--workers", "2", "--ray-address", address, *extra)
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "run_benchmark.py"), *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_every_run_has_a_task(output: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        done = [results(output, run)["completed_tasks"] for run in RUNS if (output / run / "results.json").exists()]
        if len(done) == len(RUNS) and min(done) >= 1:
            assert max(done) < 3, "too fast to interrupt: raise --epochs"
            return
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"the runs did not reach task 1: {process.communicate()}")


def assert_equal_to_sequential(output: Path, sequential: dict[str, dict]) -> None:
    for run in RUNS:
        record = results(output, run)
        assert record["status"] == "finished" and record["threads"] == 1
        assert {k: v for k, v in record.items() if k not in RUNTIME} == {
            k: v for k, v in sequential[run].items() if k not in RUNTIME
        }


def test_a_grid_on_two_nodes_lands_on_both_and_equals_the_sequential_grid(cluster, csv_path, sequential, tmp_path):
    process = start_on_cluster(cluster, csv_path, tmp_path)
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr
    assert "Ray: 2 workers x 1 threads" in stdout
    assert_equal_to_sequential(tmp_path, sequential)
    nodes = {results(tmp_path, run)["provenance"]["node"] for run in RUNS}
    assert nodes == node_ids(cluster[2]) and len(nodes) == 2


def test_a_killed_worker_is_retried_from_its_checkpoint(cluster, csv_path, sequential, tmp_path):
    process = start_on_cluster(cluster, csv_path, tmp_path)
    wait_until_every_run_has_a_task(tmp_path, process)
    workers = [pid for pid in marked_processes(cluster[2]) if command_line(pid).startswith("ray::run_remote_job")]
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)

    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr
    assert stdout.count("resumed after task") == 1  # the killed run, from its checkpoint; the other ran on
    assert_equal_to_sequential(tmp_path, sequential)


def test_ctrl_c_stops_every_run_and_resume_finishes_them(cluster, csv_path, sequential, tmp_path):
    process = start_on_cluster(cluster, csv_path, tmp_path)
    wait_until_every_run_has_a_task(tmp_path, process)
    process.send_signal(signal.SIGINT)

    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: every completed task is saved; rerun with --resume to continue"
    for run in RUNS:
        stopped = results(tmp_path, run)
        assert stopped["status"] == "stopped" and 1 <= stopped["completed_tasks"] < 3
        assert (tmp_path / run / "checkpoint.pt").is_file()

    resumed = start_on_cluster(cluster, csv_path, tmp_path, "--resume")
    stdout, stderr = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, stderr
    assert stdout.count("resumed after task") == 2
    assert_equal_to_sequential(tmp_path, sequential)


def test_a_driver_without_the_token_is_refused(cluster, csv_path, tmp_path):
    address, env, marker = cluster
    args = grid_args(csv_path, tmp_path, "--workers", "2", "--ray-address", address)
    refused = subprocess.run([sys.executable, str(REPO_ROOT / "run_benchmark.py"), *args], cwd=REPO_ROOT,
                             env={**env, "RAY_AUTH_TOKEN": secrets.token_hex(16)}, capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    # Ray's C++ client logs its failed attempts to stderr first (`W ... gcs_client.cc: ... Unauthenticated`).
    error = refused.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: cannot join the Ray cluster at {address} (Failed to connect to Ray cluster"), error
    assert "Unauthenticated" in refused.stderr
    assert not any((tmp_path / run).exists() for run in RUNS)


def descendants(pid: int) -> list[int]:
    children = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            pass
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def test_a_killed_node_s_run_is_retried_on_the_other_node(cluster, csv_path, sequential, tmp_path):
    """Last in this module: the second node does not come back."""
    process = start_on_cluster(cluster, csv_path, tmp_path)
    wait_until_every_run_has_a_task(tmp_path, process)
    raylets = [pid for pid in marked_processes(cluster[2]) if "raylet" in command_line(pid).split()[0]]
    (second,) = [pid for pid in raylets if "--head" not in command_line(pid).split()]
    for pid in [second, *descendants(second)]:  # the node and its workers, as a lost machine
        os.kill(pid, signal.SIGKILL)

    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr
    assert stdout.count("resumed after task") == 1  # the lost node's run, from its checkpoint, on the head
    assert_equal_to_sequential(tmp_path, sequential)
    assert len({results(tmp_path, run)["provenance"]["node"] for run in RUNS}) == 1
