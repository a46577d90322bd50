"""SEQ* (Zheng et al., "Learn or Recall?", ACL 2024): sequential fine-tuning with four fixes, no buffer.

1. cosine heads (the run's head is `cosine`, whatever `--head` says);
2. all heads allocated before task 1 (`preallocate_heads`), so the CE of every task already
   sees the classes still to come as negatives; otherwise one head per task, as for every method;
3. the encoder trains during the first `warmup_epochs` epochs of task 1 only and is frozen after;
4. the heads of finished tasks are frozen.

As in the Learn-or-Recall codebase (`models/SEQ.py`), task 1 runs `warmup_epochs + epochs` epochs
(the last `epochs` fit the head on the frozen encoder) and later tasks `epochs`; a frozen encoder
stays in train mode (dropout on), as there. Freezing is decided from the task and epoch at hand,
so a resumed run freezes what an uninterrupted one does.
"""

from __future__ import annotations

from methods.plugin import MethodPlugin


class SeqStarPlugin(MethodPlugin):
    def __init__(self, warmup_epochs: int, preallocate_heads: bool, epochs: int):
        super().__init__()
        self.warmup_epochs = warmup_epochs
        self.allocates_all_heads = preallocate_heads
        self.epochs = epochs

    def before_training_exp(self, strategy, **kwargs):
        task = strategy.experience.current_experience
        strategy.train_epochs = self.epochs + (self.warmup_epochs if task == 0 else 0)
        for index, head in enumerate(strategy.model.heads):
            head.requires_grad_(index >= task)

    def before_training_epoch(self, strategy, **kwargs):
        warming_up = strategy.experience.current_experience == 0 and strategy.clock.train_exp_epochs < self.warmup_epochs
        strategy.model.backbone.requires_grad_(warming_up)
