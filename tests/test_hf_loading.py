"""Hugging Face conventions: the weights' dtype is ours, not the checkpoint's; pooling; hub options reach from_pretrained."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, BertConfig, BertModel

import run_benchmark
from benchmarks.engine.provenance import provenance
from benchmarks.models.classifier import TextClassifier
from benchmarks.models.loading import TINY_BERT, load_backbone, load_model, minilm_path
from tests.small_stream import small_clinc, write_small_clinc_csv


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory):
    """A tiny BERT saved in bf16 with the MiniLM tokenizer: a local checkpoint as a hub bf16 one would be."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("bf16-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path("tiny-bert"))
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, **TINY_BERT), add_pooling_layer=False)
    model.to(torch.bfloat16).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_bf16_checkpoint_loads_as_fp32(bf16_checkpoint):
    saved = AutoModel.from_pretrained(bf16_checkpoint)  # transformers' own default: the checkpoint's dtype
    assert saved.dtype == torch.bfloat16
    model, _ = load_model(str(bf16_checkpoint), "linear")
    params = dict(model.backbone.named_parameters())
    assert {p.dtype for p in params.values()} == {torch.float32}
    stored = load_file(bf16_checkpoint / "model.safetensors")
    assert {t.dtype for t in stored.values()} == {torch.bfloat16} and len(stored) > 30
    for name, tensor in stored.items():
        assert torch.equal(params[name], tensor.float()), name  # the saved values, widened exactly
    assert provenance("cmd", model.backbone)["backbone_dtype"] == "float32"


def test_the_cli_records_pooling_and_fp32_weights(bf16_checkpoint, tmp_path):
    csv_path = write_small_clinc_csv(tmp_path / "intents.csv", num_classes=4, per_class_train=8)
    out = tmp_path / "out"
    code = run_benchmark.main([
        "--benchmark", str(csv_path), "--tasks", "2", "--backbone", str(bf16_checkpoint), "--pooling", "cls",
        "--precision", "fp32", "--wandb", "disabled", "--output", str(out),
    ])
    assert code == 0
    record = json.loads((out / "intents-cil-finetune-seed0" / "results.json").read_text())
    assert record["config"]["pooling"] == "cls" and record["config"]["precision"] == "fp32"
    assert record["config"]["revision"] is None and record["config"]["trust_remote_code"] is False
    assert record["provenance"]["backbone_dtype"] == "float32"


def by_hand(backbone, ids: torch.Tensor, pad_id: int, pooling: str) -> torch.Tensor:
    """Each row alone, unpadded, through the encoder: its first token's output or its tokens' mean."""
    rows = []
    for row in ids:
        tokens = row[row != pad_id][None]
        hidden = backbone(input_ids=tokens, attention_mask=torch.ones_like(tokens)).last_hidden_state[0]
        rows.append(hidden[0] if pooling == "cls" else hidden.mean(dim=0))
    return torch.stack(rows)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_pooled_features_equal_a_hand_computation(pooling):
    _, data = small_clinc()
    torch.manual_seed(0)
    backbone, tokenizer = load_backbone("tiny-bert")
    backbone.eval()  # no dropout
    ids = data.train_ids[:20]  # real texts of mixed lengths, padded
    assert (ids[:, 0] == tokenizer.cls_token_id).all()
    model = TextClassifier(backbone, tokenizer.pad_token_id, pooling=pooling, chunk_rows=7)
    with torch.no_grad():
        features = model.features(ids)
        expected = by_hand(backbone, ids, tokenizer.pad_token_id, pooling)
        other = by_hand(backbone, ids, tokenizer.pad_token_id, "mean" if pooling == "cls" else "cls")
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(features, other, atol=1e-3)  # the choice changes the features


def test_hub_options_reach_from_pretrained(monkeypatch):
    """--revision and --trust-remote-code go to both the model's and the tokenizer's from_pretrained; weights in fp32."""
    import transformers

    calls = []

    def recorder(kind):
        def from_pretrained(name, **kwargs):
            calls.append((kind, name, kwargs))
            return kind
        return from_pretrained

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", recorder("model"))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", recorder("tokenizer"))
    assert load_backbone("owner/model", revision="v1.0", trust_remote_code=True) == ("model", "tokenizer")
    hub = {"revision": "v1.0", "trust_remote_code": True}
    model = {"dtype": torch.float32, "attn_implementation": None, **hub}  # None: transformers' default attention
    assert calls == [("model", "owner/model", model), ("tokenizer", "owner/model", hub)]
    calls.clear()
    load_backbone("owner/model", attn_implementation="eager")
    assert calls[0][2]["attn_implementation"] == "eager"


def test_hub_kernels_stay_off_unless_asked_for(bf16_checkpoint, monkeypatch):
    """transformers 5 turns hub kernels on by default where `kernels` is installed: the suite loads the model as written."""
    pytest.importorskip("kernels")
    model, _ = load_model(str(bf16_checkpoint), "linear")
    assert model.backbone.use_kernels is False
    monkeypatch.setenv("USE_HUB_KERNELS", "YES")  # the opt-in reaches transformers
    assert AutoModel.from_pretrained(bf16_checkpoint).use_kernels is True
