"""Which attention kernel and precision train and evaluate a backbone fastest on this machine.

    python -m benchmarks.kernels [--backbone minilm] [--rounds 5] [--device cpu]

Times a training step (32 rows, fused AdamW as the suite's, a linear head) and an evaluation forward (128 rows, no
gradients) for each attention kernel (sdpa, eager) and precision (fp32, bf16 autocast), on seeded random token ids
of 24 tokens (a CLINC150 sentence is shorter: the kernels' order, not the absolute figures, is the point).
Contenders go in turn, the first one changing from round to round. Prints the medians and their ratio to the
suite's fp32 default (sdpa); the last line is JSON. bf16 is skipped where the device only emulates it (on an AVX2
CPU a step took 24x fp32's). `hardware.attn_implementation` follows these figures (docs/speed.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from benchmarks.engine.hardware import native_bf16
from benchmarks.engine.strategy import adamw
from benchmarks.models.loading import load_backbone
from benchmarks.speed import in_turn

KERNELS = ("sdpa", "eager")
DEFAULT = ("sdpa", "fp32")  # what a run uses without --precision


def contender(backbone: str, kernel: str, precision: str, device: str):
    """(train step, eval forward) closures on a fresh copy of the backbone, seeded alike for every contender."""
    torch.manual_seed(0)
    encoder = load_backbone(backbone, attn_implementation=kernel)[0].to(device)
    head = torch.nn.Linear(encoder.config.hidden_size, 150).to(device)
    optimizer = adamw([*encoder.parameters(), *head.parameters()])
    ids = torch.randint(1000, encoder.config.vocab_size, (128, 24), device=device)
    labels = torch.randint(0, 150, (32,), device=device)

    def autocast():
        return torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")

    def train():
        with autocast():
            features = encoder(input_ids=ids[:32]).last_hidden_state.mean(1)
            loss = F.cross_entropy(head(features).float(), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def evaluate():
        with torch.no_grad(), autocast():
            encoder(input_ids=ids)

    return train, evaluate


def timed(fn, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args(argv)
    precisions = ["fp32", "bf16"] if native_bf16(args.device) else ["fp32"]
    if len(precisions) == 1:
        print(f"bf16: skipped, the {args.device} computes no bf16 natively (it would be emulated, far slower than fp32)")
    names = [(kernel, precision) for precision in precisions for kernel in KERNELS]
    contenders = {name: contender(args.backbone, *name, args.device) for name in names}
    for fns in contenders.values():  # warm-up: first-call allocations and kernel selection
        for fn in fns:
            fn()
    seconds = {(name, part): [] for name in names for part in ("train", "eval")}
    for turn in range(args.rounds):
        for name in in_turn(names, turn):
            for part, fn in zip(("train", "eval"), contenders[name]):
                seconds[name, part].append(timed(fn, args.device))
    med = {key: statistics.median(values) for key, values in seconds.items()}
    print(f"{args.backbone} on {args.device}, {torch.get_num_threads()} thread(s), median of {args.rounds} round(s)")
    print(f"  {'kernel':6} {'precision':9} {'train step (s)':>14} {'/ default':>9} {'eval 128 rows (s)':>17} {'/ default':>9}")
    result = {"backbone": args.backbone, "device": args.device, "rounds": args.rounds, "threads": torch.get_num_threads()}
    for kernel, precision in names:
        train, evaluate = med[(kernel, precision), "train"], med[(kernel, precision), "eval"]
        speedup = med[DEFAULT, "train"] / train, med[DEFAULT, "eval"] / evaluate
        print(f"  {kernel:6} {precision:9} {train:14.4f} {speedup[0]:8.2f}x {evaluate:17.4f} {speedup[1]:8.2f}x")
        result[f"{kernel}_{precision}"] = {"train_s": train, "eval_s": evaluate, "train_speedup": speedup[0],
                                          "eval_speedup": speedup[1]}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
