"""Prompt tuning (Lester et al., EMNLP 2021) with Hugging Face peft, as in the Learn-or-Recall codebase's
`PromptTuning.yaml`: trained soft-prompt embeddings before every input of the frozen encoder, shared by
every task; the heads train as in fine-tuning. See `methods.plugins.peft`.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.declare import Method, RunContext, option


@dataclass(frozen=True)
class PromptTuningSettings:
    # Default: the Learn-or-Recall codebase's PEFT_num_virtual_tokens.
    prompt_tokens: int = option(10, "count", "soft prompt tokens before every input", search=(5, 10, 20), metavar="N")


def plugin(settings: PromptTuningSettings, run: RunContext):
    from methods.plugins.peft import PromptTuningPlugin

    return PromptTuningPlugin(settings.prompt_tokens)


METHOD = Method(
    name="prompt-tuning", order=41, summary="prompt tuning, a soft prompt trained before every input of the frozen encoder",
    plugin=plugin, settings=PromptTuningSettings,
    search={"lr": (1e-3, 3e-3, 1e-2), "head_lr": (1e-3, 3e-3)},
    # peft's causal-LM prompt tuning ignores the position ids of the generative head's left-padded prompts.
    heads=("linear", "cosine"),
    cost=0.9,  # a longer input through the frozen encoder: 0.92x fine-tuning (MiniLM, 1 thread)
)
