"""Everything a run needs to continue after its last completed task, in one file per run.

Saved after each task: the model with its heads, each plugin's state (replay buffer with
stored logits; a teacher is rebuilt from the model, which it equals at a task boundary),
the RNG states, Avalanche's clock and the partial results. The optimizer is not saved:
the harness builds a fresh one at the start of every task.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

FILE_NAME = "checkpoint.pt"


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


def save(path: Path, strategy, progress: dict) -> None:
    """Atomically: a temporary file, then a rename."""
    state = {
        "model": strategy.model.state_dict(),
        "head_sizes": list(strategy.model.head_sizes),
        "plugins": [p.checkpoint_state() if hasattr(p, "checkpoint_state") else None for p in strategy.plugins],
        "clock": {k: v for k, v in vars(strategy.clock).items() if isinstance(v, int)},
        "rng": rng_states(),
        "progress": progress,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def restore(path: Path, strategy) -> dict:
    """Loads a checkpoint into a freshly built strategy; returns the saved progress."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = strategy.model
    for size in state["head_sizes"][len(model.head_sizes):]:
        model.add_head(size)
    model.load_state_dict(state["model"])
    model.to(strategy.device)
    for plugin, plugin_state in zip(strategy.plugins, state["plugins"]):
        if plugin_state is not None:
            plugin.restore_checkpoint(plugin_state, model)
    for k, v in state["clock"].items():
        setattr(strategy.clock, k, v)
    set_rng_states(state["rng"])
    return state["progress"]
