"""GDumb (Avalanche's plugin): each task resets the model and trains it on the class-balanced buffer only."""

from __future__ import annotations

from collections import Counter

import torch
from avalanche.core import SupervisedPlugin

from tests.method_harness import make_strategy

BUFFER = 20  # fewer than a task's 90 examples: the buffer, not the task, is what training sees


class TaskStart(SupervisedPlugin):
    """The backbone's weights when each task's training starts."""

    def __init__(self):
        super().__init__()
        self.backbones = []

    def before_training_exp(self, strategy, **kwargs):
        self.backbones.append({k: v.clone() for k, v in strategy.model.backbone.state_dict().items()})


def rows(ids: torch.Tensor, y: torch.Tensor) -> Counter:
    return Counter((tuple(i.tolist()), int(c)) for i, c in zip(ids, y))


def test_each_task_trains_a_reset_model_on_the_class_balanced_buffer_only():
    strategy, bench, plugin, probe = make_strategy("gdumb", "cil", batch_size=4, buffer_size=BUFFER)
    initial = {k: v.clone() for k, v in strategy.model.backbone.state_dict().items()}
    start = TaskStart()
    strategy.plugins.append(start)
    for task in range(3):
        first = len(probe.steps)
        strategy.train(bench.train_stream[task])
        buffer = plugin.storage_policy.buffer
        kept = list(torch.utils.data.DataLoader(buffer, batch_size=len(buffer)))[0]
        # Class-balanced: an equal share (within one) of the buffer for each class seen so far.
        counts = Counter(kept[1].tolist())
        assert len(counts) == 3 * (task + 1) and sum(counts.values()) == BUFFER
        assert max(counts.values()) - min(counts.values()) <= 1
        # The task trained on exactly the buffer's examples, each once (one epoch), nothing else.
        trained = sum((rows(s.x, s.y) for s in probe.steps[first:]), Counter())
        assert trained == rows(kept[0], kept[1])
        # ... starting from the initial backbone, not the one the last task left.
        for name, value in initial.items():
            assert torch.equal(start.backbones[task][name], value), name
        assert plugin.memory_bytes() == BUFFER * (24 * 8 + 2 * 8)  # int64 token ids, label and task label
    assert not all(torch.equal(v, initial[k]) for k, v in strategy.model.backbone.state_dict().items())  # it trained
