"""`--workers 2` runs the grid on a local Ray instance and writes the very results of a sequential grid."""

from __future__ import annotations

import json

import torch

import run_benchmark
from benchmarks.engine.parallel import threads_per_run
from tests.small_stream import write_small_clinc_csv

RUNS = ["small-cil-derpp-seed0", "small-cil-lwf-seed0", "small-cil-derpp-seed1"]
RUNTIME = {"train_seconds", "eval_seconds", "train_examples_per_second", "threads", "provenance"}  # where and when it ran


def test_ray_with_two_workers_matches_the_sequential_grid(tmp_path, capsys):
    csv_path = write_small_clinc_csv(tmp_path / "small.csv", num_classes=9, per_class_train=20)
    common = ["--methods", "derpp", "lwf", "--seeds", "0", "1", "--benchmark", str(csv_path), "--tasks", "3",
              "--backbone", "tiny-bert", "--lr", "1e-3", "--head-lr", "1e-2", "--buffer-size", "30", "--epochs", "2",
              "--wandb", "disabled"]
    assert run_benchmark.main([*common, "--output", str(tmp_path / "sequential")]) == 0
    assert run_benchmark.main([*common, "--output", str(tmp_path / "ray"), "--workers", "2"]) == 0
    assert "Ray: 2 workers x 1 threads" in capsys.readouterr().out
    for name in RUNS:
        sequential, ray = (json.loads((tmp_path / d / name / "results.json").read_text()) for d in ("sequential", "ray"))
        assert ray["status"] == "finished"
        assert (ray["threads"], sequential["threads"]) == (threads_per_run(2), torch.get_num_threads())
        assert {k: v for k, v in ray.items() if k not in RUNTIME} == {k: v for k, v in sequential.items() if k not in RUNTIME}
    assert len(list((tmp_path / "ray").glob("*/results.json"))) == 4
