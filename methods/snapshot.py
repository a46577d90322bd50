"""A frozen copy of the model: the teacher of LwF and of DER++'s `teacher` logit source."""

from __future__ import annotations

import copy

from torch import nn


def frozen_copy(model: nn.Module) -> nn.Module:
    """Deep copy in eval mode (no dropout) with gradients off."""
    teacher = copy.deepcopy(model).eval()
    teacher.requires_grad_(False)
    return teacher


def teacher_state(teacher) -> dict:
    """At a task boundary the teacher equals the model: a checkpoint records only whether one exists."""
    return {"has_teacher": teacher is not None}


def restored_teacher(state: dict, model: nn.Module):
    """The teacher of `teacher_state`, rebuilt from the restored model."""
    return frozen_copy(model) if state["has_teacher"] else None
