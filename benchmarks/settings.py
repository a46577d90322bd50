"""The settings a grid runs: every tunable value's type and range, and the product of the values asked for.

Every training and method flag of the CLI takes several values (`--beta 0.5 1 --lr 1e-5 2e-5`)
and a grid file (`--grid FILE.yaml`) gives them per method; each method runs the cartesian
product of the values that apply to it, and each run is named by the values that tell it from
its method's other runs.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from benchmarks.errors import UsageError
from benchmarks.method_registry import suite_methods
from methods import declare
from methods.declare import Method

# The values every method trains with (RunConfig fields) and their kinds; each method declares its own
# (`methods.declare.option`).
TRAINING = {"lr": "rate", "head_lr": "rate", "epochs": "count", "batch_size": "count"}


def kind(name: str, method: Method | None = None):
    """The kind of value `name` takes: a training value's, `method`'s option's, or any suite method's."""
    if name in TRAINING:
        return TRAINING[name]
    for owner in (method, *suite_methods().values()):
        if owner is not None and name in owner.options():
            return owner.options()[name].kind
    raise KeyError(name)


def names() -> list[str]:
    """Every training value and every option of the suite's methods."""
    return list(dict.fromkeys([*TRAINING, *(n for m in suite_methods().values() for n in m.options())]))


def parse(name: str, value, method: Method | None = None):
    """`value` (a CLI string or a YAML scalar) as the type `name` takes, range-checked; UsageError otherwise."""
    return declare.parse(name, kind(name, method), value)


def tunable(method: Method) -> tuple[str, ...]:
    """The names that change a run of `method`: the training values and the method's own."""
    return (*TRAINING, *method.options())


def load_grid_file(path: str, methods: dict[str, Method]) -> dict[str, dict[str, list]]:
    """`{method: {name: [values]}}` from a YAML grid file for the runs' `methods` (name -> Method), every
    value parsed and checked."""
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
        declared = methods[method]
        if not isinstance(space, dict) or not space:
            raise UsageError(f"grid file {path}: {method} must map hyper-parameter names to values")
        grid[method] = {}
        for name, values in space.items():
            name = str(name).replace("-", "_")
            if name not in tunable(declared):
                raise UsageError(
                    f"grid file {path}: {method} has no hyper-parameter {name!r} (it has {', '.join(tunable(declared))})"
                )
            values = values if isinstance(values, list) else [values]
            if not values:
                raise UsageError(f"grid file {path}: {method}.{name} is an empty list: give at least one value")
            grid[method][name] = [parse(name, v, declared) for v in values]
    return grid


def method_space(method: Method, given: dict[str, list | None], defaults: dict, file_space: dict | None = None) -> dict:
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
