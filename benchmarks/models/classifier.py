"""Encoder + one classification head per task, concatenated (the Learn-or-Recall design).

Inputs are fixed-length rows of token ids; the model derives the attention mask from the pad
id and trims each batch to its longest row, so padding costs nothing beyond the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.errors import UsageError

CLASSIFIER_HEADS = ("linear", "cosine")
POOLINGS = ("mean", "cls")


class CosineLinear(nn.Module):
    """Cosine similarity times a fixed scale, so heads trained at different times share one scale."""

    def __init__(self, in_features: int, out_features: int, scale: float = 16.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.linear(F.normalize(x, dim=-1), F.normalize(self.weight, dim=-1))


class TextClassifier(nn.Module):
    """Pooled encoder features scored by the concatenated heads of all tasks so far.

    `pooling`: "mean" over the non-padding tokens (sentence-transformers' choice, e.g. MiniLM), or
    "cls", the first token's output (BERT's classification token; the Learn-or-Recall codebase's).
    """

    def __init__(
        self, backbone: nn.Module, pad_id: int, head: str = "linear", chunk_rows: int = 16, predict_chunk_rows: int = 32,
        pooling: str = "mean",
    ):
        super().__init__()
        if head not in CLASSIFIER_HEADS:
            raise UsageError(f"TextClassifier has no head '{head}': use one of {', '.join(CLASSIFIER_HEADS)}")
        if pooling not in POOLINGS:
            raise UsageError(f"unknown pooling '{pooling}': use one of {', '.join(POOLINGS)}")
        self.backbone = backbone
        self.pooling = pooling
        self.pad_id = pad_id
        self.head_kind = head
        self.chunk_rows = chunk_rows
        self.predict_chunk_rows = predict_chunk_rows
        self.heads = nn.ModuleList()

    @property
    def head_sizes(self) -> list[int]:
        return [head.weight.shape[0] for head in self.heads]

    @property
    def num_classes(self) -> int:
        return sum(self.head_sizes)

    def add_head(self, num_classes: int) -> None:
        hidden = self.backbone.config.hidden_size
        head = nn.Linear(hidden, num_classes) if self.head_kind == "linear" else CosineLinear(hidden, num_classes)
        device = next(self.backbone.parameters()).device
        self.heads.append(head.to(device))

    def features(self, input_ids: torch.Tensor, chunk_rows: int | None = None) -> torch.Tensor:
        """Pooled encoder output, computed in chunks of rows of similar length.

        Rows never interact in the encoder, so running the batch as length-sorted chunks, each
        trimmed to its own longest row, gives the same features as one padded forward for far
        less padding (a random replay batch of 64 CLINC150 texts is mostly shorter than its longest).
        The word embeddings are looked up once for the whole batch: per chunk, their backward would
        allocate and zero a dense vocabulary-sized gradient each time (MiniLM: 47 MB, ~30 ms on CPU).
        """
        lengths = (input_ids != self.pad_id).sum(dim=1)
        input_ids = input_ids[:, : max(int(lengths.max()), 1)]  # rows come padded to max_length
        order = lengths.argsort(descending=True)
        embeds = self.backbone.get_input_embeddings()(input_ids)
        pooled = [
            self._pooled(embeds[rows], input_ids[rows] != self.pad_id, int(lengths[rows[0]]))
            for rows in order.split(chunk_rows or self.chunk_rows)
        ]
        return torch.cat(pooled)[order.argsort()]

    def _pooled(self, embeds: torch.Tensor, mask: torch.Tensor, longest: int) -> torch.Tensor:
        longest = max(longest, 1)
        embeds, mask = embeds[:, :longest], mask[:, :longest]
        hidden = self.backbone(inputs_embeds=embeds, attention_mask=mask.long()).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def param_groups(self, lr: float, head_lr: float) -> list[dict]:
        """AdamW groups: the encoder at `lr`, the heads (new or old) at `head_lr`."""
        return [{"params": self.backbone.parameters(), "lr": lr}, {"params": self.heads.parameters(), "lr": head_lr}]

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """[batch, classes so far] logits."""
        return self.logits(self.features(input_ids))

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(feats) for head in self.heads], dim=1)

    def predict(self, input_ids: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """The best class among the `allowed` ones ([batch, classes] mask).

        Evaluation batches come length-sorted (the test split is sorted), so larger chunks add
        almost no padding and make larger matrix products: on one CPU thread MiniLM evaluates
        11% faster in chunks of 32 rows than of 16. Training batches are random; there 16 is faster.
        """
        return self.choose(self.features(input_ids, self.predict_chunk_rows), allowed)

    def choose(self, feats: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """`predict` from pooled features (a frozen backbone's, cached: `benchmarks.models.feature_cache`)."""
        return self.logits(feats).float().masked_fill(~allowed, float("-inf")).argmax(dim=1)
