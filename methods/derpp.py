"""DER's logit distillation on replayed examples: `alpha * MSE(student logits, targets)`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin

from methods.replay import ReplayPlugin
from methods.snapshot import TeacherCheckpoint, frozen_copy

LOGIT_SOURCES = ("stored", "teacher")


class LogitDistillationPlugin(TeacherCheckpoint, SupervisedPlugin):
    """Distils the replayed rows of the joint batch toward their target logits.

    `stored` (DER paper): the logits saved in the buffer when the example was inserted.
    `teacher` (Learn-or-Recall codebase): a frozen copy of the model as it was when the
    current task started, applied to the replayed examples (no teacher during task 0); on the
    classifier heads each example's teacher logits are computed once per task (`teacher_targets`).
    Only the columns the target has are compared (heads grow after a target was made),
    and in TIL only the example's own task head. On the generative head the logits are
    vocabulary rows at the answer positions: all of them against a teacher, the stored
    top-k entries otherwise; prompt and padding positions are never compared.
    """

    def __init__(self, replay: ReplayPlugin, alpha: float, source: str, task_split, scenario: str):
        super().__init__()
        self.replay = replay
        self.alpha = alpha
        self.source = source
        self.task_split = task_split
        self.scenario = scenario
        self.teacher = None
        self.teacher_logits: dict[bytes, torch.Tensor] = {}  # token ids -> the current teacher's logits

    def after_training_exp(self, strategy, **kwargs):
        if self.source == "teacher":
            self.teacher = frozen_copy(strategy.model)
            self.teacher_logits = {}

    def before_backward(self, strategy, **kwargs):
        drawn = self.replay.drawn
        if drawn is None or (self.source == "teacher" and self.teacher is None):
            return  # nothing replayed yet, or task 0 of teacher mode: no teacher exists
        targets = self.teacher_targets(strategy, drawn) if self.source == "teacher" else drawn.logits
        student = strategy.mb_output[strategy.num_new :]
        if strategy.model.generative:
            if drawn.index is not None:
                student = student.gather(-1, drawn.index)
            # Selecting the answer positions first: 2.4x cheaper than masking full vocabulary rows.
            positions = strategy.model.answer_mask(drawn.y)
            mse = F.mse_loss(student[positions], targets[positions])
        else:
            width = drawn.width if self.source == "stored" else torch.full_like(drawn.y, targets.shape[1])
            mse = masked_mse(student[:, : targets.shape[1]], targets, self.column_mask(width, drawn.task, targets.shape[1]))
        strategy.loss_terms["mse"] = mse.detach()
        strategy.loss = strategy.loss + self.alpha * mse

    def teacher_targets(self, strategy, drawn) -> torch.Tensor:
        """The teacher's logits for the drawn rows, each example forwarded once per teacher.

        The teacher is fixed for a whole task, and on a classifier head its logits depend on the
        token ids alone; a task draws most buffer examples more than once (CLINC150: 1024 draws
        from 500 examples), so forwarding only the rows not seen yet saves about half the teacher's
        forwards. The generative head's targets are vocabulary-wide rows: those are not kept.
        """
        if strategy.model.generative:
            with torch.no_grad(), strategy.autocast():
                return self.teacher(drawn.ids, drawn.y).float()
        keys = [row.numpy().tobytes() for row in drawn.ids.cpu()]
        new = [i for i, key in enumerate(keys) if key not in self.teacher_logits]
        if new:
            rows = torch.tensor(new, device=drawn.ids.device)
            with torch.no_grad(), strategy.autocast():
                logits = self.teacher(drawn.ids[rows], drawn.y[rows]).float()
            self.teacher_logits.update(zip((keys[i] for i in new), logits))
        return torch.stack([self.teacher_logits[key] for key in keys])

    def column_mask(self, width: torch.Tensor, task: torch.Tensor, columns: int) -> torch.Tensor:
        """Row i compares columns < width[i]; in TIL only those of its own task head."""
        cols = torch.arange(columns, device=width.device)
        mask = cols.unsqueeze(0) < width.unsqueeze(1)
        if self.scenario == "til":
            owner = self.task_split.task_of_class()[:columns].to(width.device)
            mask &= owner.unsqueeze(0) == task.unsqueeze(1)
        return mask


def masked_mse(student: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the selected entries only."""
    mask = mask.to(student.dtype)
    return ((student - target) ** 2 * mask).sum() / mask.sum().clamp(min=1.0)
