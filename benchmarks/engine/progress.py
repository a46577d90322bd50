"""A progress bar per task and epoch (only on a terminal) with the running loss terms."""

from __future__ import annotations

from avalanche.core import SupervisedPlugin
from tqdm.auto import tqdm


class ProgressPlugin(SupervisedPlugin):
    def __init__(self, label: str, num_tasks: int):
        super().__init__()
        self.label, self.num_tasks = label, num_tasks
        self.bar = None

    def before_training_epoch(self, strategy, **kwargs):
        task = strategy.clock.train_exp_counter
        epochs = strategy.train_epochs  # a method may set its own for a task (SEQ*'s warm-up)
        desc = f"{self.label} task {task + 1}/{self.num_tasks} epoch {strategy.clock.train_exp_epochs + 1}/{epochs}"
        self.bar = tqdm(total=len(strategy.dataloader), desc=desc, leave=False, disable=None, dynamic_ncols=True)

    def after_training_iteration(self, strategy, **kwargs):
        if strategy.clock.train_exp_iterations % 10 == 0:
            terms = {"loss": strategy.loss.detach(), **strategy.loss_terms}
            self.bar.set_postfix({k: f"{float(v):.3f}" for k, v in terms.items()}, refresh=False)
        self.bar.update()

    def after_training_epoch(self, strategy, **kwargs):
        self.bar.close()
