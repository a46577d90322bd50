"""Learning without Forgetting on our concatenated task heads.

Avalanche's `LwFPlugin` distils one softmax over all old units for a single-head model and
keys old classes by dataset task label, which mis-handles TIL on concatenated heads (only
task 0's classes would be distilled). Here: CIL distils the softmax over all old columns;
TIL distils each old task head separately and averages over heads. On the generative head
it distils the vocabulary distribution at every answer position of the new examples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin

from methods.snapshot import TeacherCheckpoint, frozen_copy


class LwFPlugin(TeacherCheckpoint, SupervisedPlugin):
    def __init__(self, alpha: float, temperature: float, task_split, scenario: str):
        super().__init__()
        self.alpha = alpha
        self.temperature = temperature
        self.task_split = task_split
        self.scenario = scenario
        self.teacher = None

    def after_training_exp(self, strategy, **kwargs):
        self.teacher = frozen_copy(strategy.model)

    def before_backward(self, strategy, **kwargs):
        if self.teacher is None:
            return
        n = strategy.num_new
        with torch.no_grad(), strategy.autocast():
            old = self.teacher(strategy.mb_x[:n], strategy.mb_y[:n]).float()
        new = strategy.mb_output[:n, : old.shape[1]]
        if strategy.model.generative:
            positions = strategy.model.answer_mask(strategy.mb_y[:n])
            kd = self.kl(new[positions], old[positions])  # [answer tokens, vocabulary]
        elif self.scenario == "til":
            heads = [self.task_split.columns(t) for t in range(len(self.teacher.heads))]
            kd = torch.stack([self.kl(new[:, cols], old[:, cols]) for cols in heads]).mean()
        else:
            kd = self.kl(new, old)
        strategy.loss_terms["lwf_kd"] = kd.detach()
        strategy.loss = strategy.loss + self.alpha * kd

    def kl(self, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        T = self.temperature
        return F.kl_div(F.log_softmax(new / T, dim=1), F.softmax(old / T, dim=1), reduction="batchmean")
