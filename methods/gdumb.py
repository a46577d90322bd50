"""GDumb (Prabhu et al., ECCV 2020), Avalanche's `GDumbPlugin` run unchanged: before each task the model is
reset to the one the run started with and trains only on a class-balanced buffer of `--buffer-size`
examples, which the task's examples have just updated. See `methods.plugins.gdumb`."""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import Method, RunContext, option


@dataclass(frozen=True)
class GDumbSettings:
    buffer_size: int = option(500, "count", "buffer size in examples", metavar="M", group="replay")


def plugin(settings: GDumbSettings, run: RunContext):
    from methods.plugins.gdumb import GDumb

    return GDumb(settings.buffer_size)


METHOD = Method(
    name="gdumb", order=35, summary="GDumb, a reset model trained on a class-balanced buffer only (Avalanche's GDumbPlugin)",
    plugin=plugin, settings=GDumbSettings, keeps_examples=True, cost=0.5,  # trains on the buffer only
)
