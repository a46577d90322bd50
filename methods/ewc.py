"""EWC (Kirkpatrick et al., PNAS 2017), Avalanche's own `EWCPlugin` run unchanged on the suite's strategy:

    loss = CE(new) + lambda/2 * sum over earlier tasks of sum_i F_i (theta_i - theta*_i)^2

F: the mean squared gradients of the run's loss over a task's training batches, taken after it.
See `methods.plugins.ewc` (and `methods.plugins.stock` for what the suite adds to a stock plugin).
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import LEARNING_RATES, Method, RunContext, option

# Avalanche's EWC and A-GEM forward `model(x)` on their own, without the answer tokens the generative
# head is trained on (teacher forcing).
FORWARD_WITHOUT_ANSWER = "Avalanche's plugin forwards the model without the answer tokens the generative head needs"


@dataclass(frozen=True)
class EWCSettings:
    # F of batch-mean gradients is small: 1e4 is the middle of the search (one MiniLM run, not tuned).
    ewc_lambda: float = option(1e4, "positive", "weight of the penalty lambda/2 * sum F (theta - theta*)^2",
                               search=(1e2, 1e3, 1e4, 1e5, 1e6), metavar="L", group="the EWC penalty")


def plugin(settings: EWCSettings, run: RunContext, mode: str = "separate", decay: float | None = None):
    from methods.plugins.ewc import EWC

    return EWC(settings.ewc_lambda / 2, mode, decay)  # Avalanche adds lambda * sum: the paper's lambda/2


METHOD = Method(
    name="ewc", order=20, summary="EWC, CE(new) + lambda/2 * sum F (theta - theta*)^2 (Avalanche's EWCPlugin)",
    plugin=plugin, settings=EWCSettings, search=dict(LEARNING_RATES),
    heads=("linear", "cosine"), heads_why=FORWARD_WITHOUT_ANSWER,
    cost=1.4,  # + the Fisher pass over the task's batches: 1.37x ER's seconds per task (MiniLM, 30 intents)
)
