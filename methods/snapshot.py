"""A frozen copy of the model: the teacher of LwF and of DER++'s `teacher` logit source."""

from __future__ import annotations

import copy

from torch import nn


def frozen_copy(model: nn.Module) -> nn.Module:
    """Deep copy in eval mode (no dropout) with gradients off."""
    teacher = copy.deepcopy(model).eval()
    teacher.requires_grad_(False)
    return teacher


class TeacherCheckpoint:
    """Checkpoint support for a plugin whose `teacher` is a frozen copy taken at the end of a task.

    At a task boundary the teacher equals the model, so a checkpoint records only whether one
    exists and a resumed run rebuilds it from the restored model.
    """

    def checkpoint_state(self) -> dict:
        return {"has_teacher": self.teacher is not None}

    def restore_checkpoint(self, state: dict, model: nn.Module) -> None:
        self.teacher = frozen_copy(model) if state["has_teacher"] else None
