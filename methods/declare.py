"""How a method declares itself, once: its name, its settings (typed, each with its range, default,
search values and help), its plugin, and what it supports.

Everything else is derived from the declaration: the CLI's option group and its checks, the defaults
`--help` shows, the search space of `--select-on val`, run names and the report's order. A method's
file is importable without torch or avalanche (so that `--help` and a bad flag answer at once): its
`plugin` function imports the plugin class when a run builds it. See docs/adding-a-method.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields

from benchmarks.errors import UsageError

# The kinds of value an option takes: each parses a CLI string or a YAML scalar and checks its range.
KINDS = ("rate", "weight", "positive", "fraction", "count", "count0", "temperature", "switch")
SWITCH = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}


@dataclass(frozen=True)
class Option:
    """One hyper-parameter: what `option()` attaches to a settings field."""

    kind: str | tuple[str, ...]  # one of KINDS, or the tuple of the values allowed
    help: str
    search: tuple = ()  # the values --select-on val tries (empty: the default only)
    metavar: str | None = None
    group: str | None = None  # options several methods share name their group ("replay"); None: the method's own
    shown: str | None = None  # what --help shows as the default, where that is not the value itself
    head_defaults: dict = field(default_factory=dict)  # a default per head that differs ({"lm": "teacher"})
    applies: Callable[[dict, str], bool] | None = None  # (settings, head) -> False where nothing reads it


def option(default, kind, help: str, **details):
    """A settings field with its `Option` (see there for `search`, `metavar`, `group`, ...)."""
    return field(default=default, metadata={"option": Option(kind, help, **details)})


@dataclass(frozen=True)
class NoSettings:
    """The settings of a method that has none of its own (fine-tuning, joint)."""


@dataclass(frozen=True)
class RunContext:
    """What a plugin needs of the run besides its method's settings."""

    batch_size: int
    seed: int
    head: str = "linear"
    epochs: int = 1


LEARNING_RATES = {"lr": (1e-5, 2e-5, 5e-5), "head_lr": (1e-3, 3e-3)}


@dataclass(frozen=True)
class Method:
    """A continual-learning method as the suite runs it."""

    name: str  # what --methods takes
    summary: str  # one line: the title of its CLI option group
    plugin: Callable[[object, RunContext], object] = lambda settings, run: None  # its MethodPlugin; None: plain fine-tuning
    settings: type = NoSettings  # a frozen dataclass whose fields are `option()`s
    label: Callable[[object], str] | None = None  # the name its runs are filed under, if not `name` (derpp-teacher)
    labels: tuple[str, ...] = ()  # every label `label` gives, in the report's order (default: `name`)
    # The training values --select-on val searches (options may be named here too: the order is the draw's).
    search: dict = field(default_factory=lambda: dict(LEARNING_RATES))
    heads: tuple[str, ...] = ("linear", "cosine", "lm")
    heads_why: str = ""  # why the heads it does not run on are refused
    head: str | None = None  # the head its recipe fixes (SEQ*: cosine), whatever --head says
    scenarios: tuple[str, ...] = ("cil", "til")
    keeps_examples: bool = False  # it stores examples of the stream (its memory is reported)
    joint: bool = False  # trains once on the union of all tasks (an upper bound, not a continual learner)
    cost: float = 1.0  # training compute relative to fine-tuning: parallel grids start the costly runs first
    # Its place in --help and the report: 0 the lower bound, 10s regularizers, 30s replay, 40s parameter-efficient
    # fine-tuning, 60s other recipes, 100 the upper bound (joint).
    order: float = 50
    check: Callable[[dict, str], str | None] | None = None  # (options given: name -> values, head) -> a refusal

    def options(self) -> dict[str, Option]:
        return {f.name: f.metadata["option"] for f in fields(self.settings)}

    def defaults(self, head: str) -> dict:
        """Every option's default for `head`."""
        out = {}
        for f in fields(self.settings):
            default = f.default if f.default is not MISSING else f.default_factory()
            out[f.name] = f.metadata["option"].head_defaults.get(head, default)
        return out

    def recorded(self, values: dict, head: str) -> dict:
        """The settings a run records: every option, less those that nothing reads for `head`."""
        options = self.options()
        return {k: v for k, v in values.items() if k in options and (options[k].applies is None or options[k].applies(values, head))}

    def typed(self, hp: dict, head: str):
        """The plugin's settings object from a run's recorded values (options not recorded take their defaults)."""
        return self.settings(**{**self.defaults(head), **{k: v for k, v in hp.items() if k in self.options()}})

    def run_label(self, hp: dict, head: str = "linear") -> str:
        return self.label(self.typed(hp, head)) if self.label else self.name

    def all_labels(self) -> tuple[str, ...]:
        return self.labels or (self.name,)

    def refusal(self, scenario: str, head: str) -> str | None:
        """Why this method cannot run `scenario` on the `--head` given, or None."""
        if head not in self.heads:
            why = f": {self.heads_why}" if self.heads_why else ""
            return f"{self.name} runs on the {' and '.join(self.heads)} heads, not --head {head}{why}"
        if scenario not in self.scenarios:
            return f"{self.name} runs {' and '.join(s.upper() for s in self.scenarios)}, not --scenario {scenario}"
        return None


def flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def parse(name: str, kind, value):
    """`value` (a CLI string or a YAML scalar) as option `name` of `kind` takes it, range-checked;
    UsageError otherwise."""
    if isinstance(kind, tuple):
        if value not in kind:
            raise UsageError(f"{flag(name)} must be one of {', '.join(kind)}, got {value!r}")
        return value
    if kind == "switch":
        if isinstance(value, bool):
            return value
        if str(value).lower() not in SWITCH:
            raise UsageError(f"{flag(name)} must be yes or no, got {value!r}")
        return SWITCH[str(value).lower()]
    whole = kind in ("count", "count0")
    try:
        if isinstance(value, (bool, list, dict)) or value is None:
            raise ValueError
        number = int(value) if whole else float(value)
        if whole and isinstance(value, float) and value != number:
            raise ValueError
    except (TypeError, ValueError):
        raise UsageError(f"{flag(name)} must be {'an integer' if whole else 'a number'}, got {value!r}") from None
    if kind == "count" and number < 1:
        raise UsageError(f"{flag(name)} must be positive, got {number}")
    if kind == "count0" and number < 0:
        raise UsageError(f"{flag(name)} must not be negative, got {number}")
    if not whole and not math.isfinite(number):
        raise UsageError(f"{flag(name)} must be a finite number, got {number}")
    if kind in ("rate", "weight") and number < 0:
        raise UsageError(f"{flag(name)} must not be negative, got {number}")
    if kind in ("temperature", "positive") and number <= 0:
        raise UsageError(f"{flag(name)} must be positive, got {number}")
    if kind == "fraction" and not 0 < number <= 1:
        raise UsageError(f"{flag(name)} must be in (0, 1], got {number}")
    return number
