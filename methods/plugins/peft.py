"""The plugins of lora and prompt-tuning (declared in methods/lora.py and methods/prompt_tuning.py):
parameter-efficient fine-tuning with Hugging Face peft.

One adapter (LoRA's low-rank updates, or a soft prompt) is shared by every task and trained task
after task; the backbone's own weights are frozen and never change, the heads train as in
fine-tuning. (The Learn-or-Recall codebase's PEFT method instead keeps one adapter per task.)

peft wraps the backbone in `prepare_model`, when the strategy is built: before any optimizer
(`make_optimizer` runs before a plugin's `before_training_exp`, so an adapter added there would be
missing from task 1's optimizer) and before a checkpoint is restored (whose state dict holds the
adapter's weights under the wrapped names). The model's parameter groups then hold the frozen base
weights, which get no gradient so AdamW skips them, and the adapter's, which it trains.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.errors import UsageError
from methods.plugin import MethodPlugin

LORA_DROPOUT = 0.1  # the Learn-or-Recall codebase's PEFT_lora_dropout


class LoRAPlugin(MethodPlugin):
    """LoRA (Hu et al., 2022) on the modules peft adapts by default for the backbone's model type
    (BERT-like encoders: query and value; GPT-2: c_attn)."""

    def __init__(self, rank: int, alpha: float):
        super().__init__()
        self.rank, self.alpha = rank, alpha

    def prepare_model(self, model) -> None:
        from peft import LoraConfig, get_peft_model

        targets = lora_targets(model.backbone)
        config = LoraConfig(
            r=self.rank, lora_alpha=self.alpha, lora_dropout=LORA_DROPOUT, target_modules=targets,
            fan_in_fan_out=any(type(m).__name__ == "Conv1D" for m in model.backbone.modules()),  # GPT-2's layers
        )
        model.backbone = get_peft_model(model.backbone, config)


def lora_targets(backbone: nn.Module) -> list[str]:
    """peft's default LoRA target modules for the backbone's model type; UsageError if it has none there."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    model_type = backbone.config.model_type
    targets = DEFAULTS.get(model_type, [])
    names = {name.rsplit(".", 1)[-1] for name, _ in backbone.named_modules()}
    if not names & set(targets):
        looked_for = (
            f"modules named {', '.join(targets)} and found none" if targets
            else f"peft's default target modules for model type '{model_type}', and peft has none"
        )
        raise UsageError(f"lora cannot adapt this backbone (model type '{model_type}'): it looked for {looked_for}")
    return list(targets)


class PromptTuningPlugin(MethodPlugin):
    """Prompt tuning (Lester et al., 2021): `num_tokens` trained embeddings prepended to every input of
    the frozen encoder. Classifier heads only (see `prepare_model`)."""

    def __init__(self, num_tokens: int):
        super().__init__()
        self.num_tokens = num_tokens

    def prepare_model(self, model) -> None:
        from benchmarks.models.classifier import TextClassifier

        if not isinstance(model, TextClassifier):
            raise UsageError(
                "prompt-tuning needs a classifier head: peft's causal-LM prompt tuning ignores the position ids "
                "that the generative head gives its left-padded prompts; drop --head lm (or use lora)"
            )
        model.backbone = SoftPrompted(model.backbone, self.num_tokens)


class SoftPrompted(nn.Module):
    """An encoder behind peft's prompt tuning that returns the text's positions only, so that the
    classifier pools (mean or CLS) the same positions as without the prompt."""

    def __init__(self, encoder: nn.Module, num_tokens: int):
        super().__init__()
        from peft import PromptTuningConfig, TaskType, get_peft_model

        self.config = encoder.config
        self.num_tokens = num_tokens
        self.peft = get_peft_model(
            encoder, PromptTuningConfig(task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=num_tokens)
        )

    def get_input_embeddings(self) -> nn.Module:
        return self.peft.get_input_embeddings()

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor):
        positions = inputs_embeds.shape[1] + self.num_tokens
        if positions > self.config.max_position_embeddings:
            raise UsageError(
                f"prompt-tuning: {inputs_embeds.shape[1]} tokens + {self.num_tokens} prompt tokens exceed the "
                f"backbone's {self.config.max_position_embeddings} positions; lower --max-length or --prompt-tokens"
            )
        out = self.peft(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        out.last_hidden_state = out.last_hidden_state[:, self.num_tokens:]
        return out
