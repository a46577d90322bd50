"""Which code, libraries and machine produced a run: the `provenance` block of every results.json.

A result that stops reproducing must be traceable to what changed: the commit (and uncommitted
edits), a library version, the machine, or the backbone's weights themselves.
"""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from benchmarks.engine.hardware import cpu_bf16_flags
from benchmarks.models.fingerprint import weights_sha256

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "transformers", "avalanche-lib", "datasets", "wandb", "ray", "scikit-learn", "scipy")


def provenance(command: str, backbone: torch.nn.Module | None, repo: Path = REPO_ROOT) -> dict:
    """The record for a run started now by `command`; `finished` stamps its end."""
    commit = _git(repo, "rev-parse", "HEAD")
    status = _git(repo, "status", "--porcelain", "--untracked-files=no") if commit is not None else None
    return {
        "git_commit": commit.strip() if commit is not None else None,
        "git_dirty": bool(status.strip()) if status is not None else None,
        "version": _version("clbench-text"),
        "packages": {name: _version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "cpu": _cpu(),
        "cpu_bf16": cpu_bf16_flags(),  # its native-bf16 flags (amx_bf16, avx512_bf16): [] where bf16 is emulated
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
        "node": _node(),
        "command": command,
        "started_at": _now(),
        "finished_at": None,
        "backbone_sha256": weights_sha256(backbone) if backbone is not None else None,
        # The weights' dtype as loaded: fp32 under both --precision values (bf16 autocasts over fp32 weights).
        "backbone_dtype": str(next(backbone.parameters()).dtype).removeprefix("torch.") if backbone is not None else None,
        # The attention kernel the backbone was loaded with (benchmarks.engine.hardware.attn_implementation).
        "attn_implementation": getattr(getattr(backbone, "config", None), "_attn_implementation", None),
    }


def finished(record: dict) -> dict:
    """A copy of `record` with finished_at set to now."""
    return {**record, "finished_at": _now()}


def _git(repo: Path, *args: str) -> str | None:
    """git's stdout, or None when `repo` is not a checkout, git is missing or hangs."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _node() -> str:
    """Ray's node id inside a Ray job (a worker's hostname can be shared), else the hostname."""
    ray = sys.modules.get("ray")  # never imported here: importing ray takes seconds
    if ray is not None:
        try:
            if ray.is_initialized():
                return ray.get_runtime_context().get_node_id()
        except Exception:  # a half-imported or broken ray must not break a run
            pass
    return socket.gethostname()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
