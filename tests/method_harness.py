"""Builds a real strategy on the small stream and records what each training step computed."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from avalanche.core import SupervisedPlugin

from benchmarks.data.stream import build_benchmark
from benchmarks.results import RunConfig
from benchmarks.engine.strategy import ContinualStrategy, seed_everything
from benchmarks.models.loading import load_model
from benchmarks.method_registry import option_defaults, suite_methods
from methods.declare import RunContext
from methods.plugins.replay import ReplayPlugin
from tests.small_stream import small_clinc


@dataclass
class Step:
    task: int
    x: torch.Tensor
    loss: float
    output: torch.Tensor
    num_new: int
    y: torch.Tensor
    task_ids: torch.Tensor
    drawn: object
    loss_terms: dict


@dataclass
class LossProbe(SupervisedPlugin):
    """Placed after the method's plugins: sees the finished loss of every step."""

    steps: list = field(default_factory=list)
    replay: object = None

    def __post_init__(self):
        super().__init__()

    def before_backward(self, strategy, **kwargs):
        drawn = None if self.replay is None else self.replay.drawn
        self.steps.append(
            Step(
                strategy.clock.train_exp_counter, strategy.mb_x.clone(), float(strategy.loss.detach()), strategy.mb_output.detach().clone(),
                strategy.num_new, strategy.mb_y.clone(), strategy.mb_task_id.clone(), drawn,
                {k: float(v) for k, v in strategy.loss_terms.items()},
            )
        )


def make_strategy(method: str, scenario: str, batch_size: int = 8, head: str = "linear", **hp):
    """(strategy, benchmark, the method's plugin, probe) for a real run on the small stream.

    `head="lm"`: tiny-gpt2 answering with label names, on 10 examples per class.
    """
    declared = suite_methods()[method]
    head = declared.head or head  # a method whose recipe fixes its head (seq-star: cosine)
    lm = head == "lm"
    task_split, data = small_clinc(per_class=10, head=head) if lm else small_clinc()
    hp = {**option_defaults(), **hp}
    backbone = "tiny-gpt2" if lm else "tiny-bert"
    config = RunConfig(
        benchmark="small-clinc", scenario=scenario, method=method, seed=0, backbone=backbone, head=head,
        num_tasks=task_split.num_tasks, max_length=24, batch_size=batch_size, lr=1e-3, head_lr=1e-2, hp=hp,
    )
    seed_everything(0)
    model, _ = load_model(backbone, head, task_split.class_names)
    bench = build_benchmark(data, task_split, scenario)
    plugin = declared.plugin(declared.typed(hp, head), RunContext(batch_size, 0, head))
    probe = LossProbe(replay=plugin if isinstance(plugin, ReplayPlugin) else None)
    strategy = ContinualStrategy(
        model=model, config=config, task_split=task_split, method_plugin=plugin, extra_plugins=[probe]
    )
    return strategy, bench, plugin, probe
