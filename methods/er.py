"""ER: experience replay (Chaudhry et al., 2019), a buffer draw appended to every training batch.

    loss = CE(new) + CE(buffer)

The replay options are shared by every method that keeps a buffer (`ReplaySettings`).
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import Method, RunContext, option


@dataclass(frozen=True)
class ReplaySettings:
    """The buffer of every replay method; its size is a memory budget, the same for every method, not searched."""

    buffer_size: int = option(500, "count", "buffer size in examples", metavar="M", group="replay")  # the DER paper's middle setting
    buffer_policy: str = option(
        "reservoir", ("reservoir", "class-balanced"), metavar="P", group="replay",
        help="reservoir (every step; the DER paper) | class-balanced (at the end of each task, random examples per "
             "class; Learn-or-Recall)",
    )
    replay_batch_size: int | None = option(None, "count", "buffer examples per step", metavar="B", group="replay",
                                           shown="--batch-size")


def replay_buffer(settings: ReplaySettings, run: RunContext, store_logits: bool = False, topk: int | None = None):
    """The buffer `settings` ask for (a reservoir's stored logits may keep only their top-k entries)."""
    from methods.buffer import ClassBalancedBuffer, ReservoirBuffer

    if settings.buffer_policy == "class-balanced":
        return ClassBalancedBuffer(settings.buffer_size, seed=run.seed, store_logits=store_logits)
    return ReservoirBuffer(settings.buffer_size, seed=run.seed, store_logits=store_logits, topk=topk)


def replay_batch(settings: ReplaySettings, run: RunContext) -> int:
    return settings.replay_batch_size or run.batch_size


def refuse_class_balanced_on_lm(given: dict, head: str) -> str | None:
    if head == "lm" and "class-balanced" in given.get("buffer_policy", ()):
        return "--buffer-policy class-balanced stores class logits: use it with a classifier head, not --head lm"
    return None


def plugin(settings: ReplaySettings, run: RunContext):
    from methods.plugins.replay import ReplayPlugin

    return ReplayPlugin(replay_buffer(settings, run), replay_batch(settings, run), beta=1.0)


METHOD = Method(
    name="er", order=30, summary="ER, CE(new) + CE(buffer)", plugin=plugin, settings=ReplaySettings,
    keeps_examples=True, cost=2.0,  # replay doubles the rows of a step
    check=refuse_class_balanced_on_lm,
)
