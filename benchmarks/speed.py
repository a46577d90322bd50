"""Speed benchmark: the suite against plain PyTorch, and DER++ against ER, on the same batches.

    python -m benchmarks.speed --data-dir ../shared/data [--backbone minilm] [--repeats 3] [--quick]
    python -m benchmarks.speed --data-dir ../shared/data --head lm [--backbone tiny-gpt2]

(a) fine-tuning throughput of the harness vs a plain PyTorch loop fed the very batches the
harness drew; (b) step time of ER vs DER++ `stored` vs DER++ `teacher` on the second task of
the same stream; (c) evaluation throughput of the harness vs a plain batched forward;
(d) buffer bytes per example; (e) a whole SEQ* run under the lor protocol's settings (5 tasks)
with and without the feature cache (`frozen_cached_vs_uncached`, the speed-up); (f) probing
seconds per training second of fine-tuning, with and without the cache reusing evaluation's
features; (g) on a CPU with native bf16 only (else it says why it skips), the fast path
(--precision bf16) against fp32: training and evaluation throughput and task 1's accuracy;
(h) a whole run (both tasks, the seen tasks evaluated after each) of the suite's finetune, er and
derpp against Avalanche 0.6's own Naive, Replay and DER on the same stream (`suite_vs_avalanche_*`,
suite seconds / Avalanche seconds), with each side's final accuracies, steps and rows trained on.
(e) and (f) fail if the cache changed a number. With `--head lm` (the generative head): (b) and (d), and
instead of (a) and (c) evaluation throughput of `rank` vs `generate`. Contenders alternate
within each round so that machine noise hits them alike, and which one goes first changes from
round to round. Each round's figures are printed, then the medians over rounds; the last line
printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from contextlib import redirect_stdout
from dataclasses import replace

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin
from avalanche.training import DER, Naive
from avalanche.training.plugins import ReplayPlugin

from benchmarks.engine.checkpoint import rng_states, set_rng_states
from benchmarks.models.generative import DEFAULT_TEMPLATE
from benchmarks.data.prepare import prepare_stream
from benchmarks.data.registry import data_dir_from, resolve_spec
from benchmarks.data.stream import build_benchmark
from benchmarks.engine.hardware import cpu_bf16_flags
from benchmarks.engine.strategy import ContinualStrategy, adamw, build_strategy
from benchmarks.method_registry import option_defaults, suite_methods
from benchmarks.probing import Prober
from benchmarks.results import RunConfig


class BatchRecorder(SupervisedPlugin):
    """Keeps the new-data batches the harness trained on, for the plain loop to replay."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def before_forward(self, strategy, **kwargs):
        self.batches.append((strategy.mb_x.clone(), strategy.mb_y.clone()))


def two_task_stream(backbone: str, per_class: int, data_dir, classes: int = 20, head: str = "linear", tasks: int = 2):
    """The first `classes` CLINC150 intents in `tasks` tasks (2), `per_class` training examples each."""
    stream = prepare_stream(
        resolve_spec("clinc150"), data_dir_from(data_dir), backbone=backbone, head=head, num_tasks=tasks, max_length=50,
        prompt_template=DEFAULT_TEMPLATE if head == "lm" else None, limit=per_class, first_classes=classes,
    )
    return stream.task_split, stream.data


def config(method: str, backbone: str, head: str = "linear", lm_eval: str | None = None, **hp) -> RunConfig:
    return RunConfig(
        benchmark="speed", scenario="cil", method=method, seed=0, backbone=backbone, head=head, num_tasks=2,
        max_length=50, batch_size=32, lm_eval=lm_eval, hp={**option_defaults(), "buffer_size": 200, **hp},
    )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def in_turn(names: list[str], turn: int) -> list[str]:
    """`names` rotated by `turn`: over rounds no contender always goes first, in the other's wake."""
    k = turn % len(names)
    return names[k:] + names[:k]


def train_round(backbone, task_split, data, batches: list | None = None) -> tuple[float, float, object, list]:
    """(harness, plain) examples per second on identical batches, models and initial weights; the
    trained strategy; the batches.

    The harness trains from the random state it was built in, so it draws the same batches in
    every round; given an earlier round's `batches`, the plain loop goes first.
    """
    recorder = BatchRecorder()
    bench = build_benchmark(data, task_split, "cil")
    strategy = build_strategy(config("finetune", backbone), task_split, extra_plugins=[recorder])
    built = rng_states()
    plain_model = build_strategy(config("finetune", backbone), task_split).model
    plain_model.add_head(task_split.task_sizes[0])
    plain_model.train()
    optimizer = adamw([{"params": plain_model.parameters(), "lr": 2e-5}])  # the harness's optimizer

    def harness():
        set_rng_states(built)
        strategy.train(bench.train_stream[0])

    def plain():
        for x, y in batches or recorder.batches:
            optimizer.zero_grad()
            F.cross_entropy(plain_model(x), y).backward()
            optimizer.step()

    contenders = {"harness": harness, "plain": plain}
    seconds = {name: timed(contenders[name]) for name in in_turn(list(contenders), 1 if batches else 0)}
    if batches and not all(
        torch.equal(x, x2) and torch.equal(y, y2) for (x, y), (x2, y2) in zip(batches, recorder.batches, strict=True)
    ):
        raise RuntimeError("the harness drew other batches than in the first round: the comparison is void")
    examples = sum(len(y) for _, y in recorder.batches)
    return examples / seconds["harness"], examples / seconds["plain"], strategy, recorder.batches


def eval_round(strategy, bench, turn: int = 0) -> tuple[float, float]:
    """(harness, plain) evaluation examples per second on the first task's test set.

    The plain loop calls the model's own `predict` on the same batches: what differs is the harness.
    """
    experience = bench.test_stream[0]
    ids = torch.stack([experience.dataset[i][0] for i in range(len(experience.dataset))])
    model = strategy.model

    def plain():
        model.eval()
        with torch.inference_mode():
            for i in range(0, len(ids), strategy.eval_mb_size):
                batch = ids[i : i + strategy.eval_mb_size]
                model.predict(batch, torch.ones(len(batch), model.num_classes, dtype=torch.bool))

    contenders = {"harness": lambda: strategy.eval([experience]), "plain": plain}
    seconds = {name: timed(contenders[name]) for name in in_turn(list(contenders), turn)}
    return len(ids) / seconds["harness"], len(ids) / seconds["plain"]


def run_stream(strategy, bench, prober=None) -> dict:
    """Trains task by task, evaluating every seen task after each (and probing, given a prober), as a
    run does: seconds of each part, and the accuracy and probing rows."""
    out = {"train": 0.0, "eval": 0.0, "probe": 0.0, "rows": [], "probing": []}
    for task, experience in enumerate(bench.train_stream):
        out["train"] += timed(lambda: strategy.train(experience))
        strategy.accuracy = {}
        out["eval"] += timed(lambda: strategy.eval(bench.test_stream[: task + 1]))
        out["rows"].append(dict(strategy.accuracy))
        if prober:
            rows, seconds = prober.probe(strategy)
            out["probe"] += seconds
            out["probing"].append(rows)
    return out


def cached_round(strategy_for, bench, prober_for=None, turn: int = 0) -> dict:
    """The same run with and without the feature cache (benchmarks.models.feature_cache), in turn;
    fails if the cache changed a number."""
    out = {}
    for cached in in_turn([True, False], turn):
        strategy = strategy_for()
        strategy.feature_cache.enabled = cached
        strategy.feature_cache.every_backbone = prober_for is not None  # as a run with --probe
        out[cached] = run_stream(strategy, bench, prober_for and prober_for())
    if (out[True]["rows"], out[True]["probing"]) != (out[False]["rows"], out[False]["probing"]):
        raise RuntimeError("the feature cache changed the accuracy or probing matrix: the comparison is void")
    return out


def lor_seq_star(backbone: str, task_split) -> ContinualStrategy:
    """SEQ* under the lor protocol's settings (benchmarks/protocols/lor.yaml: cls pooling, batch 4,
    lr 1e-5, cosine heads pre-allocated), with 1 warm-up and 1 epoch instead of 3 and 5."""
    config = RunConfig(
        benchmark="speed", scenario="cil", method="seq-star", seed=0, backbone=backbone, head="cosine", pooling="cls",
        num_tasks=task_split.num_tasks, max_length=50, batch_size=4, lr=1e-5, head_lr=1e-3,
        hp={"warmup_epochs": 1, "preallocate_heads": True},
    )
    return build_strategy(config, task_split)


def frozen_round(backbone, task_split, data, turn: int = 0) -> tuple[float, float]:
    """Seconds of a whole SEQ* run (training and evaluation after every task), (cached, uncached)."""
    bench = build_benchmark(data, task_split, "cil")
    out = cached_round(lambda: lor_seq_star(backbone, task_split), bench, turn=turn)
    return tuple(out[cached]["train"] + out[cached]["eval"] for cached in (True, False))


def probe_round(backbone, task_split, data, turn: int = 0) -> tuple[float, float]:
    """Probing seconds per training second of fine-tuning with probing after each task, (cached, uncached)."""
    bench = build_benchmark(data, task_split, "cil")

    def prober():  # a fresh one per run: a prober keeps the features of the weights it last saw
        return Prober(data, task_split, "cil", per_class=20, seed=0, batch_size=RunConfig.eval_batch_size)

    out = cached_round(lambda: build_strategy(config("finetune", backbone), task_split), bench, prober, turn)
    return tuple(out[cached]["probe"] / out[cached]["train"] for cached in (True, False))


def fast_round(backbone, task_split, data, turn: int = 0) -> dict:
    """The fast path (--precision bf16: autocast, the attention `hardware` picks, fused AdamW) against
    the default fp32 on the first task: training and evaluation examples per second, and the accuracy."""
    out = {}
    for precision in in_turn(["bf16", "fp32"], turn):
        bench = build_benchmark(data, task_split, "cil")
        strategy = build_strategy(replace(config("finetune", backbone), precision=precision), task_split)
        train = timed(lambda: strategy.train(bench.train_stream[0]))
        evaluation = timed(lambda: strategy.eval(bench.test_stream[:1]))
        out[precision] = (len(bench.train_stream[0].dataset) / train, len(bench.test_stream[0].dataset) / evaluation,
                          strategy.accuracy[0])
    return out


def step_round(backbone, task_split, data, head: str = "linear", turn: int = 0) -> dict:
    """Seconds per step on task 1 (buffer filled, teacher taken) and bytes per buffered example."""
    methods = {"er": ("er", {}), "stored": ("derpp", {}), "teacher": ("derpp", {"derpp_logits": "teacher"})}
    out = {}
    for label in in_turn(list(methods), turn):
        method, hp = methods[label]
        bench = build_benchmark(data, task_split, "cil")
        strategy = build_strategy(config(method, backbone, head, **hp), task_split)
        strategy.train(bench.train_stream[0])
        steps = -(-len(bench.train_stream[1].dataset) // strategy.train_mb_size)
        out[label] = timed(lambda: strategy.train(bench.train_stream[1])) / steps
        buffer = strategy.method_plugin.buffer
        out[f"{label}_bytes"] = buffer.nbytes() / buffer.capacity  # the tensors are allocated whole
    out["strategy"] = strategy
    return out


# Avalanche 0.6's strategy -> the suite's method it is timed against.
AVALANCHE_TWINS = {"naive": "finetune", "replay": "er", "der": "derpp"}


class RowCounter(SupervisedPlugin):
    """Training steps and the rows they forward (new and replayed), counted alike on either side."""

    def __init__(self):
        super().__init__()
        self.steps = self.rows = 0

    def after_forward(self, strategy, **kwargs):
        self.steps += 1
        self.rows += len(strategy.mb_y)


def avalanche_strategy(name: str, backbone: str, task_split, counter: RowCounter) -> tuple:
    """Avalanche's `Naive`, `Naive` + `ReplayPlugin` (what its `Replay` is) or `DER`, as its user
    builds one; with its buffer (None for Naive).

    What its user gets: the strategy class, its default evaluator (accuracy and loss per epoch,
    experience and stream, printed by the InteractiveLogger with tqdm bars) and CE over the whole
    output. The model is the suite's `TextClassifier` from the same seeded load (the same encoder
    weights; its `forward` trims each batch to its longest row and forwards length-sorted chunks,
    so the padding trim applies on both sides), with every task's head from the start: Avalanche's
    strategies expect a fixed output (DER stores whole logit rows for its MSE), so it scores all 20
    classes from task 1 on, where the suite adds task 2's head when task 2 arrives. What `config()`
    sets the suite, it sets here: batch 32, 1 epoch, buffer 200, the replay batch (the training
    batch), DER++'s alpha and beta, the same fused AdamW over the same groups (encoder at `lr`,
    heads at `head_lr`; Avalanche keeps the optimizer's state across tasks, the suite makes a
    fresh one), and evaluation batches of 128, as the suite's (DER's default is 1).
    """
    suite = config(AVALANCHE_TWINS[name], backbone)
    hp = suite.hp
    model = build_strategy(config("finetune", backbone), task_split).model
    for size in task_split.task_sizes:
        model.add_head(size)
    common = dict(
        model=model, optimizer=adamw(model.param_groups(suite.lr, suite.head_lr)),
        criterion=torch.nn.CrossEntropyLoss(), train_mb_size=suite.batch_size, train_epochs=suite.epochs,
        eval_mb_size=suite.eval_batch_size, device=suite.device,
    )
    if name == "naive":
        return Naive(**common, plugins=[counter]), None
    if name == "replay":
        replay = ReplayPlugin(mem_size=hp["buffer_size"], batch_size_mem=hp["replay_batch_size"])
        return Naive(**common, plugins=[counter, replay]), replay.storage_policy
    strategy = DER(**common, plugins=[counter], mem_size=hp["buffer_size"], batch_size_mem=hp["replay_batch_size"],
                   alpha=hp["alpha"], beta=hp["beta"])
    return strategy, strategy.storage_policy


def avalanche_round(backbone, task_split, data, turn: int = 0) -> dict:
    """{(strategy, side): seconds of a whole run (`run_stream`), final accuracy per task, steps, rows
    and buffer length} for each Avalanche strategy and the suite's twin, in turn.

    Both sides go through `run_stream` (on Avalanche's strategy its `accuracy` reset is an unused
    attribute: the accuracies are its evaluator's). Avalanche's logger prints to /dev/null: it
    formats its lines and bars as for a terminal, and this printout stays readable. Fails if the
    two sides took a different number of steps (then they did not train on the same examples). The suite's reservoir replays from task 1's second
    step on and keeps the logits of the training forward; Avalanche's buffers are filled at the end
    of a task, so it replays from task 2 on, and DER forwards each task once more for the logits
    it stores: the rows show the first difference.
    """
    bench = build_benchmark(data, task_split, "cil")
    tasks = range(task_split.num_tasks)
    out = {}
    for name, method in AVALANCHE_TWINS.items():
        for side in in_turn(["suite", "avalanche"], turn):
            counter = RowCounter()
            if side == "suite":
                strategy = build_strategy(config(method, backbone), task_split, extra_plugins=[counter])
                run = run_stream(strategy, bench)
                accuracy = [run["rows"][-1][t] for t in tasks]
                buffer = len(strategy.method_plugin.buffer) if strategy.method_plugin else None
            else:
                with open(os.devnull, "w") as devnull, redirect_stdout(devnull):
                    strategy, policy = avalanche_strategy(name, backbone, task_split, counter)
                    run = run_stream(strategy, bench)
                metrics = strategy.evaluator.get_last_metrics()
                accuracy = [metrics[f"Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp{t:03d}"] for t in tasks]
                buffer = None if policy is None else len(policy.buffer)
            out[name, side] = {"seconds": run["train"] + run["eval"], "accuracy": accuracy, "steps": counter.steps,
                               "rows": counter.rows, "buffer": buffer}
        if out[name, "suite"]["steps"] != out[name, "avalanche"]["steps"]:
            raise RuntimeError(f"{method} and Avalanche's {name} took other numbers of steps: the comparison is void")
    return out


def avalanche_figures(med: dict, runs: dict) -> dict:
    """Prints (h), with the last round's accuracies, steps, rows and buffers; returns its JSON fields."""
    print("  whole run (2 tasks, seen ones evaluated after each)   seconds   final accuracy per task   steps   rows"
          "   buffer")
    for name, method in AVALANCHE_TWINS.items():
        for side, label in (("suite", method), ("avalanche", f"Avalanche {name}")):
            run = runs[name, side]
            accuracy = " ".join(f"{a:.3f}" for a in run["accuracy"])
            buffer = "-" if run["buffer"] is None else run["buffer"]
            print(f"    {label:18} {med[f'{side}_{name}']:8.2f}   {accuracy:>23}   {run['steps']:5}   {run['rows']:4}"
                  f"   {buffer}")
    return {
        **{f"suite_vs_avalanche_{name}": med[f"suite_{name}"] / med[f"avalanche_{name}"] for name in AVALANCHE_TWINS},
        "suite_vs_avalanche_runs": {name: {side: runs[name, side] for side in ("suite", "avalanche")}
                                    for name in AVALANCHE_TWINS},
    }


def lm_eval_round(strategy, bench, turn: int = 0) -> dict:
    """Evaluation examples per second of the generative head in each mode, same model and examples."""
    experiences = bench.test_stream[:2]  # CIL after task 1: rank scores every label of both tasks
    examples = sum(len(e.dataset) for e in experiences)
    out = {}
    for mode in in_turn(["generate", "rank"], turn):
        strategy.model.lm_eval = mode
        out[mode] = examples / timed(lambda: strategy.eval(experiences))
    return out


def lm_main(args) -> dict:
    """(b), (d) and rank vs generate on the generative head."""
    task_split, data = two_task_stream(args.backbone, args.per_class, args.data_dir, head="lm")
    rounds = {k: [] for k in ("er", "stored", "teacher", "generate", "rank")}
    for turn in range(args.repeats):
        steps = step_round(args.backbone, task_split, data, head="lm", turn=turn)
        for k in ("er", "stored", "teacher"):
            rounds[k].append(steps[k])
        bytes_per_example = {k: steps[f"{k}_bytes"] for k in ("er", "stored", "teacher")}
        for mode, rate in lm_eval_round(steps["strategy"], build_benchmark(data, task_split, "cil"), turn).items():
            rounds[mode].append(rate)
        print_round(turn, rounds)
    med = {k: statistics.median(v) for k, v in rounds.items()}
    print(f"backbone {args.backbone}, head lm (stored: top-{suite_methods()['derpp'].defaults('lm')['derpp_topk']}), {args.repeats} round(s), medians")
    print(f"  eval examples/s    generate {med['generate']:8.1f}   rank {med['rank']:8.1f}")
    replay = replay_figures(med, bytes_per_example)
    result = {"backbone": args.backbone, "head": "lm", "repeats": args.repeats,
              "rank_vs_generate_eval": med["rank"] / med["generate"], **replay}
    print(json.dumps(result))
    return result


def print_round(turn: int, rounds: dict) -> None:
    """This round's figures, so that a reader sees the spread behind the medians."""
    figures = "  ".join(f"{k} {v[turn]:.4g}" for k, v in rounds.items())
    print(f"round {turn + 1}: {figures}", flush=True)


def replay_figures(med: dict, bytes_per_example: dict) -> dict:
    """Prints (b) and (d); returns their JSON fields."""
    print(f"  seconds per step   ER {med['er']:.4f}   DER++ stored {med['stored']:.4f}   DER++ teacher {med['teacher']:.4f}")
    print(f"  buffer bytes/example   ER {bytes_per_example['er']:.0f}   stored {bytes_per_example['stored']:.0f}   teacher {bytes_per_example['teacher']:.0f}")
    return {
        "derpp_stored_vs_er": med["stored"] / med["er"],
        "derpp_teacher_vs_er": med["teacher"] / med["er"],
        "buffer_bytes_per_example": bytes_per_example["stored"],
        "buffer_bytes_per_example_by_method": bytes_per_example,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backbone", help="default: minilm, or tiny-gpt2 with --head lm")
    p.add_argument("--head", default="linear", choices=["linear", "lm"])
    p.add_argument("--data-dir", help="folder holding clinc150/ (or set CLBENCH_DATA_DIR)")
    p.add_argument("--per-class", type=int, default=32, help="training examples per class (20 classes, 2 tasks)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="tiny backbone, 8 examples per class, 2 rounds: each order (CI)")
    args = p.parse_args(argv)
    lm = args.head == "lm"
    if args.quick:
        args.backbone, args.per_class, args.repeats = "tiny-gpt2" if lm else "tiny-bert", 8, 2
    args.backbone = args.backbone or ("tiny-gpt2" if lm else "minilm")
    if lm:
        return lm_main(args)
    task_split, data = two_task_stream(args.backbone, args.per_class, args.data_dir)
    frozen_split, frozen_data = two_task_stream(args.backbone, args.per_class, args.data_dir, tasks=5)
    names = ["harness_train", "plain_train", "harness_eval", "plain_eval", "er", "stored", "teacher", "frozen_cached",
             "frozen_uncached", "probe_cached", "probe_uncached"]
    names += [f"{side}_{name}" for name in AVALANCHE_TWINS for side in ("suite", "avalanche")]
    bf16_flags = cpu_bf16_flags()
    if bf16_flags:
        names += ["fast_train", "default_train", "fast_eval", "default_eval", "fast_accuracy", "default_accuracy"]
    else:
        print("fast_vs_default_train, fast_vs_default_eval: skipped, this CPU computes no bf16 natively (no amx_bf16 "
              "or avx512_bf16 flag): emulated bf16 autocast is far slower than fp32 here")
    rounds = {k: [] for k in names}
    bytes_per_example, batches = {}, None
    for turn in range(args.repeats):
        harness, plain, strategy, batches = train_round(args.backbone, task_split, data, batches if turn % 2 else None)
        rounds["harness_train"].append(harness)
        rounds["plain_train"].append(plain)
        harness, plain = eval_round(strategy, build_benchmark(data, task_split, "cil"), turn)
        rounds["harness_eval"].append(harness)
        rounds["plain_eval"].append(plain)
        steps = step_round(args.backbone, task_split, data, turn=turn)
        for k in ("er", "stored", "teacher"):
            rounds[k].append(steps[k])
        bytes_per_example = {k: steps[f"{k}_bytes"] for k in ("er", "stored", "teacher")}
        for prefix, seconds in (("frozen", frozen_round(args.backbone, frozen_split, frozen_data, turn)),
                                ("probe", probe_round(args.backbone, task_split, data, turn))):
            rounds[f"{prefix}_cached"].append(seconds[0])
            rounds[f"{prefix}_uncached"].append(seconds[1])
        if bf16_flags:
            fast = fast_round(args.backbone, task_split, data, turn)
            for i, figure in enumerate(("train", "eval", "accuracy")):
                rounds[f"fast_{figure}"].append(fast["bf16"][i])
                rounds[f"default_{figure}"].append(fast["fp32"][i])
        runs = avalanche_round(args.backbone, task_split, data, turn)
        for (name, side), run in runs.items():
            rounds[f"{side}_{name}"].append(run["seconds"])
        print_round(turn, rounds)
    med = {k: statistics.median(v) for k, v in rounds.items()}
    print(f"backbone {args.backbone}, {args.repeats} round(s), medians")
    print(f"  train examples/s   harness {med['harness_train']:8.1f}   plain {med['plain_train']:8.1f}")
    print(f"  eval examples/s    harness {med['harness_eval']:8.1f}   plain {med['plain_eval']:8.1f}")
    print(f"  SEQ* (lor settings, 5 tasks) seconds   cached {med['frozen_cached']:.1f}   uncached {med['frozen_uncached']:.1f}")
    print(f"  probing s / training s   cached {med['probe_cached']:.3f}   uncached {med['probe_uncached']:.3f}")
    replay = replay_figures(med, bytes_per_example)
    avalanche = avalanche_figures(med, runs)
    result = {
        "backbone": args.backbone,
        "repeats": args.repeats,
        "cpu_bf16": bf16_flags,
        "harness_vs_plain_train": med["harness_train"] / med["plain_train"],
        "eval_vs_plain": med["harness_eval"] / med["plain_eval"],
        "frozen_cached_vs_uncached": med["frozen_uncached"] / med["frozen_cached"],
        "probe_vs_train_cached": med["probe_cached"],
        "probe_vs_train_uncached": med["probe_uncached"],
        "fast_vs_default_train": med["fast_train"] / med["default_train"] if bf16_flags else None,
        "fast_vs_default_eval": med["fast_eval"] / med["default_eval"] if bf16_flags else None,
        "fast_minus_default_accuracy": med["fast_accuracy"] - med["default_accuracy"] if bf16_flags else None,
        **replay,
        **avalanche,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
