"""SEQ* (Zheng et al., "Learn or Recall?", ACL 2024): sequential fine-tuning with four fixes and no buffer:
cosine heads, every task's head from task 1, the encoder trained during a warm-up on task 1 and frozen
after, the heads of finished tasks frozen. See `baselines.plugins.seq_star`.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import Method, RunContext, option


@dataclass(frozen=True)
class SeqStarSettings:
    warmup_epochs: int = option(
        3, "count0", "epochs of task 1 that train the encoder, before --epochs on the frozen one", metavar="E",
    )  # the Learn-or-Recall configs
    preallocate_heads: bool = option(
        True, "switch", "every task's head from task 1 (future classes as negatives) or one per task",
        metavar="yes|no", shown="yes",
    )


def plugin(settings: SeqStarSettings, run: RunContext):
    from baselines.plugins.seq_star import SeqStarPlugin

    return SeqStarPlugin(settings.warmup_epochs, settings.preallocate_heads, run.epochs)


METHOD = Method(
    name="seq-star", order=60,
    summary="SEQ*, cosine heads, encoder warm-up on task 1 then frozen, old heads frozen",
    plugin=plugin, settings=SeqStarSettings,
    search={"head_lr": (1e-3, 3e-3, 1e-2), "warmup_epochs": (1, 3), "epochs": (1, 3)},
    heads=("linear", "cosine"), head="cosine",
    cost=0.6,  # the encoder is frozen after task 1: later tasks run it forward only
)
