"""A grid's plan: the run configs a request expands to, and what to do with each one's earlier results.

Every refusal (an existing result without --resume or --overwrite, a changed setting or a damaged
file under --resume) comes before anything is written.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from benchmarks.engine import checkpoint
from benchmarks.request import ChosenMethod, GridRequest
from benchmarks.results import RESULTS_FILE, RunConfig, Unreadable, default, read_results, recorded_config
from benchmarks.errors import UsageError
from benchmarks.settings import TRAINING, method_space, product, variant_names

START_OVER = "delete {run} to start that run over (--overwrite starts every run of the grid over)"


def run_configs(request: GridRequest, stream, device: str, template: str | None) -> list[RunConfig]:
    """One config per scenario x method x setting x seed, each recording the values its method uses.

    A method's settings are the product of its values (`benchmarks.settings`): the grid file's, else the
    flags', else the protocol's, else its defaults. Runs of the same method label are named by the values
    that differ between them. A run asked for twice runs once.
    """
    head = request.stream.head
    training_defaults = {name: default(name) for name in TRAINING}
    by_label: dict[str, list[tuple[ChosenMethod, dict]]] = {}
    for chosen in request.methods:
        method = chosen.method
        defaults = {**training_defaults, **method.defaults(head), **chosen.protocol_values}
        for setting in product(method_space(method, request.given, defaults, request.grid_file.get(method.name))):
            hp = method.recorded({**method.defaults(head), **setting}, head)
            named = {**{k: setting[k] for k in TRAINING}, **hp}
            entries = by_label.setdefault(method.run_label(hp, head), [])
            if (chosen, named) not in entries:
                entries.append((chosen, named))
    configs = []
    for entries in by_label.values():
        for (chosen, named), variant in zip(entries, variant_names([named for _, named in entries])):
            configs += [
                RunConfig(
                    benchmark=stream.spec.name, scenario=scenario, method=chosen.name, method_source=chosen.source,
                    seed=seed, backbone=request.stream.backbone, head=chosen.method.head or head, pooling=request.pooling,
                    revision=request.stream.revision, trust_remote_code=request.stream.trust_remote_code,
                    num_tasks=stream.task_split.num_tasks, max_length=stream.max_length,
                    epochs=named["epochs"], batch_size=named["batch_size"], eval_batch_size=request.eval_batch_size,
                    lr=named["lr"], head_lr=named["head_lr"], device=device, precision=request.precision,
                    limit_per_class=request.stream.limit_per_class, classes=request.stream.classes,
                    class_order_seed=request.stream.class_order_seed, data_seed=request.stream.data_seed,
                    lm_eval=request.lm_eval if head == "lm" else None, prompt_template=template,
                    eval_split=request.stream.eval_split, val_fraction=stream.val_fraction, variant=variant,
                    probe_per_class=request.probe_per_class,
                    hp={k: named[k] for k in named if k not in TRAINING},
                )
                for scenario in request.scenarios
                for seed in request.seeds
            ]
    order = [chosen.name for chosen in request.methods]
    return sorted(configs, key=lambda c: (request.scenarios.index(c.scenario), order.index(c.method)))


def protocol_record(request: GridRequest, method: str) -> dict:
    """The `protocol` of a run's results.json: name, sha256 of its file, and the deviations of the
    run's method (a grid file's values that differ from the protocol's are deviations too)."""
    from benchmarks.protocol import deviation

    chosen = next(c for c in request.methods if c.name == method)
    deviations = list(chosen.deviations)
    for name, values in request.grid_file.get(method, {}).items():
        if name in chosen.protocol_values and values != [chosen.protocol_values[name]]:
            value = chosen.protocol_values[name]
            deviations.append(deviation(name, value, values[0] if len(values) == 1 else values, "grid file"))
    return {"protocol": {**request.protocol, "deviations": deviations}}


def plan_runs(configs: list[RunConfig], output: Path, resume: bool, overwrite: bool) -> list[tuple]:
    """(config, "new" | "resume" | "skip", earlier results or None) per run; refuses to touch results silently."""
    plan = []
    for config in configs:
        path = output / config.run_name / RESULTS_FILE
        if overwrite or not path.exists():
            plan.append((config, "new", None))
            continue
        try:
            previous = read_results(path)
        except Unreadable as e:
            raise UsageError(f"{path} is not a results file of this suite ({e}): {START_OVER.format(run=path.parent)}") from None
        status = previous["status"]
        if not resume:
            raise UsageError(
                f"{path} exists ({status}): --resume skips finished runs and continues the others, --overwrite starts over"
            )
        if status in ("finished", "failed"):
            plan.append((config, "skip", previous))
            continue
        now, then = asdict(config), recorded_config(previous)
        changed = [k for k in now if k != "device" and now[k] != then.get(k)]
        if changed:
            k = changed[0]
            raise UsageError(
                f"cannot resume {config.run_name}: it was started with {k}={then.get(k)!r}, not {now[k]!r}; "
                "use the same settings, another --output, or --overwrite"
            )
        ckpt = output / config.run_name / checkpoint.FILE_NAME
        damaged = ckpt.exists() and checkpoint.check(ckpt, now, previous["accuracy_matrix"])
        if damaged:
            raise UsageError(f"{ckpt} cannot continue this run: {damaged}; delete it to restart that run from task 1")
        plan.append((config, "resume", previous))
    return plan
