"""A frozen copy of the model: the teacher of LwF and of DER++'s `teacher` logit source."""

from __future__ import annotations

import copy

from torch import nn


def frozen_copy(model: nn.Module) -> nn.Module:
    """Deep copy in eval mode (no dropout) with gradients off."""
    teacher = copy.deepcopy(model).eval()
    teacher.requires_grad_(False)
    return teacher
