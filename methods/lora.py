"""Sequential LoRA (Hu et al., ICLR 2022) with Hugging Face peft, as in the Learn-or-Recall codebase's
`LoRA.yaml`: one adapter of low-rank updates, trained task after task on the frozen backbone (BERT-like
encoders: query and value; GPT-2: c_attn); the heads train as in fine-tuning. See `methods.plugins.peft`.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import Method, RunContext, option


@dataclass(frozen=True)
class LoRASettings:
    # Defaults: the Learn-or-Recall codebase's PEFT_lora_r and PEFT_lora_alpha.
    lora_rank: int = option(4, "count", "rank of the updates", search=(4, 8, 16), metavar="R")
    lora_alpha: float = option(8.0, "weight", "the updates are scaled by alpha / rank", metavar="A")


def plugin(settings: LoRASettings, run: RunContext):
    from methods.plugins.peft import LoRAPlugin

    return LoRAPlugin(settings.lora_rank, settings.lora_alpha)


METHOD = Method(
    name="lora", order=40, summary="LoRA, one low-rank adapter trained task after task on the frozen backbone",
    plugin=plugin, settings=LoRASettings,
    # The adapter's few, freshly initialised weights need larger steps than a pretrained encoder's.
    search={"lr": (1e-4, 3e-4, 1e-3), "head_lr": (1e-3, 3e-3)},
    cost=0.7,  # the frozen base runs backward for the adapter's gradients only: 0.68x fine-tuning (MiniLM, 1 thread)
)
