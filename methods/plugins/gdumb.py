"""GDumb (Prabhu et al., ECCV 2020): Avalanche's `GDumbPlugin`, unchanged.

Before each task the model is reset to the one the run started with (the pretrained backbone and
untrained heads) and the task trains only on a class-balanced buffer of `buffer_size` examples
(Avalanche's adaptive `ClassBalancedBuffer`: an equal share per class seen, reservoir-sampled within
a class), which the task's examples have just updated: `strategy.adapted_dataset` is the buffer.
"""

from __future__ import annotations

import copy

from avalanche.training.plugins import GDumbPlugin

from benchmarks.errors import UsageError
from methods.plugins.stock import StockPlugin, dataset_bytes


class GDumb(GDumbPlugin, StockPlugin):
    def before_training(self, strategy, **kwargs):
        """A buffer smaller than the classes would leave some class with no example to train on."""
        classes = len(strategy.task_split.class_names)
        if self.mem_size < classes:
            raise UsageError(f"gdumb keeps an equal share of --buffer-size per class: {self.mem_size} is fewer than the {classes} classes")

    def checkpoint_state(self) -> dict:
        init = None if self.init_model is None else self.init_model.state_dict()
        return {"storage_policy": self.storage_policy, "init_model": init}

    def restore_checkpoint(self, state: dict, model) -> None:
        """The initial model has as many heads as `model` at a task boundary: a copy takes its weights."""
        self.storage_policy = state["storage_policy"]
        self.init_model = copy.deepcopy(model)
        self.init_model.load_state_dict(state["init_model"])

    def memory_bytes(self) -> int:
        return dataset_bytes([self.storage_policy.buffer])
