"""Hyper-parameters chosen on validation with the same budget for every method (Ray Tune + ASHA).

A method's search space sits beside its defaults (`methods.declare.Method.search` and each option's `search`). `budget`
distinct settings are drawn from it with a fixed seed (all of them when the space is smaller);
each is a trial: one run of the method scored on the validation split (the test split is
never tokenized), reporting after every task, so that ASHA, whose time axis is the task index,
stops a poor setting after a few tasks. The chosen setting is the best trial that trained
every task, by `criterion` on its validation matrix; the test runs then use it.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, replace
from pathlib import Path

from benchmarks import metrics
from benchmarks.results import RunConfig, trained_every_task, write_json_atomically
from benchmarks.settings import TRAINING, product, tunable
from benchmarks.errors import UsageError

CRITERIA = ("average_incremental_accuracy", "final_average_accuracy")
SELECTION_FILE = "selection.json"


def partial_score(matrix: list[list[float]], criterion: str, joint: bool) -> float:
    """The criterion over the tasks trained so far: what ASHA compares between trials at one task."""
    if joint or criterion == "final_average_accuracy":
        seen = len(matrix[-1]) if joint else len(matrix)
        return sum(matrix[-1][:seen]) / seen
    return metrics.average_incremental_accuracy([row[: len(matrix)] for row in matrix])


def draw(space: dict[str, list], budget: int, seed: int = 0) -> list[dict]:
    """`budget` distinct settings of `space`, the same ones for every invocation."""
    settings = product(space)
    return settings if budget >= len(settings) else random.Random(seed).sample(settings, budget)


def with_setting(config: RunConfig, setting: dict, variant: str) -> RunConfig:
    """`config` with the training values and method hyper-parameters of `setting`."""
    training = {k: v for k, v in setting.items() if k in TRAINING}
    return replace(config, **training, hp={**config.hp, **{k: v for k, v in setting.items() if k not in TRAINING}},
                   variant=variant)


def trial_name(setting: dict) -> str:
    return "-".join(f"{k}{v}" for k, v in setting.items())


def search(base: RunConfig, space: dict[str, list], budget: int, criterion: str, stream, workers: int,
           address: str | None, output: Path) -> dict:
    """Runs the trials of `base`'s method on `stream` (a validation stream); returns the selection record."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from benchmarks.engine.parallel import ray_started
    from benchmarks.engine.run import run
    joint = base.declared.joint
    tasks = 1 if joint else stream.task_split.num_tasks
    settings = draw(space, budget)
    folder = (output / "search" / f"{base.scenario}-{base.label}").resolve()

    def trial(point: dict, task_split, data, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        config = with_setting(base, point["setting"], f"trial-{trial_name(point['setting'])}")
        report = lambda matrix: tune.report({"task": len(matrix), "score": partial_score(matrix, criterion, joint)})
        run(config, task_split, data, folder / config.run_name, on_task=report)

    scheduler = ASHAScheduler(time_attr="task", metric="score", mode="max", max_t=tasks,
                              grace_period=max(1, tasks // 3), reduction_factor=3)
    with ray_started(workers, address) as threads:
        trainable = tune.with_resources(
            tune.with_parameters(trial, task_split=stream.task_split, data=stream.data, threads=threads), {"cpu": threads}
        )
        tuner = tune.Tuner(
            trainable, param_space={"setting": tune.grid_search(settings)},
            tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=workers),
            run_config=tune.RunConfig(name="tune", storage_path=str(folder), verbose=0),
        )
        grid = tuner.fit()
    trials = []
    for result in grid:
        history = [] if result.metrics_dataframe is None else result.metrics_dataframe["score"].tolist()
        trials.append({"setting": result.config["setting"], "tasks": len(history),
                       "score": history[-1] if history else None, "scores": history,
                       "error": None if result.error is None else str(result.error).splitlines()[0]})
    trials.sort(key=lambda t: settings.index(t["setting"]))
    complete = trained_every_task(trials, tasks)
    if not complete:
        raise UsageError(f"no trial of {base.label} ({base.scenario}) trained every task: see {folder}")
    best = max(complete, key=lambda t: t["score"])  # ties: the first drawn
    return {"criterion": criterion, "split": "val", "budget": budget, "space": space, "trials": trials,
            "chosen": best["setting"], "scheduler": f"ASHA(time_attr=task, grace_period={max(1, tasks // 3)}, "
                                                    f"reduction_factor=3, max_t={tasks})"}


def selections(bases: list[RunConfig], spaces: dict[str, dict], budget: int, criterion: str, stream, workers: int, address: str | None,
               output: Path, overwrite: bool) -> dict[tuple[str, str], dict]:
    """(scenario, method label) -> selection record, searched once per pair in `spaces[label]`; a finished search is
    kept in OUTPUT/search/<scenario>-<label>/selection.json and reused when asked the same (--overwrite redoes it)."""
    chosen = {}
    for base in bases:
        key = (base.scenario, base.label)
        if key in chosen:
            continue
        space = spaces[base.label]
        path = output / "search" / f"{base.scenario}-{base.label}" / SELECTION_FILE
        request = {"criterion": criterion, "budget": budget, "space": json.loads(json.dumps(space)),
                   "config": {k: v for k, v in asdict(base).items() if k not in ("seed", "device")}}
        if path.exists() and not overwrite:
            try:
                saved = json.loads(path.read_text())
                same = saved["request"] == request
            except (OSError, ValueError, KeyError, TypeError):
                raise UsageError(f"{path} is not a readable selection file: --overwrite redoes the search") from None
            if not same:
                raise UsageError(
                    f"{path} holds a search with another space, budget, criterion or setting: "
                    "--overwrite redoes it, or choose another --output"
                )
            chosen[key] = saved["selection"]
            continue
        print(f"[search] {base.scenario} {base.label}: {min(budget, len(product(space)))} trials on val", flush=True)
        record = search(base, space, budget, criterion, stream, workers, address, output)
        write_json_atomically(path, {"request": request, "selection": record})
        print(f"[search] {base.scenario} {base.label}: chose {record['chosen']}", flush=True)
        chosen[key] = record
    return chosen


def tuned_configs(request, configs: list[RunConfig], output: Path, stream_for_split):
    """--select-on val: each (scenario, method) searched on the validation split (the first seed, and
    --search-limit-per-class examples per class if given), then one test run per seed with the chosen
    setting, named `tuned`; returns those configs and each run's `selection` record."""
    from benchmarks.engine.plan import plan_runs

    unique = {(c.scenario, c.label, c.seed): c for c in reversed(configs)}  # the first setting of each method
    configs = [c for c in configs if unique[(c.scenario, c.label, c.seed)] is c]
    if not (request.resume or request.overwrite):  # refuse to touch earlier results before the search, not after it
        plan_runs([replace(c, variant="tuned") for c in configs], output, resume=False, overwrite=False)
    limit = request.search_limit_per_class or request.stream.limit_per_class
    val = stream_for_split("val", limit)
    bases = [replace(c, eval_split="val", limit_per_class=request.search_limit_per_class or c.limit_per_class)
             for c in configs if c.seed == request.seeds[0]]
    spaces = {}
    for c in bases:
        method = c.declared
        given = {name: request.given[name] for name in tunable(method) if request.given.get(name)}
        space = {**search_space(method), **given, **request.grid_file.get(c.method, {})}
        spaces[c.label] = label_space(c, space)
    chosen = selections(bases, spaces, request.budget, request.select_by, val, request.workers, request.ray_address,
                        output, request.overwrite)
    tuned = [with_setting(c, chosen[(c.scenario, c.label)]["chosen"], "tuned") for c in configs]
    return tuned, {c.run_name: {"selection": chosen[(c.scenario, c.label)]} for c in tuned}


def search_space(method) -> dict[str, list]:
    """What --select-on val searches for `method`: its training values, then each option's search values."""
    space = {name: list(values) for name, values in method.search.items()}
    space.update({name: list(o.search) for name, o in method.options().items() if o.search and name not in space})
    return space


def label_space(base: RunConfig, space: dict[str, list]) -> dict[str, list]:
    """`space` less the names that choose the label a run is filed under (DER++'s `derpp_logits`:
    derpp or derpp-teacher). Each label is searched on its own, with the value that names it, and its
    search is the same whichever other labels an invocation asks for (so a saved one is reused)."""
    method = base.declared
    options = method.options()

    def names_label(name: str, values: list) -> bool:
        allowed = options[name].kind if name in options else None
        candidates = allowed if isinstance(allowed, tuple) else values
        return any(method.run_label({**base.hp, name: v}, base.head) != base.label for v in candidates)

    return {name: values for name, values in space.items() if not names_label(name, values)}
