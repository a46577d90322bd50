"""SI (Zenke et al., ICML 2017), Avalanche's `SynapticIntelligencePlugin` with one fix (its weight
snapshots are views of CPU parameters in Avalanche 0.6, see `methods.plugins.si`):

    loss = CE(new) + lambda/2 * sum_i Omega_i (theta_i - theta*_i)^2

Omega: each weight's path integral of the loss over a task, over its squared change. It runs no
forward pass of its own, so it runs on every head.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import LEARNING_RATES, Method, RunContext, option


@dataclass(frozen=True)
class SISettings:
    # Avalanche clips Omega at 0.001 and MiniLM's weights move little at lr 2e-5: at 100 a run (30 CLINC150
    # intents, 3 tasks) was bit-identical to fine-tuning, at 1e5 it was not.
    si_lambda: float = option(1e5, "positive", "weight of the penalty lambda/2 * sum Omega (theta - theta*)^2",
                              search=(1e3, 1e4, 1e5, 1e6, 1e7), metavar="L")


def plugin(settings: SISettings, run: RunContext):
    from methods.plugins.si import SI

    return SI(settings.si_lambda)


METHOD = Method(
    name="si", order=22, summary="SI, CE(new) + lambda/2 * sum Omega (theta - theta*)^2 (Avalanche's SynapticIntelligencePlugin)",
    plugin=plugin, settings=SISettings, search=dict(LEARNING_RATES), cost=1.3,
)
