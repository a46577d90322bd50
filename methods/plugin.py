"""The contract between a method's plugin and the strategy that runs it.

Every method is at most one `MethodPlugin` on the suite's strategy
(`benchmarks.engine.strategy.ContinualStrategy`, Avalanche's `SupervisedTemplate` with
growing heads). In its hooks a method plugin reads and writes only the strategy attributes
named in `READS` and `WRITES` (tested in tests/test_contract.py):

- a training batch is [new rows; rows the plugin appended]: `num_new` is the number of new
  rows, the strategy's criterion covers only those, and `mb_output` holds the logits of all rows;
- `output_space` says what the logits mean (see `benchmarks.models.output_space`): the loss, the
  candidates, DER's MSE and LwF's distillation groups, for every head x scenario, so a plugin
  never branches on the head or the scenario;
- `autocast()` is the run's precision context, for a plugin's own forward passes (a teacher);
- a plugin appends rows by replacing `mbatch` in `before_forward`, may mask the new rows' logits by
  replacing `mb_output` in `after_forward` (ER-ACE), and adds its loss terms with `add_loss` in
  `before_backward`;
- `predict` is the evaluation's prediction: the model's own, unless the method classifies otherwise (NCM);
- a plugin may set `train_epochs` in `before_training_exp` (SEQ*'s warm-up task), and freeze
  parts of `model` (requires_grad, eval mode); `allocates_all_heads` asks the strategy for every
  task's head before task 1;
- `prepare_model` may change the freshly loaded model once, when the strategy is built (peft's
  adapters), before any optimizer or checkpoint sees it.
"""

from __future__ import annotations

import torch
from avalanche.core import SupervisedPlugin

READS = frozenset({
    "model", "device", "clock", "experience", "mbatch", "mb_x", "mb_y", "mb_task_id", "mb_output",
    "num_new", "loss", "loss_terms", "output_space", "autocast", "train_epochs", "predict",
})
WRITES = frozenset({"mbatch", "mb_output", "loss", "train_epochs"})


class MethodPlugin(SupervisedPlugin):
    """A continual-learning method as one Avalanche plugin; see the module docstring for the contract."""

    allocates_all_heads = False  # True: the strategy adds every task's head before task 1

    def add_loss(self, strategy, name: str, weight: float, term: torch.Tensor) -> None:
        """`loss += weight * term`, with the term recorded (detached) for the progress bar and W&B."""
        strategy.loss_terms[name] = term.detach()
        strategy.loss = strategy.loss + weight * term

    def predict(self, strategy, ids: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """Class ids of `ids` among the `allowed` ones ([batch, classes] mask): the strategy's own prediction."""
        return strategy.predict(ids, allowed)

    def prepare_model(self, model) -> None:
        """Changes the freshly loaded model before the strategy is built on it; nothing by default."""

    def checkpoint_state(self) -> dict | None:
        """What a resumed run needs to continue at a task boundary (None: nothing)."""
        return None

    def restore_checkpoint(self, state: dict, model) -> None:
        """Restores `checkpoint_state()` into a freshly built plugin; `model` is already restored."""

    def memory_bytes(self) -> int | None:
        """Bytes the method keeps of the stream (a replay buffer), recorded as `buffer_bytes`; None: none."""
        return None
