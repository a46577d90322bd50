"""Everything a run needs to continue after its last completed task, in one file per run.

Saved after each task: the model with its heads, the method plugin's state (replay buffer with
stored logits; a teacher is rebuilt from the model, which it equals at a task boundary),
the RNG states, Avalanche's clock and the partial results. The optimizer is not saved:
the harness builds a fresh one at the start of every task.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from benchmarks.atomic import write_atomically
from benchmarks.results import Progress, completed
from benchmarks.errors import first_line

FILE_NAME = "checkpoint.pt"
# The layout of the saved state: raise it when a change makes older checkpoints unrestorable.
# Checkpoints without "format" are format 1 (no config); `method_state` still reads them.
FORMAT = 2


def rng_states() -> dict:
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save(path: Path, strategy, progress: Progress, config: dict) -> None:
    """`config`: the run's settings (RunConfig as a dict), checked before a resume."""
    plugin = strategy.method_plugin
    state = {
        "format": FORMAT,
        "config": config,
        "model": strategy.model.state_dict(),
        "head_sizes": list(strategy.model.head_sizes),
        "method": plugin.checkpoint_state() if plugin else None,
        "clock": {k: v for k, v in vars(strategy.clock).items() if isinstance(v, int)},
        "rng": rng_states(),
        "progress": progress.saved(),
    }
    # Serialized in memory first: torch reports a full disk as a RuntimeError from its zip writer,
    # a plain write reports it as the OSError that names the problem.
    data = io.BytesIO()
    torch.save(state, data)
    write_atomically(path, data.getvalue())


def check(path: Path, config: dict, matrix: list) -> str | None:
    """Why the checkpoint at `path` cannot continue the run with `config` whose results file
    holds `matrix`, or None.

    Read before a grid starts, so that a damaged file (a truncated or garbage write, a copy
    from another run, a layout this code does not know) stops the grid, not one run mid-way.
    Tensors are memory-mapped, not read: this costs little even for a large model.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        fmt, progress = state.get("format", 1), state["progress"]
        rows = progress["matrix"]
    except Exception as e:  # torch's reader and unpickling raise many types
        return f"it cannot be read ({first_line(e)[:80]})"
    if fmt > FORMAT:
        return f"it has format {fmt}, written by a newer version of this suite (this one reads up to {FORMAT})"
    saved = completed(state.get("config", config))
    changed = [k for k in config if k != "device" and saved.get(k) != config[k]]
    if changed:
        return f"it was saved by a run with {changed[0]}={saved.get(changed[0])!r}, not {config[changed[0]]!r}"
    # Saved before its results file: it holds the file's rows, and at most one more.
    if rows[: len(matrix)] != matrix or len(rows) > len(matrix) + 1:
        return f"its {len(rows)} tasks of accuracies are not those of the results file ({len(matrix)} tasks)"
    return None


def method_state(state: dict) -> dict | None:
    """The method plugin's state. Checkpoints written before methods were one plugin each hold a
    list with one entry per plugin (DER++: the buffer's, then the distillation's; others None):
    their entries, merged, are the state of today's single plugin."""
    if "method" in state:
        return state["method"]
    parts = [part for part in state["plugins"] if part is not None]
    return {k: v for part in parts for k, v in part.items()} if parts else None


def restore(path: Path, strategy) -> Progress:
    """Loads a checkpoint into a freshly built strategy; returns the saved progress."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = strategy.model
    for size in state["head_sizes"][len(model.head_sizes):]:
        model.add_head(size)
    model.load_state_dict(state["model"])
    model.to(strategy.device)
    saved = method_state(state)
    if saved is not None:
        strategy.method_plugin.restore_checkpoint(saved, model)
    for k, v in state["clock"].items():
        setattr(strategy.clock, k, v)
    set_rng_states(state["rng"])
    return Progress.from_saved(state["progress"])
