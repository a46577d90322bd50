"""The provenance block: the commit, library versions, machine and backbone weights behind a run."""

import importlib.metadata
import socket
import subprocess
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch

import run_benchmark

from benchmarks.engine import hardware
from benchmarks.engine import provenance as prov
from benchmarks.engine.provenance import PACKAGES, REPO_ROOT, finished, provenance

HERE_REPO = Path(__file__).resolve().parents[1]
KEYS = {
    "git_commit", "git_dirty", "version", "packages", "python", "cpu", "gpu", "torch_threads",
    "node", "command", "started_at", "finished_at", "backbone_sha256", "backbone_dtype", "cpu_bf16",
    "attn_implementation",
}


def linear(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


def git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True, text=True, check=False,
    )


def test_exactly_the_documented_keys():
    record = provenance("python run_benchmark.py --x", None)
    assert set(record) == KEYS
    assert record["command"] == "python run_benchmark.py --x"
    assert record["finished_at"] is None and record["backbone_sha256"] is None
    assert set(finished(record)) == KEYS


def test_repo_root_is_this_checkout():
    assert REPO_ROOT == HERE_REPO


def test_git_commit_is_head_of_this_checkout():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE_REPO, capture_output=True, text=True, check=True)
    record = provenance("cmd", None)
    assert record["git_commit"] == head.stdout.strip()
    assert isinstance(record["git_dirty"], bool)


def test_git_dirty_follows_tracked_edits_only(tmp_path):
    assert git(tmp_path, "init", "-q").returncode == 0
    (tmp_path / "a.txt").write_text("one\n")
    git(tmp_path, "add", "a.txt")
    assert git(tmp_path, "commit", "-q", "-m", "first").returncode == 0
    (tmp_path / "untracked.txt").write_text("not part of the code\n")
    clean = provenance("cmd", None, repo=tmp_path)
    assert clean["git_commit"] == git(tmp_path, "rev-parse", "HEAD").stdout.strip()
    assert clean["git_dirty"] is False
    (tmp_path / "a.txt").write_text("two\n")
    assert provenance("cmd", None, repo=tmp_path)["git_dirty"] is True


def test_outside_a_checkout_git_fields_are_none(tmp_path):
    assert git(tmp_path, "rev-parse", "HEAD").returncode != 0, "tmp_path should not be inside a git checkout"
    record = provenance("cmd", None, repo=tmp_path)
    assert record["git_commit"] is None and record["git_dirty"] is None


def test_missing_git_gives_none_not_an_error(monkeypatch):
    monkeypatch.setenv("PATH", "")
    record = provenance("cmd", None, repo=HERE_REPO)
    assert record["git_commit"] is None and record["git_dirty"] is None


def expected_version(name: str):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_package_versions_are_the_installed_ones():
    record = provenance("cmd", None)
    names = ("torch", "transformers", "avalanche-lib", "datasets", "wandb", "ray", "scikit-learn", "scipy")
    assert PACKAGES == names
    assert record["packages"] == {name: expected_version(name) for name in names}
    assert record["packages"]["torch"] is not None
    assert record["version"] == expected_version("clbench-text")


def test_absent_package_is_none():
    assert prov._version("no-such-package-clbench-test") is None


def test_machine_fields():
    record = provenance("cmd", None)
    assert isinstance(record["cpu"], str) and record["cpu"] and record["cpu"] == record["cpu"].strip()
    assert record["torch_threads"] == torch.get_num_threads()
    assert record["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    assert isinstance(record["python"], str) and record["python"].count(".") == 2


def test_native_bf16_flags_come_from_the_cpu(monkeypatch, tmp_path):
    record = provenance("cmd", None)
    assert set(record["cpu_bf16"]) <= {"amx_bf16", "avx512_bf16"}
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: X\nflags\t\t: fpu avx2 amx_tile amx_bf16 avx512f\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
    assert provenance("cmd", None)["cpu_bf16"] == ["amx_bf16"]
    assert hardware.native_bf16("cpu") and hardware.resolved_precision("auto") in ("bf16", "fp32")
    if not torch.cuda.is_available():
        assert hardware.resolved_precision("auto") == "bf16"
        assert run_benchmark.parse_args(["--methods", "finetune", "--precision", "auto"]).precision == "bf16"
        assert hardware.attn_implementation("cpu", "bf16") == "eager"
    assert hardware.attn_implementation("cpu", "fp32") is None  # fp32 keeps the default kernel: results as before
    cpuinfo.write_text("model name\t: X\nflags\t\t: fpu avx2 fma\n")
    assert provenance("cmd", None)["cpu_bf16"] == [] and not hardware.native_bf16("cpu")
    assert hardware.attn_implementation("cpu", "bf16") is None
    if not torch.cuda.is_available():
        assert hardware.resolved_precision("auto") == "fp32"
        assert run_benchmark.parse_args(["--methods", "finetune", "--precision", "auto"]).precision == "fp32"
    assert hardware.resolved_precision("bf16") == "bf16" and hardware.resolved_precision("fp32") == "fp32"


def test_the_attention_kernel_is_recorded():
    from benchmarks.models.loading import load_backbone

    assert provenance("cmd", load_backbone("tiny-bert")[0])["attn_implementation"] == "sdpa"
    assert provenance("cmd", load_backbone("tiny-bert", attn_implementation="eager")[0])["attn_implementation"] == "eager"


def test_started_and_finished_are_utc_and_ordered():
    before = datetime.now(timezone.utc).replace(microsecond=0)
    record = provenance("cmd", None)
    done = finished(record)
    started, ended = datetime.fromisoformat(record["started_at"]), datetime.fromisoformat(done["finished_at"])
    assert started.utcoffset() == timedelta(0) and ended.utcoffset() == timedelta(0)
    assert before <= started <= ended <= datetime.now(timezone.utc)
    assert record["finished_at"] is None, "finished must return a copy, not edit the record"
    assert {k: v for k, v in done.items() if k != "finished_at"} == {
        k: v for k, v in record.items() if k != "finished_at"
    }


def test_backbone_hash_identifies_the_weights():
    a, b = linear(seed=0), linear(seed=0)
    hash_a = provenance("cmd", a)["backbone_sha256"]
    assert isinstance(hash_a, str) and len(hash_a) == 64 and int(hash_a, 16) >= 0
    assert provenance("cmd", b)["backbone_sha256"] == hash_a
    with torch.no_grad():
        b[0].weight[1, 2] += 1e-6
    assert b[0].weight[1, 2] != a[0].weight[1, 2]
    assert provenance("cmd", b)["backbone_sha256"] != hash_a
    assert provenance("cmd", linear(seed=1))["backbone_sha256"] != hash_a


def test_backbone_hash_handles_bf16_and_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).to(torch.bfloat16)
    first = provenance("cmd", model)["backbone_sha256"]
    assert first == provenance("cmd", model)["backbone_sha256"]
    model[1].running_mean.fill_(1.0)  # a buffer, not a parameter: still part of the weights as loaded
    assert provenance("cmd", model)["backbone_sha256"] != first


def test_node_is_the_hostname_without_ray(monkeypatch):
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        pytest.skip("a Ray session is running in this process")
    assert provenance("cmd", None)["node"] == socket.gethostname()
    fake = types.SimpleNamespace(is_initialized=lambda: False)
    monkeypatch.setitem(sys.modules, "ray", fake)
    assert provenance("cmd", None)["node"] == socket.gethostname()


def test_node_is_the_ray_node_inside_ray(monkeypatch):
    context = types.SimpleNamespace(get_node_id=lambda: "ray-node-abc123")
    fake = types.SimpleNamespace(is_initialized=lambda: True, get_runtime_context=lambda: context)
    monkeypatch.setitem(sys.modules, "ray", fake)
    assert provenance("cmd", None)["node"] == "ray-node-abc123"
