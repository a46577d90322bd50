"""SEQ* (Zheng et al., "Learn or Recall?", ACL 2024): sequential fine-tuning with four fixes, no buffer.

1. cosine heads (the run's head is `cosine`, whatever `--head` says);
2. all heads allocated before task 1 (`preallocate_heads`), so the CE of every task already
   sees the classes still to come as negatives; otherwise one head per task, as for every method;
3. the encoder trains during task 1 only, for `warmup_epochs` epochs, and is frozen after
   (in eval mode: no dropout, so later heads are fitted on the features a probe would see;
   with 0 warm-up epochs it never trains and task 1 fits its head for `--epochs`);
4. the heads of finished tasks are frozen.

Later tasks train for `--epochs` with the current head (and, pre-allocated, the heads still to
come) as the only trainable weights. Freezing is decided from the task index at the start of
every task, so a resumed run freezes what an uninterrupted one does.
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
        warm_up = task == 0 and self.warmup_epochs > 0
        strategy.train_epochs = self.warmup_epochs if warm_up else self.epochs
        model = strategy.model
        model.backbone.requires_grad_(warm_up)
        for index, head in enumerate(model.heads):
            head.requires_grad_(index >= task)

    def before_training_epoch(self, strategy, **kwargs):
        """Avalanche puts the whole model in train mode before each task; a frozen encoder stays in eval mode."""
        backbone = strategy.model.backbone
        if not next(backbone.parameters()).requires_grad:
            backbone.eval()
