"""`--methods` names -> Avalanche plugins, with every method's defaults in one place.

Adding a method = one `methods.plugin.MethodPlugin` file + one entry in METHODS. The plugin modules import
avalanche (about 10 s), so they are imported when a run builds its plugins: the CLI
can reject a bad `--methods` at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


# Defaults of the method hyper-parameters; each is overridable from the CLI (--buffer-size, ...).
HYPERPARAMETERS = {
    "buffer_size": 500,  # examples; the DER paper's middle setting
    "buffer_policy": "reservoir",  # reservoir (DER paper) | class-balanced (Learn-or-Recall: filled at the end of a task)
    "replay_batch_size": None,  # None: the training batch size
    "alpha": 0.2,  # DER++ weight of the logit MSE (DER paper, Seq-CIFAR-10, buffer 500)
    "beta": 0.5,  # DER++ weight of the replay CE (0 gives DER; DER paper value)
    "derpp_logits": "stored",  # stored (DER paper) | teacher (Learn-or-Recall codebase)
    "derpp_topk": 64,  # generative head, stored logits: vocabulary entries kept per answer position
    "lwf_alpha": 1.0,
    "lwf_temperature": 2.0,
    "warmup_epochs": 3,  # SEQ*: epochs of task 1 that train the encoder (Learn-or-Recall configs)
    "preallocate_heads": True,  # SEQ*: every task's head exists from task 1 (future classes as negatives)
}
# What --select-on val searches per method (--grid FILE.yaml or several values of a flag replace a name's
# values): learning rates for every method, and each method's own weights. The replay buffer size is a
# memory budget, the same for every method, not searched.
LRS = {"lr": [1e-5, 2e-5, 5e-5], "head_lr": [1e-3, 3e-3]}
SEARCH_SPACES = {
    "finetune": LRS,
    "joint": LRS,
    "er": LRS,
    "derpp": {**LRS, "alpha": [0.1, 0.2, 0.5, 1.0], "beta": [0.5, 1.0]},
    "lwf": {**LRS, "lwf_alpha": [0.5, 1.0, 2.0], "lwf_temperature": [1.0, 2.0, 4.0]},
    "seq-star": {"head_lr": [1e-3, 3e-3, 1e-2], "warmup_epochs": [1, 3], "epochs": [1, 3]},
}
# The generative head distils teacher logits unless told otherwise (the Learn-or-Recall codebase's
# choice): stored targets must drop all but the top-k of a vocabulary-wide row to fit a buffer.
HEAD_DEFAULTS = {"lm": {"derpp_logits": "teacher"}}


def defaults_for(head: str) -> dict:
    return {**HYPERPARAMETERS, **HEAD_DEFAULTS.get(head, {})}


@dataclass(frozen=True)
class RunContext:
    """What a method needs to build its plugin for one run."""

    hp: dict
    batch_size: int
    seed: int
    head: str = "linear"
    epochs: int = 1


@dataclass(frozen=True)
class Method:
    build: Callable[[RunContext], object]  # the method's MethodPlugin, or None (plain fine-tuning)
    joint: bool = False  # train once on the union of all tasks
    uses: tuple[str, ...] = ()  # which HYPERPARAMETERS matter (recorded in the config)
    cost: float = 1.0  # training compute relative to fine-tuning: parallel grids start the costly runs first
    head: str | None = None  # the head the method's recipe fixes (None: --head)


def _buffer(ctx: RunContext, store_logits: bool):
    from methods.buffer import ClassBalancedBuffer, ReservoirBuffer

    if ctx.hp["buffer_policy"] == "class-balanced":
        return ClassBalancedBuffer(ctx.hp["buffer_size"], seed=ctx.seed, store_logits=store_logits)
    topk = ctx.hp["derpp_topk"] if store_logits and ctx.head == "lm" else None
    return ReservoirBuffer(ctx.hp["buffer_size"], seed=ctx.seed, store_logits=store_logits, topk=topk)


def _er(ctx: RunContext):
    from methods.replay import ReplayPlugin

    return ReplayPlugin(_buffer(ctx, store_logits=False), ctx.hp["replay_batch_size"] or ctx.batch_size, beta=1.0)


def _derpp(ctx: RunContext):
    from methods.derpp import DERppPlugin

    source = ctx.hp["derpp_logits"]
    buffer = _buffer(ctx, store_logits=source == "stored")
    return DERppPlugin(buffer, ctx.hp["replay_batch_size"] or ctx.batch_size, ctx.hp["alpha"], ctx.hp["beta"], source)


def _lwf(ctx: RunContext):
    from baselines.lwf import LwFPlugin

    return LwFPlugin(ctx.hp["lwf_alpha"], ctx.hp["lwf_temperature"])


def _seq_star(ctx: RunContext):
    from baselines.seq_star import SeqStarPlugin

    return SeqStarPlugin(ctx.hp["warmup_epochs"], ctx.hp["preallocate_heads"], ctx.epochs)


METHODS = {
    "finetune": Method(lambda ctx: None),
    "joint": Method(lambda ctx: None, joint=True),
    # Replay doubles the rows of a step; DER++ adds the distillation term (and in teacher mode a forward).
    "er": Method(_er, uses=("buffer_size", "buffer_policy", "replay_batch_size"),
                 cost=2.0),
    "derpp": Method(_derpp, uses=("buffer_size", "buffer_policy", "replay_batch_size", "alpha", "beta", "derpp_logits", "derpp_topk"),
                    cost=2.1),
    "lwf": Method(_lwf, uses=("lwf_alpha", "lwf_temperature"), cost=1.4),  # + a teacher forward
    # The encoder is frozen after task 1: later tasks run it forward only.
    "seq-star": Method(_seq_star, uses=("warmup_epochs", "preallocate_heads"), cost=0.6, head="cosine"),
}


def method_hyperparameters(method: str, hp: dict, head: str) -> dict:
    """The settings a run of `method` records: its `uses`, less a top-k that nothing reads
    (only stored logits of the generative head are cut to their top-k)."""
    out = {k: hp[k] for k in METHODS[method].uses}
    if "derpp_topk" in out and not (head == "lm" and out["derpp_logits"] == "stored"):
        del out["derpp_topk"]
    return out


def run_label(method: str, hp: dict) -> str:
    """The name a run is filed under: DER++ with teacher logits is `derpp-teacher`."""
    return "derpp-teacher" if method == "derpp" and hp["derpp_logits"] == "teacher" else method
