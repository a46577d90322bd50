"""A-GEM (Chaudhry et al., ICLR 2019), Avalanche's `AGEMPlugin` run unchanged: a step's gradient g whose dot
product with the reference gradient g_ref (of the run's loss on examples kept of earlier tasks) is negative
becomes g - (g . g_ref / g_ref . g_ref) g_ref. See `methods.plugins.agem`."""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import LEARNING_RATES, Method, RunContext, option
from methods.ewc import FORWARD_WITHOUT_ANSWER


@dataclass(frozen=True)
class AGEMSettings:
    agem_patterns: int = option(100, "count", "examples kept of each task", metavar="N")
    agem_sample_size: int = option(64, "count", "kept examples per reference gradient, shared by the earlier tasks",
                                   search=(32, 64, 128), metavar="N")


def plugin(settings: AGEMSettings, run: RunContext):
    from methods.plugins.agem import AGEM

    return AGEM(settings.agem_patterns, settings.agem_sample_size)


METHOD = Method(
    name="agem", order=34, summary="A-GEM, gradients projected to not increase the loss on kept examples (Avalanche's AGEMPlugin)",
    plugin=plugin, settings=AGEMSettings, search=dict(LEARNING_RATES),
    heads=("linear", "cosine"), heads_why=FORWARD_WITHOUT_ANSWER, keeps_examples=True,
    cost=2.0,  # + a reference forward and backward per step
)
