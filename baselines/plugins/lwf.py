"""Learning without Forgetting (Li & Hoiem, 2016) on the suite's heads:

    loss = CE(new) + alpha * KL_T(current model || previous model) on the new examples,

the KL at temperature T averaged over the distillation groups of the output space: the softmax
over all old columns in CIL, each old task head separately in TIL, the vocabulary distribution at
every answer position on the generative head. Avalanche's `LwFPlugin` distils one softmax over
all old units and keys old classes by dataset task label, which on concatenated heads distils
only task 0's classes in TIL.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods.plugin import MethodPlugin
from methods.snapshot import frozen_copy, restored_teacher, teacher_state


class LwFPlugin(MethodPlugin):
    def __init__(self, alpha: float, temperature: float):
        super().__init__()
        self.alpha = alpha
        self.temperature = temperature
        self.teacher = None

    def after_training_exp(self, strategy, **kwargs):
        self.teacher = frozen_copy(strategy.model)

    def before_backward(self, strategy, **kwargs):
        if self.teacher is None:
            return
        n, space = strategy.num_new, strategy.output_space
        x, y = strategy.mb_x[:n], strategy.mb_y[:n]
        with torch.no_grad(), strategy.autocast():
            old = space.logits(self.teacher, x, y).float()
        groups = space.kd_pairs(strategy.mb_output[:n], old, y)
        self.add_loss(strategy, "lwf_kd", self.alpha, torch.stack([self.kl(new, old) for new, old in groups]).mean())

    def kl(self, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        T = self.temperature
        return F.kl_div(F.log_softmax(new / T, dim=1), F.softmax(old / T, dim=1), reduction="batchmean")

    def checkpoint_state(self) -> dict:
        return teacher_state(self.teacher)

    def restore_checkpoint(self, state: dict, model) -> None:
        self.teacher = restored_teacher(state, model)
