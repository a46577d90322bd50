"""SEQ* (baselines.seq_star): what it trains, what it freezes, the heads it allocates, and end to end."""

from __future__ import annotations

import json

import pytest
import torch
from avalanche.core import SupervisedPlugin

import run_benchmark
from tests.method_harness import make_strategy
from tests.small_stream import DATA_DIR


class EpochEnd(SupervisedPlugin):
    def __init__(self, callback):
        super().__init__()
        self.callback = callback

    def after_training_epoch(self, strategy, **kwargs):
        self.callback()


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_encoder_trains_on_task_1_only_and_old_heads_stay_frozen(scenario):
    strategy, bench, plugin, probe = make_strategy("seq-star", scenario, warmup_epochs=2, preallocate_heads=True)
    model = strategy.model
    start = snapshot(model.backbone)

    after_epoch = []
    strategy.plugins.append(EpochEnd(lambda: after_epoch.append((snapshot(model.backbone), snapshot(model.heads[0])))))
    strategy.train(bench.train_stream[0])
    after_warmup = snapshot(model.backbone)
    assert strategy.clock.train_exp_epochs == 3  # --warmup-epochs 2, then --epochs 1 on the frozen encoder
    assert not same(start, after_epoch[0][0]) and not same(after_epoch[0][0], after_epoch[1][0])  # warm-up
    assert same(after_epoch[1][0], after_warmup) and not same(after_epoch[1][1], after_epoch[2][1])  # head only
    assert len(model.heads) == 4  # pre-allocated: every task's head before task 1

    for task in (1, 2, 3):
        heads = [snapshot(h) for h in model.heads]
        strategy.train(bench.train_stream[task])
        assert strategy.clock.train_exp_epochs == 1
        assert same(after_warmup, snapshot(model.backbone)), f"the encoder changed in task {task + 1}"
        for old in range(task):
            assert same(heads[old], snapshot(model.heads[old])), f"head {old + 1} changed in task {task + 1}"
        assert not same(heads[task], snapshot(model.heads[task]))  # the current head learns
    assert all(isinstance(h, type(model.heads[0])) and type(h).__name__ == "CosineLinear" for h in model.heads)


def test_preallocated_heads_cover_every_class_in_task_1_but_predict_only_seen_ones():
    strategy, bench, _, probe = make_strategy("seq-star", "cil", warmup_epochs=1, preallocate_heads=True)
    strategy.train(bench.train_stream[0])
    assert {step.output.shape[1] for step in probe.steps} == {12}  # 4 tasks x 3 classes from the first step

    predicted = []
    original = strategy.model.choose  # what predicts, from fresh or cached features (the encoder is frozen)
    strategy.model.choose = lambda feats, allowed: predicted.append(out := original(feats, allowed)) or out
    strategy.eval(bench.test_stream)
    assert predicted and int(torch.cat(predicted).max()) < 3  # task 1 only: its 3 classes


def test_heads_per_task_without_preallocation_and_no_warmup():
    strategy, bench, _, probe = make_strategy("seq-star", "cil", warmup_epochs=0, preallocate_heads=False)
    start = snapshot(strategy.model.backbone)
    strategy.train(bench.train_stream[0])
    assert len(strategy.model.heads) == 1 and {s.output.shape[1] for s in probe.steps} == {3}
    assert strategy.clock.train_exp_epochs == 1  # no warm-up: task 1 fits its head for --epochs alone
    assert same(start, snapshot(strategy.model.backbone))  # never trained
    strategy.train(bench.train_stream[1])
    assert len(strategy.model.heads) == 2


FAST = ["--backbone", "tiny-bert", "--lr", "1e-3", "--head-lr", "1e-2", "--wandb", "disabled",
        "--benchmark", "clinc150", "--data-dir", str(DATA_DIR), "--tasks", "3", "--limit-per-class", "10"]


def test_cli_seq_star_runs_cil_and_til_and_records_its_recipe(tmp_path):
    code = run_benchmark.main(["--methods", "seq-star", "--scenario", "cil", "til", "--warmup-epochs", "1",
                               "--output", str(tmp_path), *FAST])
    assert code == 0
    for scenario in ("cil", "til"):
        r = json.loads((tmp_path / f"clinc150-{scenario}-seq-star-seed0" / "results.json").read_text())
        assert r["status"] == "finished" and len(r["accuracy_matrix"]) == 3
        assert r["head"] == "cosine" and r["config"]["head"] == "cosine"
        assert r["config"]["hp"] == {"warmup_epochs": 1, "preallocate_heads": True}
        R = r["accuracy_matrix"]
        assert R[0][1] == R[0][2] == 0  # pre-allocated heads are not predicted before their task
        if scenario == "til":  # frozen encoder and head, scored by its own head: task 1 cannot change
            assert R[0][0] == R[1][0] == R[2][0] > 0
