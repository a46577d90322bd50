"""A protocol: a published setting as data (`benchmarks/protocols/NAME.yaml`), read and checked.

The schema is documented in docs/protocols.md. `run_benchmark.py --protocol NAME` (or a path to a
.yaml file) makes a protocol's settings the defaults of a run (`apply`); flags that differ are deviations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.errors import UsageError
from benchmarks.method_registry import suite_methods
from benchmarks.request import GridRequest
from benchmarks.settings import names, parse, tunable
from methods.declare import Method

PROTOCOLS = Path(__file__).parent / "protocols"
DEFAULT = "suite"  # the protocol a run without --protocol records: today's defaults
# Run settings a protocol may fix besides the training and method values (benchmarks.settings.names()):
# each is a CLI flag's underscored name, and its value is checked as the flag's would be.
RUN_SETTINGS = ("backbone", "head", "pooling", "revision", "max_length", "tasks", "class_order_seed", "seeds",
                "scenario", "val_fraction", "select_on")
KEYS = {"name", "title", "source", "selectable", "settings", "substitutes", "benchmarks", "methods", "why", "published"}
ROW_KEYS = {"benchmark", "scenario", "method", "metric", "value", "source", "backbone", "buffer_size", "tasks"}
ROW_REQUIRED = ("benchmark", "scenario", "method", "metric", "value", "source")


@dataclass(frozen=True)
class Protocol:
    name: str
    sha256: str  # of the file's bytes
    selectable: bool  # may --select-on val choose its training and method values?
    settings: dict  # name -> value, for every run
    substitutes: dict  # name -> what runs here in place of the published value
    benchmarks: dict  # benchmark -> {name: value}
    methods: dict  # method -> {name: value}
    published: list  # rows: benchmark, scenario, method, metric, value, source (+ backbone, buffer_size, tasks)

    def run_settings(self, benchmark: str) -> dict:
        """The run settings (RUN_SETTINGS) of a run on `benchmark`."""
        merged = {**self.settings, **self.benchmarks.get(benchmark, {})}
        return {k: v for k, v in merged.items() if k in RUN_SETTINGS}

    def values(self, method: Method, benchmark: str) -> dict:
        """The training and method values of `method` on `benchmark`: the protocol's settings, then the
        benchmark's, then the method's own; only the names the method uses."""
        merged = {**self.settings, **self.benchmarks.get(benchmark, {}), **self.methods.get(method.name, {})}
        return {k: v for k, v in merged.items() if k in tunable(method)}


def deviation(setting: str, protocol_value, used, reason: str) -> dict:
    """One entry of results.json's `protocol.deviations`; reason: flag | substitution | grid file."""
    return {"setting": setting, "protocol": protocol_value, "used": used, "reason": reason}


def known() -> list[str]:
    return sorted(p.stem for p in PROTOCOLS.glob("*.yaml"))


def load(name: str) -> Protocol:
    """A shipped protocol by name, or a protocol file by path; every value checked (UsageError otherwise)."""
    import yaml

    path = Path(name) if name.endswith((".yaml", ".yml")) else PROTOCOLS / f"{name}.yaml"
    if not path.is_file():
        if path.parent != PROTOCOLS:
            raise UsageError(f"--protocol {name}: no such file")
        raise UsageError(f"unknown protocol {name!r}: use one of {', '.join(known())}, or a path to a .yaml file")
    raw = path.read_bytes()
    try:
        content = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise UsageError(f"protocol file {path} is not YAML") from None
    if not isinstance(content, dict) or "name" not in content:
        raise UsageError(f"protocol file {path} must be a mapping with a name (see docs/protocols.md)")
    where = f"protocol file {path}"
    unknown = sorted(set(content) - KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (it may have {', '.join(sorted(KEYS))})")
    section = lambda key: _mapping(content.get(key) or {}, f"{where}: {key}")  # noqa: E731
    settings = _checked(section("settings"), f"{where}: settings")
    substitutes = _checked(section("substitutes"), f"{where}: substitutes")
    benchmarks = {b: _checked(_mapping(v, f"{where}: benchmarks.{b}"), f"{where}: benchmarks.{b}")
                  for b, v in section("benchmarks").items()}
    methods = content.get("methods") or {}
    if not isinstance(methods, dict):
        raise UsageError(f"{where}: methods must map method names to their values")
    methods = {m: _method_values(m, v, where) for m, v in methods.items()}
    published = content.get("published") or []
    if not isinstance(published, list):
        raise UsageError(f"{where}: published must be a list of rows")
    for i, row in enumerate(published, 1):
        _check_row(row, f"{where}: published row {i}")
    return Protocol(
        name=str(content["name"]), sha256=hashlib.sha256(raw).hexdigest(), selectable=bool(content.get("selectable", False)),
        settings=settings, substitutes=substitutes, benchmarks=benchmarks, methods=methods, published=published,
    )


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a mapping of names to values")
    return {str(k).replace("-", "_"): v for k, v in value.items()}


def _checked(values: dict, where: str) -> dict:
    """Each name known, each training or method value parsed as its flag's (run settings: when applied)."""
    out = {}
    for name, value in values.items():
        if name in RUN_SETTINGS:
            out[name] = value
        elif name in names():
            out[name] = _parse(name, value, where)
        else:
            raise UsageError(f"{where}: unknown setting {name!r} (known: {', '.join((*RUN_SETTINGS, *names()))})")
    return out


def _method_values(method: str, values, where: str) -> dict:
    known = suite_methods()
    if method not in known:
        raise UsageError(f"{where}: unknown method {method!r} (known: {', '.join(known)})")
    values = _mapping(values, f"{where}: methods.{method}")
    for name in values:
        if name not in tunable(known[method]):
            raise UsageError(f"{where}: {method} has no setting {name!r} (it has {', '.join(tunable(known[method]))})")
    return {name: _parse(name, value, f"{where}: methods.{method}") for name, value in values.items()}


def _parse(name: str, value, where: str):
    try:
        return parse(name, value)
    except UsageError as e:
        raise UsageError(f"{where}: {e}") from None


def _check_row(row, where: str) -> None:
    from benchmarks.method_registry import label_order
    from benchmarks.metrics import SUMMARY_KEYS

    if not isinstance(row, dict):
        raise UsageError(f"{where} is not a mapping")
    missing = [k for k in ROW_REQUIRED if row.get(k) in (None, "")]
    if missing:
        raise UsageError(f"{where} has no {missing[0]} (every published number needs {', '.join(ROW_REQUIRED)})")
    unknown = sorted(set(row) - ROW_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (a row may have {', '.join(sorted(ROW_KEYS))})")
    if row["method"] not in label_order():
        raise UsageError(f"{where}: unknown method {row['method']!r}")
    if row["metric"] not in SUMMARY_KEYS:
        raise UsageError(f"{where}: unknown metric {row['metric']!r} (use one of {', '.join(SUMMARY_KEYS)})")
    if isinstance(row["value"], bool) or not isinstance(row["value"], (int, float)):
        raise UsageError(f"{where}: value must be a number (percent), got {row['value']!r}")


def apply(request: GridRequest, name: str | None, given: set[str], read_flag) -> GridRequest:
    """`request` with protocol `name`'s settings (default: suite) as its defaults.

    Run settings it fixes are set where no flag was given (a substitute where the protocol names one);
    its training and method values become each method's defaults (`ChosenMethod.protocol_values`).
    Every given flag that differs from the protocol, and every substitute, is a deviation, kept per
    method for results.json. `given`: the names of the flags given; `read_flag(name, value)` reads a
    value as its flag would (a bad one is a UsageError).
    """
    protocol = load(name or DEFAULT)
    if "select_on" in given and not protocol.selectable:
        raise UsageError(f"--protocol {protocol.name} fixes its hyper-parameters as published: drop --select-on "
                         "(protocols der and suite select on validation)")

    def flag_value(setting: str, value):
        try:
            return read_flag(setting, value)
        except UsageError as e:
            raise UsageError(f"protocol {protocol.name}: {setting}: {e}") from None

    benchmark, shared = request.stream.benchmark, []
    if protocol.benchmarks and benchmark not in protocol.benchmarks:
        shared.append(deviation("benchmark", " | ".join(protocol.benchmarks), benchmark, "flag"))
    for setting, value in protocol.run_settings(benchmark).items():
        value = flag_value(setting, value)
        if setting in given:
            if request.setting(setting) != value:
                shared.append(deviation(setting, value, request.setting(setting), "flag"))
        elif setting in protocol.substitutes:
            request = request.with_setting(setting, flag_value(setting, protocol.substitutes[setting]))
            shared.append(deviation(setting, value, request.setting(setting), "substitution"))
        else:
            request = request.with_setting(setting, value)
    methods = []
    for chosen in request.methods:
        values = protocol.values(chosen.method, benchmark)
        deviations = list(shared)
        for setting, value in values.items():
            used = request.given.get(setting)
            if used is not None and used != [value]:
                deviations.append(deviation(setting, value, used[0] if len(used) == 1 else used, "flag"))
        methods.append(replace(chosen, protocol_values=values, deviations=tuple(deviations)))
    return replace(request, methods=tuple(methods), protocol={"name": protocol.name, "sha256": protocol.sha256})
