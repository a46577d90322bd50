"""Online EWC (Schwarz et al., ICML 2018): Avalanche's `EWCPlugin` in its online mode, one running Fisher
F = decay * F + F_task anchored at the last task's weights. See `methods.ewc`."""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import LEARNING_RATES, Method, RunContext, option
from methods.ewc import FORWARD_WITHOUT_ANSWER, EWCSettings
from methods.ewc import plugin as ewc_plugin


@dataclass(frozen=True)
class OnlineEWCSettings(EWCSettings):
    ewc_decay: float = option(1.0, "fraction", "decay of the running Fisher (1: a plain sum)", search=(0.5, 0.9, 1.0),
                              metavar="G")


def plugin(settings: OnlineEWCSettings, run: RunContext):
    return ewc_plugin(settings, run, "online", settings.ewc_decay)


METHOD = Method(
    name="online-ewc", order=21, summary="online EWC, one running Fisher (Avalanche's EWCPlugin, mode online)",
    plugin=plugin, settings=OnlineEWCSettings, search=dict(LEARNING_RATES),
    heads=("linear", "cosine"), heads_why=FORWARD_WITHOUT_ANSWER, cost=1.2,
)
