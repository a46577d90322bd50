"""A-GEM (Chaudhry et al., ICLR 2019): Avalanche's `AGEMPlugin`, unchanged.

After each task it keeps `agem_patterns` random examples of it. Before every step it takes the
gradient g_ref of the run's loss on `agem_sample_size` memory examples (an equal share of each
earlier task); after the step's backward, a gradient g with g . g_ref < 0 is replaced by
g - (g . g_ref / g_ref . g_ref) g_ref, else left as it is.
"""

from __future__ import annotations

from avalanche.training.plugins import AGEMPlugin

from benchmarks.errors import UsageError
from methods.plugins.stock import StockPlugin, dataset_bytes


class AGEM(AGEMPlugin, StockPlugin):
    def before_training(self, strategy, **kwargs):
        """Avalanche draws sample_size // (tasks so far) examples per task: 0 fails in its data loader."""
        if self.sample_size < strategy.task_split.num_tasks - 1:
            raise UsageError(
                f"agem draws --agem-sample-size // (earlier tasks) examples of each earlier task: "
                f"{self.sample_size} is fewer than the {strategy.task_split.num_tasks - 1} earlier tasks of the last task"
            )

    def checkpoint_state(self) -> dict:
        return {"buffers": self.buffers}  # one Avalanche dataset of kept examples per task

    def restore_checkpoint(self, state: dict, model) -> None:
        """The last task's memory goes in through the plugin's own `update_memory`, which builds the
        sampler as an uninterrupted run does (it is no larger than `agem_patterns`: nothing is drawn)."""
        *earlier, last = state["buffers"]
        self.buffers = earlier
        self.update_memory(last)

    def memory_bytes(self) -> int:
        return dataset_bytes(self.buffers)
