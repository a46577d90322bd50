"""Speed benchmark: the suite against plain PyTorch, and DER++ against ER, on the same batches.

    python -m benchmarks.speed --data-dir ../shared/data [--backbone minilm] [--repeats 3] [--quick]

(a) fine-tuning throughput of the harness vs a plain PyTorch loop fed the very batches the
harness drew; (b) step time of ER vs DER++ `stored` vs DER++ `teacher` on the second task of
the same stream; (c) evaluation throughput of the harness vs a plain batched forward;
(d) buffer bytes per example. Contenders alternate within each round so that machine noise
hits them alike; every figure is the median over rounds. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin

from benchmarks.harness import RunConfig, build_strategy
from benchmarks.models import load_backbone
from benchmarks.registry import data_dir_from, limit_per_class, load_splits, resolve_spec
from benchmarks.sources import LabeledTexts, Splits
from benchmarks.stream import build_benchmark, class_order, split_classes, tokenize
from methods.registry import HYPERPARAMETERS


class BatchRecorder(SupervisedPlugin):
    """Keeps the new-data batches the harness trained on, for the plain loop to replay."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def before_forward(self, strategy, **kwargs):
        self.batches.append((strategy.mb_x.clone(), strategy.mb_y.clone()))


def two_task_stream(backbone: str, per_class: int, data_dir, classes: int = 20):
    """The first `classes` CLINC150 intents in 2 tasks, `per_class` training examples each."""
    splits = load_splits(resolve_spec("clinc150"), data_dir_from(data_dir), seed=0)
    keep = set(class_order(splits.train.labels, None)[:classes])

    def only(part):
        pairs = [(t, y) for t, y in zip(part.texts, part.labels) if y in keep]
        return LabeledTexts([t for t, _ in pairs], [y for _, y in pairs])

    splits = Splits(limit_per_class(only(splits.train), per_class, seed=0), only(splits.test))
    task_split = split_classes(class_order(splits.train.labels, None), 2)
    _, tokenizer = load_backbone(backbone)
    return task_split, tokenize(splits, task_split, tokenizer, max_length=50)


def config(method: str, backbone: str, **hp) -> RunConfig:
    return RunConfig(
        benchmark="speed", scenario="cil", method=method, seed=0, backbone=backbone, num_tasks=2,
        max_length=50, batch_size=32, hp={**HYPERPARAMETERS, "buffer_size": 200, **hp},
    )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def train_round(backbone, task_split, data) -> tuple[float, float]:
    """(harness, plain) examples per second on identical batches, models and initial weights."""
    recorder = BatchRecorder()
    bench = build_benchmark(data, task_split, "cil")
    strategy = build_strategy(config("finetune", backbone), task_split, extra_plugins=[recorder])
    harness = timed(lambda: strategy.train(bench.train_stream[0]))
    plain_model = build_strategy(config("finetune", backbone), task_split).model
    plain_model.add_head(task_split.task_sizes[0])
    plain_model.train()
    optimizer = torch.optim.AdamW(plain_model.parameters(), lr=2e-5)

    def plain_loop():
        for x, y in recorder.batches:
            optimizer.zero_grad()
            F.cross_entropy(plain_model(x), y).backward()
            optimizer.step()

    examples = sum(len(y) for _, y in recorder.batches)
    return examples / harness, examples / timed(plain_loop), strategy


def eval_round(strategy, bench) -> tuple[float, float]:
    """(harness, plain) evaluation examples per second on the first task's test set."""
    experience = bench.test_stream[0]
    ids = torch.stack([experience.dataset[i][0] for i in range(len(experience.dataset))])
    harness = timed(lambda: strategy.eval([experience]))
    model = strategy.model.eval()

    def plain_forward():
        with torch.inference_mode():
            for i in range(0, len(ids), strategy.eval_mb_size):
                model(ids[i : i + strategy.eval_mb_size])

    return len(ids) / harness, len(ids) / timed(plain_forward)


def step_round(backbone, task_split, data) -> dict:
    """Seconds per step on task 1 (buffer filled, teacher taken) and bytes per buffered example."""
    out = {}
    for label, method, hp in (("er", "er", {}), ("stored", "derpp", {}), ("teacher", "derpp", {"derpp_logits": "teacher"})):
        bench = build_benchmark(data, task_split, "cil")
        strategy = build_strategy(config(method, backbone, **hp), task_split)
        strategy.train(bench.train_stream[0])
        steps = -(-len(bench.train_stream[1].dataset) // strategy.train_mb_size)
        out[label] = timed(lambda: strategy.train(bench.train_stream[1])) / steps
        buffer = next(p.buffer for p in strategy.plugins if hasattr(p, "buffer"))
        out[f"{label}_bytes"] = buffer.nbytes() / buffer.capacity  # the tensors are allocated whole
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--data-dir", help="folder holding clinc150/ (or set CLBENCH_DATA_DIR)")
    p.add_argument("--per-class", type=int, default=32, help="training examples per class (20 classes, 2 tasks)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="tiny-bert, 8 examples per class, 1 round (CI)")
    args = p.parse_args(argv)
    if args.quick:
        args.backbone, args.per_class, args.repeats = "tiny-bert", 8, 1
    task_split, data = two_task_stream(args.backbone, args.per_class, args.data_dir)
    rounds = {k: [] for k in ("harness_train", "plain_train", "harness_eval", "plain_eval", "er", "stored", "teacher")}
    bytes_per_example = {}
    for _ in range(args.repeats):
        harness, plain, strategy = train_round(args.backbone, task_split, data)
        rounds["harness_train"].append(harness)
        rounds["plain_train"].append(plain)
        harness, plain = eval_round(strategy, build_benchmark(data, task_split, "cil"))
        rounds["harness_eval"].append(harness)
        rounds["plain_eval"].append(plain)
        steps = step_round(args.backbone, task_split, data)
        for k in ("er", "stored", "teacher"):
            rounds[k].append(steps[k])
        bytes_per_example = {k: steps[f"{k}_bytes"] for k in ("er", "stored", "teacher")}
    med = {k: statistics.median(v) for k, v in rounds.items()}
    print(f"backbone {args.backbone}, {args.repeats} round(s), medians")
    print(f"  train examples/s   harness {med['harness_train']:8.1f}   plain {med['plain_train']:8.1f}")
    print(f"  eval examples/s    harness {med['harness_eval']:8.1f}   plain {med['plain_eval']:8.1f}")
    print(f"  seconds per step   ER {med['er']:.4f}   DER++ stored {med['stored']:.4f}   DER++ teacher {med['teacher']:.4f}")
    print(f"  buffer bytes/example   ER {bytes_per_example['er']:.0f}   stored {bytes_per_example['stored']:.0f}   teacher {bytes_per_example['teacher']:.0f}")
    result = {
        "backbone": args.backbone,
        "repeats": args.repeats,
        "harness_vs_plain_train": med["harness_train"] / med["plain_train"],
        "derpp_stored_vs_er": med["stored"] / med["er"],
        "derpp_teacher_vs_er": med["teacher"] / med["er"],
        "eval_vs_plain": med["harness_eval"] / med["plain_eval"],
        "buffer_bytes_per_example": bytes_per_example["stored"],
        "buffer_bytes_per_example_by_method": bytes_per_example,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
