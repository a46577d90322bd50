"""Method plugins touch only the strategy attributes that `methods.plugin` writes down."""

from __future__ import annotations

import pytest

from methods.plugin import READS, WRITES, MethodPlugin
from tests.method_harness import make_strategy


class ContractViolation(AssertionError):
    pass


class ContractView:
    """The strategy as a method plugin may see it: any other attribute read or written fails."""

    def __init__(self, strategy):
        object.__setattr__(self, "_strategy", strategy)

    def __getattr__(self, name):
        if name not in READS:
            raise ContractViolation(f"a method plugin read strategy.{name}, which is not in methods.plugin.READS")
        return getattr(self._strategy, name)

    def __setattr__(self, name, value):
        if name not in WRITES:
            raise ContractViolation(f"a method plugin set strategy.{name}, which is not in methods.plugin.WRITES")
        setattr(self._strategy, name, value)


def guard(plugin) -> list[str]:
    """Every hook the plugin overrides now receives a ContractView; returns the hooks guarded."""
    hooks = [
        name for name in dir(type(plugin))
        if name.startswith(("before_", "after_")) and getattr(type(plugin), name) is not getattr(MethodPlugin, name)
    ]
    for name in hooks:
        hook = getattr(plugin, name)
        setattr(plugin, name, lambda strategy, _hook=hook, **kwargs: _hook(ContractView(strategy), **kwargs))
    return hooks


CASES = [
    ("er", "cil", "linear", {}), ("er", "til", "linear", {}),
    ("derpp", "cil", "linear", {"derpp_logits": "stored"}), ("derpp", "til", "linear", {"derpp_logits": "teacher"}),
    ("derpp", "cil", "lm", {"derpp_logits": "stored"}), ("derpp", "til", "lm", {"derpp_logits": "teacher"}),
    ("lwf", "cil", "linear", {}), ("lwf", "til", "lm", {}),
    ("er-ace", "cil", "linear", {}), ("er-ncm", "til", "linear", {"buffer_policy": "class-balanced"}),
]


@pytest.mark.parametrize("method,scenario,head,hp", CASES)
def test_method_plugins_keep_to_the_contract(method, scenario, head, hp):
    strategy, bench, plugin, probe = make_strategy(method, scenario, head=head, buffer_size=20, **hp)
    hooks = guard(plugin)
    assert "before_backward" in hooks  # every method adds a loss term
    for experience in bench.train_stream[:2]:  # task 1: buffer draws, teachers and their terms all run
        strategy.train(experience)
    assert any(len(step.loss_terms) > 1 for step in probe.steps), "no method term was added: nothing was checked"


def test_a_plugin_reading_outside_the_contract_is_caught():
    """The check itself can fail: a plugin that peeks at the run's config is refused."""

    class Peeking(MethodPlugin):
        def before_backward(self, strategy, **kwargs):
            if strategy.config.scenario == "til":
                self.add_loss(strategy, "peek", 1.0, strategy.loss * 0)

    strategy, bench, _, _ = make_strategy("finetune", "til")
    plugin = Peeking()
    guard(plugin)
    strategy.plugins.insert(0, plugin)
    with pytest.raises(ContractViolation, match="strategy.config"):
        strategy.train(bench.train_stream[0])
