"""Avalanche's own plugins as the suite's methods (ewc, online-ewc, si, agem, gdumb): their hooks run
unchanged on `ContinualStrategy`.

A stock plugin knows nothing of the suite's `MethodPlugin` protocol (checkpoint, memory, prediction),
so each method is the stock class with `StockPlugin` mixed in after it: the stock class's hooks come
first in the method resolution order and `StockPlugin` overrides none of them. It saves the stock
plugin's own attributes named in `STATE`, as they are, at a task boundary.

The strategy follows Avalanche's conventions where the stock plugins rely on them: `strategy._criterion(model(x), y)`
is the run's loss (`benchmarks.engine.strategy.OutputSpaceLoss`), heads are new parameters that
EWC and SI add to their dictionaries when they appear, and `strategy.adapted_dataset` is what a task trains on.
Written against Avalanche's `SupervisedTemplate`, they read and write more of the strategy than
`methods.plugin.READS`/`WRITES` (`_criterion`, `optimizer`, `model`, `adapted_dataset`): the contract
test covers the suite's own plugins only.
"""

from __future__ import annotations

from methods.plugin import MethodPlugin


class StockPlugin(MethodPlugin):
    """The suite's protocol for a stock Avalanche plugin; see the module docstring."""

    STATE: tuple[str, ...] = ()  # the stock plugin's attributes a resumed run needs

    def checkpoint_state(self) -> dict:
        return {name: getattr(self, name) for name in self.STATE}

    def restore_checkpoint(self, state: dict, model) -> None:
        """The saved attributes, their parameter copies (read onto the CPU) on the model's device again."""
        device = next(model.parameters()).device
        for name in self.STATE:
            setattr(self, name, state[name])
            move(state[name], device)


def stock(plugin_class: type, state: tuple[str, ...]) -> type:
    """A stock Avalanche plugin class with the suite's protocol: its attributes `state` are what a resumed
    run needs. Any `SupervisedPlugin` whose hooks run on the suite's strategy comes in this way."""
    return type(plugin_class.__name__, (plugin_class, StockPlugin), {"STATE": state})


def move(value, device) -> None:
    """The `ParamData` (Avalanche's parameter copies) held in `value`, nested in dicts and lists, moved to `device`."""
    from avalanche.training.utils import ParamData

    if isinstance(value, ParamData):
        value.device = device
        value.data = value.data.to(device)
    elif isinstance(value, dict):
        for item in value.values():
            move(item, device)
    elif isinstance(value, (list, tuple)):
        for item in value:
            move(item, device)


def dataset_bytes(datasets) -> int:
    """Bytes of the examples held in Avalanche datasets of token-id rows: ids, label and task label (int64)."""
    total = 0
    for dataset in datasets:
        if len(dataset):
            ids = dataset[0][0]
            total += len(dataset) * (ids.numel() * ids.element_size() + 2 * 8)
    return total
