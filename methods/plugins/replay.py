"""Experience replay from a buffer in one joint batch: ER, and the replay half of DER++."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from methods.buffer import BufferBatch, ReservoirBuffer
from methods.plugin import MethodPlugin

FILL_BATCH = 128  # examples per forward when a class-balanced buffer computes the logits it stores


class ReplayPlugin(MethodPlugin):
    """Appends a buffer draw to every training batch and adds `beta * CE(buffer)` (ER: beta = 1).

    The strategy's own criterion covers the first `strategy.num_new` rows (the new data);
    one forward pass serves both parts. A reservoir buffer takes the new examples after every
    update, with the logits of that same forward pass when it stores logits (DER); a
    class-balanced buffer is filled from the task's examples when the task ends.
    """

    def __init__(self, buffer: ReservoirBuffer, batch_size: int, beta: float = 1.0):
        super().__init__()
        self.buffer = buffer
        self.batch_size = batch_size
        self.beta = beta
        self.drawn: BufferBatch | None = None

    def checkpoint_state(self) -> dict:
        return self.buffer.state_dict()

    def restore_checkpoint(self, state: dict, model) -> None:
        self.buffer.load_state_dict(state)

    def memory_bytes(self) -> int:
        return self.buffer.nbytes()

    def before_forward(self, strategy, **kwargs):
        if len(self.buffer) == 0:
            self.drawn = None
            return
        self.drawn = self.buffer.sample(self.batch_size).to(strategy.device)
        x, y, task = strategy.mbatch[0], strategy.mbatch[1], strategy.mbatch[-1]
        strategy.mbatch = [torch.cat([x, self.drawn.ids]), torch.cat([y, self.drawn.y]), torch.cat([task, self.drawn.task])]

    def before_backward(self, strategy, **kwargs):
        if self.drawn is None:
            return
        buffer_logits = strategy.mb_output[strategy.num_new :]
        replay_ce = strategy.output_space.loss(buffer_logits, self.drawn.y, self.drawn.task)
        self.add_loss(strategy, "replay_ce", self.beta, replay_ce)

    def after_training_iteration(self, strategy, **kwargs):
        if not self.buffer.filled_per_step:
            return
        n = strategy.num_new
        logits = strategy.mb_output[:n].detach() if self.buffer.store_logits else None
        self.buffer.add(strategy.mb_x[:n], strategy.mb_y[:n], strategy.mb_task_id[:n], logits)

    def after_training_exp(self, strategy, **kwargs):
        if self.buffer.filled_per_step:
            return
        batches = list(DataLoader(strategy.experience.dataset, batch_size=FILL_BATCH))
        ids, y, task = (torch.cat([b[i] for b in batches]) for i in (0, 1, -1))

        def logits_of(ids: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            """The model's logits at the end of the task, in eval mode (no dropout)."""
            was_training = strategy.model.training
            strategy.model.eval()
            with torch.no_grad(), strategy.autocast():
                out = [
                    strategy.output_space.logits(strategy.model, ids[i : i + FILL_BATCH].to(strategy.device),
                                                 y[i : i + FILL_BATCH].to(strategy.device)).float().cpu()
                    for i in range(0, len(y), FILL_BATCH)
                ]
            strategy.model.train(was_training)
            return torch.cat(out)

        self.buffer.fill(ids, y, task, logits_of if self.buffer.store_logits else None)
