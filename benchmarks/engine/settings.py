"""The settings a grid runs: every tunable value's type and range, and the product of the values asked for.

Every training and method flag of the CLI takes several values (`--beta 0.5 1 --lr 1e-5 2e-5`)
and a grid file (`--grid FILE.yaml`) gives them per method; each method runs the cartesian
product of the values that apply to it, and each run is named by the values that tell it from
its method's other runs.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from benchmarks.errors import UsageError

# The values every method trains with (RunConfig fields), then each method's own (methods.registry).
TRAINING = ("lr", "head_lr", "epochs", "batch_size")
KINDS = {
    "lr": "rate", "head_lr": "rate", "epochs": "count", "batch_size": "count",
    "buffer_size": "count", "replay_batch_size": "count", "derpp_topk": "count",
    "alpha": "weight", "beta": "weight", "lwf_alpha": "weight", "lwf_temperature": "temperature",
    "derpp_logits": ("stored", "teacher"), "buffer_policy": ("reservoir", "class-balanced"), "warmup_epochs": "count0", "preallocate_heads": "switch",
}
SWITCH = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}


def parse(name: str, value):
    """`value` (a CLI string or a YAML scalar) as the type `name` takes, range-checked; UsageError otherwise."""
    kind = KINDS[name]
    flag = f"--{name.replace('_', '-')}"
    if isinstance(kind, tuple):
        if value not in kind:
            raise UsageError(f"{flag} must be one of {', '.join(kind)}, got {value!r}")
        return value
    if kind == "switch":
        if isinstance(value, bool):
            return value
        if str(value).lower() not in SWITCH:
            raise UsageError(f"{flag} must be yes or no, got {value!r}")
        return SWITCH[str(value).lower()]
    try:
        if isinstance(value, bool) or isinstance(value, (list, dict)) or value is None:
            raise ValueError
        whole = kind in ("count", "count0")
        number = int(value) if whole else float(value)
        if whole and isinstance(value, float) and value != number:
            raise ValueError
    except (TypeError, ValueError):
        what = "an integer" if kind in ("count", "count0") else "a number"
        raise UsageError(f"{flag} must be {what}, got {value!r}") from None
    if kind == "count" and number < 1:
        raise UsageError(f"{flag} must be positive, got {number}")
    if kind == "count0" and number < 0:
        raise UsageError(f"{flag} must not be negative, got {number}")
    if not whole and not math.isfinite(number):
        raise UsageError(f"{flag} must be a finite number, got {number}")
    if kind in ("rate", "weight") and number < 0:
        raise UsageError(f"{flag} must not be negative, got {number}")
    if kind == "temperature" and number <= 0:
        raise UsageError(f"{flag} must be positive, got {number}")
    return number


def tunable(method: str) -> tuple[str, ...]:
    """The names that change a run of `method`: the training values and the method's own."""
    from methods.registry import METHODS

    return TRAINING + METHODS[method].uses


def load_grid_file(path: str, methods: list[str]) -> dict[str, dict[str, list]]:
    """`{method: {name: [values]}}` from a YAML grid file, every value parsed and checked."""
    import yaml

    try:
        content = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read grid file {path} ({e.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise UsageError(f"grid file {path} is not YAML{line}: write one mapping per method, e.g. 'derpp: {{beta: [0.5, 1]}}'") from None
    if not isinstance(content, dict) or not content:
        raise UsageError(f"grid file {path} must map method names to their values, e.g. 'derpp: {{beta: [0.5, 1]}}'")
    grid = {}
    for method, space in content.items():
        if method not in methods:
            raise UsageError(f"grid file {path} names method {method!r}, which --methods does not run ({' '.join(methods)})")
        if not isinstance(space, dict) or not space:
            raise UsageError(f"grid file {path}: {method} must map hyper-parameter names to values")
        grid[method] = {}
        for name, values in space.items():
            name = str(name).replace("-", "_")
            if name not in tunable(method):
                raise UsageError(
                    f"grid file {path}: {method} has no hyper-parameter {name!r} (it has {', '.join(tunable(method))})"
                )
            values = values if isinstance(values, list) else [values]
            if not values:
                raise UsageError(f"grid file {path}: {method}.{name} is an empty list: give at least one value")
            grid[method][name] = [parse(name, v) for v in values]
    return grid


def method_space(method: str, given: dict[str, list | None], defaults: dict, file_space: dict | None = None) -> dict:
    """`{name: [values]}` for every name that changes a run of `method`: the grid file's, else the
    CLI's (`given`, None where a flag was not given), else the one default."""
    file_space = file_space or {}
    return {
        name: file_space.get(name) or given.get(name) or [defaults[name]]
        for name in tunable(method)
    }


def product(space: dict[str, list]) -> list[dict]:
    """Every combination of the space's values, in a fixed order, without repeats."""
    names = list(space)
    combos = [dict(zip(names, values)) for values in itertools.product(*(space[n] for n in names))]
    unique = []
    for combo in combos:
        if combo not in unique:
            unique.append(combo)
    return unique


def variant_names(settings: list[dict]) -> list[str]:
    """Each setting's name among `settings`: the values that differ between them (`alpha0.5-beta1.0`)."""
    differing = [k for k in settings[0] if len({repr(s.get(k)) for s in settings}) > 1] if settings else []
    return ["-".join(f"{k}{s.get(k)}" for k in differing) for s in settings]
