"""DER++ (Buzzega et al., NeurIPS 2020) as one Avalanche plugin.

    loss = CE(new) + beta * CE(buffer) + alpha * MSE(buffer logits, targets)

in one forward pass over the batch [new rows; a draw from the reservoir buffer]. CE(new) is the
strategy's criterion; `ReplayPlugin` (ER) appends the draw and adds `beta * CE(buffer)`; this
plugin adds the MSE. The targets come from one of two sources:

- `stored` (the DER paper): the logits the model produced for an example in the step it entered
  the buffer, saved with it (with a class-balanced buffer, filled at the end of a task: the logits of
  the model at the end of that task);
- `teacher` (the Learn-or-Recall codebase): a frozen copy of the model taken when the current task
  started (there is none during task 0, so task 0 has no MSE).

The MSE covers only the entries a target has, as the output space defines them: the columns of
the heads that existed when the target was made (and in TIL only the example's own head), or the
answer positions of the generative head. `beta = 0` gives DER. The Learn-or-Recall codebase's two
TIL bugs (new-task CE scaled by beta; the current head distilled toward an untrained copy) are
not reproduced.
"""

from __future__ import annotations

import torch

from methods.buffer import BufferBatch, ReservoirBuffer
from methods.plugins.replay import ReplayPlugin
from methods.snapshot import frozen_copy, restored_teacher, teacher_state


class DERppPlugin(ReplayPlugin):
    def __init__(self, buffer: ReservoirBuffer, batch_size: int, alpha: float, beta: float, logits: str):
        super().__init__(buffer, batch_size, beta)
        self.alpha = alpha
        self.logits = logits  # "stored" | "teacher"
        self.teacher = None
        self.teacher_logits: dict[bytes, torch.Tensor] = {}  # token ids -> the current teacher's logits

    def before_backward(self, strategy, **kwargs):
        super().before_backward(strategy)  # + beta * CE(buffer)
        drawn = self.drawn
        if drawn is None or (self.logits == "teacher" and self.teacher is None):
            return  # nothing replayed yet, or task 0 of teacher mode: no teacher exists
        buffer_logits = strategy.mb_output[strategy.num_new :]
        if self.logits == "stored":
            targets, width = drawn.logits, drawn.width
        else:
            targets, width = self.teacher_targets(strategy, drawn), None
        mse = strategy.output_space.mse(buffer_logits, targets, drawn.y, drawn.task, width, drawn.index)
        self.add_loss(strategy, "mse", self.alpha, mse)

    def after_training_exp(self, strategy, **kwargs):
        super().after_training_exp(strategy)  # a class-balanced buffer is filled now
        if self.logits == "teacher":
            self.teacher = frozen_copy(strategy.model)
            self.teacher_logits = {}

    def teacher_targets(self, strategy, drawn: BufferBatch) -> torch.Tensor:
        """The teacher's logits for the drawn rows, each example forwarded once per teacher.

        The teacher is fixed for a whole task, and on a classifier head its logits depend on the
        token ids alone; a task draws most buffer examples more than once (CLINC150: 1024 draws
        from 500 examples), so forwarding only the rows not seen yet saves about half the teacher's
        forwards. Output spaces whose targets are too large to keep (vocabulary-wide rows) say so.
        """
        space = strategy.output_space
        if not space.keeps_teacher_logits:
            with torch.no_grad(), strategy.autocast():
                return space.logits(self.teacher, drawn.ids, drawn.y).float()
        keys = [row.numpy().tobytes() for row in drawn.ids.cpu()]
        new = [i for i, key in enumerate(keys) if key not in self.teacher_logits]
        if new:
            rows = torch.tensor(new, device=drawn.ids.device)
            with torch.no_grad(), strategy.autocast():
                logits = space.logits(self.teacher, drawn.ids[rows], drawn.y[rows]).float()
            self.teacher_logits.update(zip((keys[i] for i in new), logits))
        return torch.stack([self.teacher_logits[key] for key in keys])

    def checkpoint_state(self) -> dict:
        return {**super().checkpoint_state(), **teacher_state(self.teacher)}

    def restore_checkpoint(self, state: dict, model) -> None:
        super().restore_checkpoint(state, model)
        self.teacher = restored_teacher(state, model)
