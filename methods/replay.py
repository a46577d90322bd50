"""Experience replay from a reservoir buffer in one joint batch: ER, and the replay half of DER++."""

from __future__ import annotations

import torch

from methods.buffer import BufferBatch, ReservoirBuffer
from methods.plugin import MethodPlugin


class ReplayPlugin(MethodPlugin):
    """Appends a buffer draw to every training batch and adds `beta * CE(buffer)` (ER: beta = 1).

    The strategy's own criterion covers the first `strategy.num_new` rows (the new data);
    one forward pass serves both parts. After the update the new examples enter the buffer,
    with the logits of that same forward pass when the buffer stores logits (DER).
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
        n = strategy.num_new
        logits = strategy.mb_output[:n].detach() if self.buffer.store_logits else None
        self.buffer.add(strategy.mb_x[:n], strategy.mb_y[:n], strategy.mb_task_id[:n], logits)
