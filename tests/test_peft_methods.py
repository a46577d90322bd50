"""LoRA and prompt tuning (methods.peft_methods): what trains, what stays frozen, end to end, resume, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import run_benchmark
from benchmarks.errors import UsageError
from tests.method_harness import make_strategy
from tests.small_stream import write_small_clinc_csv

ADAPTER = {"lora": "lora_", "prompt-tuning": "prompt_encoder"}  # in the names of each method's own weights
TASKS = 4


def split(named: dict, method: str) -> tuple[dict, dict]:
    """(base weights, adapter weights) of a backbone's state dict, cloned."""
    base = {k: v.detach().clone() for k, v in named.items() if ADAPTER[method] not in k}
    adapter = {k: v.detach().clone() for k, v in named.items() if ADAPTER[method] in k}
    return base, adapter


@pytest.mark.parametrize("method", ["lora", "prompt-tuning"])
@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_base_weights_stay_bit_identical_while_the_adapter_and_heads_train(method, scenario):
    strategy, bench, *_ = make_strategy(method, scenario)
    model = strategy.model
    base, adapter = split(model.backbone.state_dict(), method)
    assert adapter and len(base) > 30  # tiny-bert's weights, and the adapter peft added
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"backbone.{k}" for k in adapter}  # no head yet; the base is frozen

    for task in range(2):
        model.add_head(strategy.task_split.task_sizes[task])  # added here to see it train (the strategy would)
        head = model.heads[task].weight.detach().clone()
        strategy.train(bench.train_stream[task])
        assert not torch.equal(head, model.heads[task].weight), f"head {task + 1} did not train"
        optimized = {id(p) for group in strategy.optimizer.param_groups for p in group["params"]}
        assert all(id(p) in optimized for p in model.parameters() if p.requires_grad)  # adapter and heads

    base_after, adapter_after = split(model.backbone.state_dict(), method)
    assert all(torch.equal(base[k], base_after[k]) for k in base), "a frozen base weight changed"
    assert all(not torch.equal(adapter[k], adapter_after[k]) for k in adapter)


def test_lora_targets_query_and_value_of_bert_and_c_attn_of_gpt2():
    bert, *_ = make_strategy("lora", "cil")
    gpt2, bench, *_ = make_strategy("lora", "cil", head="lm")

    def adapted(model):
        return sorted({n.split(".")[-1] for n, m in model.backbone.named_modules() if hasattr(m, "lora_A")})

    assert adapted(bert.model) == ["query", "value"]
    assert adapted(gpt2.model) == ["c_attn"]
    base, adapter = split(gpt2.model.backbone.state_dict(), "lora")
    gpt2.train(bench.train_stream[0])  # the generative head trains through the adapter
    base_after, adapter_after = split(gpt2.model.backbone.state_dict(), "lora")
    assert all(torch.equal(base[k], base_after[k]) for k in base)
    assert all(not torch.equal(adapter[k], adapter_after[k]) for k in adapter)
    gpt2.eval(bench.test_stream[:1])  # greedy generation runs through the adapted model
    assert 0 <= gpt2.accuracy[0] <= 1


def test_prompt_tuning_refuses_the_generative_head():
    with pytest.raises(UsageError, match="prompt-tuning needs a classifier head"):
        make_strategy("prompt-tuning", "cil", head="lm")


def test_prompt_tokens_that_overflow_the_positions_are_a_usage_error():
    from benchmarks.models.loading import load_backbone
    from methods.plugins.peft import SoftPrompted

    encoder = SoftPrompted(load_backbone("tiny-bert")[0], num_tokens=4)  # 512 positions
    embeds = torch.zeros(1, 509, 32)
    with pytest.raises(UsageError, match="509 tokens [+] 4 prompt tokens exceed the backbone's 512 positions"):
        encoder(inputs_embeds=embeds, attention_mask=torch.ones(1, 509, dtype=torch.long))
    assert encoder(inputs_embeds=embeds[:, :508], attention_mask=torch.ones(1, 508, dtype=torch.long)).last_hidden_state.shape == (1, 508, 32)


def test_lora_on_a_backbone_peft_cannot_target_is_a_usage_error(tmp_path, capsys):
    """DistilBERT names its attention q_lin/v_lin and peft has no LoRA defaults for it."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    from benchmarks.models.loading import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(minilm_path("tiny-bert"))
    config = DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=32, hidden_dim=64, n_layers=1, n_heads=2)
    DistilBertModel(config).save_pretrained(tmp_path / "distilbert")
    tokenizer.save_pretrained(tmp_path / "distilbert")
    csv = write_small_clinc_csv(tmp_path / "small.csv", num_classes=4, per_class_train=5)
    code = run_benchmark.main([
        "--methods", "lora", "--benchmark", str(csv), "--tasks", "2", "--backbone", str(tmp_path / "distilbert"),
        "--wandb", "disabled", "--output", str(tmp_path / "out"),
    ])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: lora cannot adapt this backbone (model type 'distilbert')" in err
    assert "peft's default target modules for model type 'distilbert', and peft has none" in err


def grid(csv, output, *extra):
    return [
        "--methods", "lora", "prompt-tuning", "--benchmark", str(csv), "--tasks", str(TASKS), "--backbone",
        "tiny-bert", "--lr", "1e-2", "--head-lr", "1e-2", "--batch-size", "8", "--wandb", "disabled",
        "--output", str(output), *extra,
    ]


def results(output, scenario, method):
    return json.loads((output / f"small-{scenario}-{method}-seed0" / "results.json").read_text())


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    return write_small_clinc_csv(tmp_path_factory.mktemp("data") / "small.csv", num_classes=8, per_class_train=20)


def test_cil_and_til_end_to_end(csv_path, tmp_path):
    args = grid(csv_path, tmp_path, "--scenario", "cil", "til", "--epochs", "3", "--lora-rank", "2", "--prompt-tokens", "4")
    assert run_benchmark.main(args) == 0
    for method, hp in (("lora", {"lora_rank": 2, "lora_alpha": 8.0}), ("prompt-tuning", {"prompt_tokens": 4})):
        cil, til = results(tmp_path, "cil", method), results(tmp_path, "til", method)
        # Each task is learnt when trained: chance is 1 in 2 classes in TIL, 1 in all seen so far in CIL (0.26 on average).
        for r, learnt in ((cil, 0.5), (til, 0.7)):
            R = np.array(r["accuracy_matrix"])
            assert r["status"] == "finished" and R.shape == (TASKS, TASKS)
            assert r["config"]["hp"] == hp
            assert np.diag(R).mean() > learnt
        assert til["final_average_accuracy"] > cil["final_average_accuracy"]  # CIL forgets: one adapter, all heads


def test_stop_after_task_1_then_resume_equals_the_uninterrupted_run(csv_path, tmp_path):
    assert run_benchmark.main(grid(csv_path, tmp_path / "whole")) == 0
    assert run_benchmark.main(grid(csv_path, tmp_path / "cut", "--stop-after-task", "1")) == 0
    for method, marker in ADAPTER.items():
        assert results(tmp_path / "cut", "cil", method)["completed_tasks"] == 1
        saved = torch.load(tmp_path / "cut" / f"small-cil-{method}-seed0" / "checkpoint.pt", weights_only=False)
        assert any(marker in k for k in saved["model"])  # the adapter's weights are in the checkpoint
    assert run_benchmark.main(grid(csv_path, tmp_path / "cut", "--resume")) == 0
    for method in ADAPTER:
        whole, resumed = results(tmp_path / "whole", "cil", method), results(tmp_path / "cut", "cil", method)
        assert resumed["status"] == "finished"
        assert resumed["accuracy_matrix"] == whole["accuracy_matrix"]  # bit for bit: the adapter was restored
