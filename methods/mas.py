"""MAS (Aljundi et al., ECCV 2018), Avalanche's own `MASPlugin` run unchanged on the suite's strategy:

    loss = CE(new) + lambda * sum_i Omega_i (theta_i - theta*_i)^2

Omega: after each task, the mean over its batches of |d mean ||f(x)||^2 / d theta| (no labels needed),
blended with the earlier tasks' as alpha * Omega_old + (1 - alpha) * Omega_new; theta*: the weights
after the last task. Its importance pass forwards `model(x)` without answer tokens: classifier heads only.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import LEARNING_RATES, Method, RunContext, option


@dataclass(frozen=True)
class MASSettings:
    mas_lambda: float = option(1.0, "positive", "weight of the penalty lambda * sum Omega (theta - theta*)^2",
                               search=(0.1, 1.0, 10.0, 100.0), metavar="L")  # Avalanche's default, not tuned
    mas_alpha: float = option(0.5, "fraction", "share of the earlier tasks' importance in the blend", metavar="A")


def plugin(settings: MASSettings, run: RunContext):
    from avalanche.training.plugins import MASPlugin

    from methods.plugins.stock import stock

    return stock(MASPlugin, state=("params", "importance"))(lambda_reg=settings.mas_lambda, alpha=settings.mas_alpha)


METHOD = Method(
    name="mas", order=23, summary="MAS, CE(new) + lambda * sum Omega (theta - theta*)^2, Omega from the output's norm (Avalanche's MASPlugin)",
    plugin=plugin, settings=MASSettings, search=dict(LEARNING_RATES),
    heads=("linear", "cosine"), heads_why="Avalanche's plugin forwards the model without the answer tokens the generative head needs",
    cost=1.4,  # + an importance pass over the task's batches
)
