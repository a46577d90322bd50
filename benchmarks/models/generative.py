"""The generative head: a causal language model that answers a prompt with the label's name.

An example is a prompt (the text inside `--prompt-template`), stored left-padded, and its class;
the answer is the class name followed by end-of-sequence. Training computes logits at the answer
positions only ([batch, answer length, vocabulary]): the CE, the DER++ MSE and the LwF KL all
live there, and the full-sequence logits are never materialised. Prediction either generates
greedily and matches the text (`generate`) or ranks candidate label names by likelihood (`rank`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.errors import UsageError

DEFAULT_TEMPLATE = "Text: {text}\nLabel:"
LM_EVAL_MODES = ("generate", "rank")
IGNORE = -100  # the label of a position without an answer token (HF convention)
RANK_CHUNK_VALUES = 2**25  # logits held at once while ranking (128 MiB of fp32)


def answer_text(label: str) -> str:
    """What the model is taught to write for a label: `card_arrival` -> `card arrival`."""
    return label.replace("_", " ").strip()


def normalise(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").split())


def check_template(template: str) -> str:
    if "{text}" not in template:
        raise UsageError(f"--prompt-template must contain {{text}}, got {template!r}")
    return template


def prompt(template: str, text: str) -> str:
    return template.replace("{text}", text)


class AnswerGenerator(nn.Module):
    """Causal LM + the token ids of every class's answer; classes become candidates task by task."""

    def __init__(self, lm: nn.Module, tokenizer, class_names: tuple[str, ...], lm_eval: str = "generate"):
        super().__init__()
        if lm_eval not in LM_EVAL_MODES:
            raise UsageError(f"unknown --lm-eval '{lm_eval}': use generate or rank")
        self.backbone = lm
        self.pad_id, self.eos_id = tokenizer.pad_token_id, tokenizer.eos_token_id
        self.lm_eval = lm_eval
        self.tokenizer = tokenizer
        answers = [
            tokenizer(" " + answer_text(c), add_special_tokens=False).input_ids + [self.eos_id] for c in class_names
        ]
        width = max(map(len, answers))
        padded = [a + [self.pad_id] * (width - len(a)) for a in answers]
        self.register_buffer("answer_ids", torch.tensor(padded), persistent=False)
        self.register_buffer("answer_len", torch.tensor([len(a) for a in answers]), persistent=False)
        self.class_of_answer = {}
        for i, name in enumerate(class_names):
            self.class_of_answer.setdefault(normalise(answer_text(name)), i)
        self.head_sizes: list[int] = []  # classes per task seen so far: the candidates of `rank`

    @property
    def num_classes(self) -> int:
        return sum(self.head_sizes)

    @property
    def answer_width(self) -> int:
        """Answer positions per example: the longest answer, end-of-sequence included."""
        return self.answer_ids.shape[1]

    def param_groups(self, lr: float, head_lr: float) -> list[dict]:
        """One AdamW group: the LM at `lr` (there are no head parameters; `head_lr` does not apply)."""
        return [{"params": self.backbone.parameters(), "lr": lr}]

    def add_head(self, num_classes: int) -> None:
        """A new task's classes become answer candidates; the vocabulary is shared, nothing is added."""
        self.head_sizes.append(num_classes)

    def answer_targets(self, y: torch.Tensor) -> torch.Tensor:
        """[batch, answer width] token each answer position must predict, IGNORE past the answer's end."""
        positions = torch.arange(self.answer_width, device=y.device)
        return self.answer_ids[y].masked_fill(positions >= self.answer_len[y].unsqueeze(1), IGNORE)

    def forward(self, input_ids: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits at the answer positions: [batch, answer width, vocabulary]."""
        return self.answer_logits(input_ids, y, self.answer_width)

    def answer_logits(self, input_ids: torch.Tensor, y: torch.Tensor, width: int) -> torch.Tensor:
        """Logits at the first `width` answer positions (answers of `y` no longer than `width`)."""
        prompt_ids = self._trimmed(input_ids)
        answer_in = self.answer_ids[y][:, : width - 1]  # the last answer token is predicted, never read
        answer_mask = torch.arange(width - 1, device=y.device) < (self.answer_len[y] - 1).unsqueeze(1)
        tokens = torch.cat([prompt_ids, answer_in], dim=1)
        mask = torch.cat([prompt_ids != self.pad_id, answer_mask], dim=1).long()
        # Rows are left-padded, so the answer starts in the same column for every row and its
        # positions are the last `width` ones: HF's logits_to_keep computes only those.
        return self.backbone(
            input_ids=tokens, attention_mask=mask, position_ids=positions_of(mask), logits_to_keep=width
        ).logits

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean CE over the answer tokens of the batch (prompt and padding carry no loss)."""
        return F.cross_entropy(logits.flatten(0, 1), self.answer_targets(y).flatten(), ignore_index=IGNORE)

    def predict(self, input_ids: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """Class ids; -1 where a generated answer is no class name. `allowed`: [batch, classes] candidates of `rank`."""
        if self.lm_eval == "rank":
            candidates = allowed.any(dim=0).nonzero().squeeze(1)
            scores = self.answer_log_likelihoods(input_ids, candidates)
            scores = scores.masked_fill(~allowed[:, candidates], float("-inf"))
            return candidates[scores.argmax(dim=1)]
        return self.generate_classes(input_ids)

    def generate_classes(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Greedy generation (KV cache) of at most the longest answer, matched after normalisation."""
        prompt_ids = self._trimmed(input_ids)
        mask = (prompt_ids != self.pad_id).long()
        out = self.backbone.generate(
            input_ids=prompt_ids, attention_mask=mask, max_new_tokens=self.answer_width, do_sample=False,
            num_beams=1, pad_token_id=self.pad_id, eos_token_id=self.eos_id,
        )
        predictions = []
        for row in out[:, prompt_ids.shape[1] :].tolist():
            row = row[: row.index(self.eos_id)] if self.eos_id in row else row
            text = normalise(self.tokenizer.decode(row, skip_special_tokens=True))
            predictions.append(self.class_of_answer.get(text, -1))
        return torch.tensor(predictions, device=input_ids.device)

    def answer_log_likelihoods(self, input_ids: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """[batch, candidates] log p(answer + end-of-sequence | prompt), scored with the training forward.

        (example, candidate) pairs are batched by answer length, so that no output-layer row is
        spent on padding: the vocabulary-wide output layer is most of the cost of ranking.
        """
        scores = torch.empty(len(input_ids), len(candidates), device=input_ids.device)
        lengths = self.answer_len[candidates]
        examples = torch.arange(len(input_ids), device=input_ids.device)
        for length in lengths.unique().tolist():
            pairs = torch.cartesian_prod(examples, (lengths == length).nonzero()[:, 0])  # (example, candidate column)
            for chunk in pairs.split(max(1, RANK_CHUNK_VALUES // (length * self.backbone.config.vocab_size))):
                rows, cols = chunk[:, 0], chunk[:, 1]
                y = candidates[cols]
                logits = self.answer_logits(input_ids[rows], y, length).float()
                token_nll = F.cross_entropy(logits.transpose(1, 2), self.answer_ids[y][:, :length], reduction="none")
                scores[rows, cols] = -token_nll.sum(dim=1)
        return scores

    def answer_mask(self, y: torch.Tensor) -> torch.Tensor:
        """[batch, answer width] True at the positions that predict an answer token."""
        return self.answer_targets(y) != IGNORE

    def _trimmed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Left-padded rows cut to the batch's longest prompt."""
        longest = int((input_ids != self.pad_id).sum(dim=1).max())
        return input_ids[:, input_ids.shape[1] - max(longest, 1) :]


def positions_of(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 on each row's first real token, as HF generation counts them."""
    return (mask.cumsum(dim=1) - 1).clamp(min=0)
