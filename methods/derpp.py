"""DER++ (Buzzega et al., NeurIPS 2020): ER plus a distillation of the buffer's logits.

    loss = CE(new) + beta * CE(buffer) + alpha * MSE(buffer logits, targets)

The targets are `stored` (the DER paper: the logits saved with an example when it entered the
buffer) or `teacher` (the Learn-or-Recall codebase: a frozen copy of the model at the start of the
task); runs with teacher targets are filed as `derpp-teacher`. See `methods.plugins.derpp`.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import LEARNING_RATES, Method, RunContext, option
from methods.er import ReplaySettings, refuse_class_balanced_on_lm, replay_batch, replay_buffer


@dataclass(frozen=True)
class DERppSettings(ReplaySettings):
    alpha: float = option(0.2, "weight", "weight of the logit MSE", search=(0.1, 0.2, 0.5, 1.0), metavar="A")  # DER paper, Seq-CIFAR-10, buffer 500
    beta: float = option(0.5, "weight", "weight of the replay CE (0 gives DER)", search=(0.5, 1.0), metavar="B")
    # The generative head distils teacher logits unless told otherwise (the Learn-or-Recall codebase's
    # choice): stored targets must drop all but the top-k of a vocabulary-wide row to fit a buffer.
    derpp_logits: str = option("stored", ("stored", "teacher"), "distillation targets",
                               head_defaults={"lm": "teacher"}, shown="stored; teacher with --head lm")
    derpp_topk: int = option(
        64, "count", "--head lm, stored logits: vocabulary entries kept per answer token", metavar="K",
        applies=lambda values, head: head == "lm" and values["derpp_logits"] == "stored",
    )


def plugin(settings: DERppSettings, run: RunContext):
    from methods.plugins.derpp import DERppPlugin

    stored = settings.derpp_logits == "stored"
    topk = settings.derpp_topk if stored and run.head == "lm" else None  # vocabulary-wide rows
    buffer = replay_buffer(settings, run, store_logits=stored, topk=topk)
    return DERppPlugin(buffer, replay_batch(settings, run), settings.alpha, settings.beta, settings.derpp_logits)


METHOD = Method(
    name="derpp", order=31, summary="DER++, CE(new) + beta * CE(buffer) + alpha * MSE(buffer logits, targets)",
    plugin=plugin, settings=DERppSettings, search=dict(LEARNING_RATES),
    label=lambda s: "derpp-teacher" if s.derpp_logits == "teacher" else "derpp", labels=("derpp", "derpp-teacher"),
    keeps_examples=True, cost=2.1,  # ER's step plus the distillation term (and in teacher mode a forward)
    check=refuse_class_balanced_on_lm,
)
