"""Which classes each task holds, as the heads see them: logit columns per task, TIL masks."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TaskSplit:
    """Which classes, in which order, each task holds; class id = position in `class_names`."""

    class_names: tuple[str, ...]
    task_sizes: tuple[int, ...]

    @property
    def num_tasks(self) -> int:
        return len(self.task_sizes)

    def columns(self, task: int) -> slice:
        """The logit columns (= class ids) of `task`'s head."""
        start = sum(self.task_sizes[:task])
        return slice(start, start + self.task_sizes[task])

    def task_of_class(self) -> torch.Tensor:
        return torch.repeat_interleave(torch.arange(self.num_tasks), torch.tensor(self.task_sizes))

    def allowed(self, task_ids: torch.Tensor, num_classes: int) -> torch.Tensor:
        """[batch, num_classes] mask of the classes of each example's own task (TIL)."""
        owner = self.task_of_class()[:num_classes].to(task_ids.device)
        return owner.unsqueeze(0) == task_ids.unsqueeze(1)

    def restrict(self, logits: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        """TIL scoring: every column outside the example's own task head set to -inf."""
        return logits.masked_fill(~self.allowed(task_ids, logits.shape[1]), float("-inf"))
