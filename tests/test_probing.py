"""Probing (benchmarks.probing): it reads the backbone, not the heads; it sees no test example and changes nothing."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import run_benchmark
from benchmarks import metrics
from benchmarks.data.prepare import prepare_stream
from benchmarks.data.registry import resolve_spec
from benchmarks.data.stream import build_benchmark
from benchmarks.results import RunConfig
from benchmarks.engine.strategy import build_strategy
from benchmarks.probing import Prober, probe_subset
from tests.small_stream import DATA_DIR

CLASS_WORDS = ["apple", "river", "guitar", "planet", "doctor", "winter", "yellow", "engine", "forest"]
FILLERS = ["the", "a", "one", "some", "this", "that", "my", "your", "our", "their", "big", "small"]


def separable_csv(path, test_fillers=("very", "quite", "so")):
    """9 classes in 3 tasks: each text holds its class's own word, so any encoder separates them.
    Test texts use fillers no training text has: a probe that saw a test row would need them."""
    rng = random.Random(0)
    rows = ["text,label,split"]
    for c, word in enumerate(CLASS_WORDS):
        rows += [f"{word} {rng.choice(FILLERS)} {word} {rng.choice(FILLERS)},c{c},train" for _ in range(12)]
        rows += [f"{word} {filler} {word},c{c},test" for filler in test_fillers]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def separable(tmp_path_factory):
    path = separable_csv(tmp_path_factory.mktemp("probe") / "separable.csv")
    stream = prepare_stream(resolve_spec(str(path)), None, backbone="tiny-bert", head="linear", num_tasks=3,
                            max_length=16)
    return stream.task_split, stream.data


def strategy_for(task_split, scenario="cil", method="finetune"):
    config = RunConfig(benchmark="separable", scenario=scenario, method=method, seed=0, backbone="tiny-bert",
                       num_tasks=task_split.num_tasks, max_length=16, lr=1e-3, head_lr=1e-2, hp={})
    return build_strategy(config, task_split)


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_the_probe_reads_the_backbone_not_the_heads(separable, scenario):
    task_split, data = separable
    strategy = strategy_for(task_split, scenario)
    bench = build_benchmark(data, task_split, scenario)
    strategy.train(bench.train_stream[0])
    strategy.train_epochs = 0  # grow the other heads without training them
    for experience in bench.train_stream[1:]:
        strategy.train(experience)
    with torch.no_grad():  # a broken head: every example scored as the first class (of its task, in TIL)
        for head in strategy.model.heads:
            head.weight.zero_()
            head.bias.fill_(-1.0)
            head.bias[0] = 1.0 if scenario == "til" else -1.0
        strategy.model.heads[0].bias[0] = 1.0
    strategy.eval(bench.test_stream)
    observed = np.mean(list(strategy.accuracy.values()))

    rows, seconds = Prober(data, task_split, scenario, per_class=10, seed=0, batch_size=32).probe(strategy)

    assert observed <= {"cil": 1 / 9, "til": 1 / 3}[scenario] + 1e-9  # only the first class's examples are right
    assert min(rows["linear"]) >= 0.95 and min(rows["ncm"]) >= 0.95
    assert seconds > 0

    with torch.no_grad():  # a backbone that sees no words: every text has the same features
        strategy.model.backbone.get_input_embeddings().weight.zero_()
    rows, _ = Prober(data, task_split, scenario, per_class=10, seed=0, batch_size=32).probe(strategy)
    chance = 1 / 9 if scenario == "cil" else 1 / 3
    assert np.mean(rows["linear"]) <= chance + 0.05 and np.mean(rows["ncm"]) <= chance + 0.05


def test_probing_sees_only_training_rows_and_changes_nothing(separable, monkeypatch):
    task_split, data = separable
    strategy = strategy_for(task_split)
    strategy.train(build_benchmark(data, task_split, "cil").train_stream[0])
    prober = Prober(data, task_split, "cil", per_class=5, seed=3, batch_size=16)
    # 5 training rows per class, every one of them a training row and none an evaluation row
    assert torch.bincount(prober.train_y).tolist() == [5] * 9
    train_rows = {tuple(r.tolist()) for r in data.train_ids}
    eval_rows = {tuple(r.tolist()) for r in data.eval_ids}
    assert all(tuple(r.tolist()) in train_rows and tuple(r.tolist()) not in eval_rows for r in prober.train_ids)
    fitted = []
    import benchmarks.probing as probing

    real_fit = probing.linear_probe
    monkeypatch.setattr(probing, "linear_probe", lambda x, y: fitted.append(len(x)) or real_fit(x, y))
    weights = {k: v.clone() for k, v in strategy.model.state_dict().items()}
    rng = torch.get_rng_state()
    strategy.model.train()

    prober.probe(strategy)

    assert fitted == [45]  # the probe is fitted on the 45 training rows alone
    assert all(torch.equal(weights[k], v) for k, v in strategy.model.state_dict().items())
    assert strategy.model.training  # the mode the model was in
    assert torch.equal(torch.get_rng_state(), rng)  # training after probing draws what it would have


def test_probe_subset_is_seeded_and_stratified():
    y = torch.tensor([0] * 7 + [1] * 3 + [2] * 12)
    a, b, c = probe_subset(y, 4, seed=1), probe_subset(y, 4, seed=1), probe_subset(y, 4, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.bincount(y[a]).tolist() == [4, 3, 4]  # a class with fewer examples gives them all


FAST = ["--backbone", "tiny-bert", "--lr", "1e-3", "--head-lr", "1e-2", "--wandb", "disabled",
        "--benchmark", "clinc150", "--data-dir", str(DATA_DIR), "--tasks", "3", "--limit-per-class", "10"]


def test_cli_probe_writes_a_t_by_t_matrix_and_trains_as_without(tmp_path):
    """End to end on 3 CLINC150 tasks: the probing matrix per the contract, the accuracy matrix unchanged,
    a resumed run probes as an uninterrupted one, and the report shows probing beside observed accuracy."""
    assert run_benchmark.main(["--methods", "er", "--output", str(tmp_path / "plain"), *FAST]) == 0
    assert run_benchmark.main(["--methods", "er", "--probe", "--probe-per-class", "5",
                               "--output", str(tmp_path / "probed"), *FAST]) == 0
    plain = json.loads((tmp_path / "plain" / "clinc150-cil-er-seed0" / "results.json").read_text())
    probed = json.loads((tmp_path / "probed" / "clinc150-cil-er-seed0" / "results.json").read_text())

    assert probed["accuracy_matrix"] == plain["accuracy_matrix"]
    assert "probing_matrix" not in plain and plain["config"]["probe_per_class"] is None
    assert probed["config"]["probe_per_class"] == 5
    P = np.array(probed["probing_matrix"])
    assert P.shape == (3, 3) and ((P >= 0) & (P <= 1)).all()
    assert P[0, 2] > 0.1  # probes see every class from task 1: future tasks are scored too (chance 1/150)
    assert np.array(probed["ncm_probing_matrix"]).shape == (3, 3)
    for probe, matrix in (("linear", P), ("ncm", probed["ncm_probing_matrix"])):
        assert probed["probing_summary"][probe] == pytest.approx(metrics.summary(matrix))
    assert probed["probe_seconds"] > 0

    resumed = tmp_path / "resumed"
    args = ["--methods", "er", "--probe", "--probe-per-class", "5", "--output", str(resumed), *FAST]
    assert run_benchmark.main([*args, "--stop-after-task", "2"]) == 0
    assert run_benchmark.main([*args, "--resume"]) == 0
    again = json.loads((resumed / "clinc150-cil-er-seed0" / "results.json").read_text())
    assert again["probing_matrix"] == probed["probing_matrix"]
    assert again["accuracy_matrix"] == probed["accuracy_matrix"]

    report = (tmp_path / "probed" / "report.md").read_text()
    assert "### Probing vs observed" in report
    observed, linear = 100 * probed["final_average_accuracy"], 100 * probed["probing_summary"]["linear"]["final_average_accuracy"]
    assert f"| er | 1 | {observed:.1f} | {linear:.1f} |" in report
    assert f"{linear - observed:+.1f}" in report


def test_a_frozen_backbone_is_probed_once(tmp_path, monkeypatch):
    """SEQ* freezes the encoder during task 1: later tasks reuse its features (same weights, same
    features), and every row of the probing matrix is the same."""
    import benchmarks.probing as probing

    calls = []
    real = probing.Prober.features
    monkeypatch.setattr(probing.Prober, "features", lambda self, strategy, ids, groups: calls.append(len(ids)) or real(self, strategy, ids, groups))
    args = ["--methods", "seq-star", "--warmup-epochs", "1", "--probe", "--probe-per-class", "5",
            "--output", str(tmp_path), *FAST]
    assert run_benchmark.main(args) == 0
    P = json.loads((tmp_path / "clinc150-cil-seq-star-seed0" / "results.json").read_text())["probing_matrix"]
    assert P[0] == P[1] == P[2]
    assert len(calls) == 2  # the training subset and the evaluation examples, once


def test_probing_reuses_the_features_evaluation_computed_and_its_matrix_is_the_same_without(tmp_path, monkeypatch):
    """Fine-tuning changes the backbone every task, yet probing right after evaluation finds the seen
    tasks' test batches already forwarded; forwarding them again gives the same probing matrix."""
    import benchmarks.engine.strategy as strategy_module
    from benchmarks.models.feature_cache import FeatureCache

    caches, records = [], {}
    for enabled in (True, False):
        monkeypatch.setattr(strategy_module, "FeatureCache", lambda: caches.append(c := FeatureCache(enabled)) or c)
        out = tmp_path / str(enabled)
        args = ["--methods", "finetune", "--probe", "--probe-per-class", "5", "--output", str(out), *FAST]
        assert run_benchmark.main(args) == 0
        records[enabled] = json.loads((out / "clinc150-cil-finetune-seed0" / "results.json").read_text())
    for key in ("probing_matrix", "accuracy_matrix"):
        assert records[True][key] == records[False][key]
    # 3 tasks of 50 intents x 30 test rows: 12 batches of 128 each; after task i, i tasks' batches are reused
    assert caches[0].hits == 12 * (1 + 2 + 3) and caches[1].hits == 0
