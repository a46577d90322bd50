"""LwF (Li & Hoiem, 2016): distils the previous model's outputs on the new examples.

    loss = CE(new) + alpha * KL_T(current model || previous model)

See `baselines.plugins.lwf` for the distillation groups of each head and scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import LEARNING_RATES, Method, RunContext, option


@dataclass(frozen=True)
class LwFSettings:
    lwf_alpha: float = option(1.0, "weight", "weight of the distillation term", search=(0.5, 1.0, 2.0), metavar="A")
    lwf_temperature: float = option(2.0, "temperature", "distillation temperature", search=(1.0, 2.0, 4.0), metavar="T")


def plugin(settings: LwFSettings, run: RunContext):
    from baselines.plugins.lwf import LwFPlugin

    return LwFPlugin(settings.lwf_alpha, settings.lwf_temperature)


METHOD = Method(
    name="lwf", order=10, summary="LwF, CE(new) + alpha * KL_T(current, previous model)", plugin=plugin, settings=LwFSettings,
    search=dict(LEARNING_RATES), cost=1.4,  # + a teacher forward
)
