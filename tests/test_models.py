"""The encoder runs a batch as length-sorted chunks: same features and gradients as one padded forward."""

from __future__ import annotations

import torch

from benchmarks.models.classifier import TextClassifier
from benchmarks.models.loading import load_backbone
from tests.small_stream import small_clinc


def test_chunked_forward_equals_one_padded_forward_in_value_and_gradient():
    _, data = small_clinc()
    torch.manual_seed(0)
    backbone, tokenizer = load_backbone("tiny-bert")
    ids = data.train_ids[:40]  # real texts of mixed lengths, in their stream order
    lengths = (ids != tokenizer.pad_token_id).sum(dim=1)
    assert lengths.min() < lengths.max() // 2  # the case chunking is for
    model = TextClassifier(backbone, tokenizer.pad_token_id)
    model.add_head(5)
    model.eval()  # no dropout: both passes must see the same network

    def run(chunk_rows):
        model.zero_grad()
        model.chunk_rows = chunk_rows
        logits = model(ids)
        (logits * torch.arange(5.0)).sum().backward()  # a loss that weighs every output differently
        return logits.detach(), model.backbone.embeddings.word_embeddings.weight.grad.clone()

    whole_logits, whole_grad = run(len(ids))
    for chunk_rows in (16, 7):
        logits, grad = run(chunk_rows)
        torch.testing.assert_close(logits, whole_logits, rtol=1e-5, atol=1e-5)  # same rows, same order
        torch.testing.assert_close(grad, whole_grad, rtol=1e-4, atol=1e-6)


def test_predict_is_the_best_allowed_logit_though_it_chunks_differently():
    _, data = small_clinc()
    torch.manual_seed(0)
    backbone, tokenizer = load_backbone("tiny-bert")
    model = TextClassifier(backbone, tokenizer.pad_token_id, chunk_rows=16, predict_chunk_rows=32)
    model.add_head(5)
    model.add_head(5)
    model.eval()
    ids = data.train_ids[:40]
    allowed = torch.rand(len(ids), 10, generator=torch.Generator().manual_seed(1)) < 0.5
    allowed[:, 0] = True  # every row has a candidate
    with torch.inference_mode():
        expected = model(ids).masked_fill(~allowed, float("-inf")).argmax(dim=1)
        predicted = model.predict(ids, allowed)
    assert torch.equal(predicted, expected)
    assert len(set(predicted.tolist())) > 1  # not one class for every row
