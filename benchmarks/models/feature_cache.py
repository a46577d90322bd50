"""Evaluation features, forwarded once: by every later evaluation of a frozen backbone, and by probing.

Evaluation draws the same batches after every task (the test split in a fixed order, no
shuffling), and a backbone in eval mode whose weights have not changed maps a batch to the same
features. So once SEQ* has frozen its encoder, every evaluation after the first re-forwarded
what it had already computed; the heads, which still learn, are all that must run again. And
probing, right after an evaluation, forwarded the same examples again (`every_backbone`: keep the
features of a backbone that still trains, until its weights change).

Entries are per batch, not per example: a row's features depend on its batch companions at the
1e-7 level (the matrix products are blocked by shape), so features cached per example and
regrouped would not be bit-identical to the batched forward. They are keyed by the batch's bytes,
chunk size and autocast state, and the whole cache belongs to one sha256 of the backbone's
weights, taken by `start`: a changed backbone empties it, never hits it.

Training forwards are not cached. SEQ*'s frozen encoder stays in train mode with dropout on, as in
the Learn-or-Recall codebase, so each epoch draws other features; and shuffled batches never repeat.
"""

from __future__ import annotations

import hashlib

import torch

from benchmarks.models.fingerprint import weights_sha256


class FeatureCache:
    """Pooled features per evaluation batch of a backbone in eval mode that is frozen (no parameter
    requires a gradient), or of any backbone with `every_backbone`; `enabled=False` forwards every
    time (the uncached path)."""

    def __init__(self, enabled: bool = True, every_backbone: bool = False):
        self.enabled, self.every_backbone = enabled, every_backbone
        self.weights: str | None = None  # sha256 of the backbone the entries belong to; None: not caching
        self.entries: dict[tuple, torch.Tensor] = {}
        self.hits = self.misses = 0

    def start(self, model) -> None:
        """Before forwarding evaluation batches of `model` (in eval mode by now): caches them if it may,
        keeping the entries only if the weights are those they were computed with."""
        caching = self.enabled and hasattr(model, "features") and not model.training and (
            self.every_backbone or not any(p.requires_grad for p in model.backbone.parameters())
        )
        weights = weights_sha256(model.backbone) if caching else None
        if weights is None or weights != self.weights:
            self.entries.clear()
        self.weights = weights

    def features(self, model, input_ids: torch.Tensor, chunk_rows: int) -> torch.Tensor:
        """`model.features(input_ids, chunk_rows)`, from the cache when `start` allowed caching and the
        batch was forwarded before."""
        if self.weights is None:
            return model.features(input_ids, chunk_rows)
        device = input_ids.device.type
        autocast = (torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
        key = (hashlib.sha256(input_ids.cpu().numpy().tobytes()).digest(), tuple(input_ids.shape), chunk_rows, autocast)
        if key in self.entries:
            self.hits += 1
        else:
            self.misses += 1
            self.entries[key] = model.features(input_ids, chunk_rows)
        return self.entries[key]

    def nbytes(self) -> int:
        """Bytes the cached features hold: one backbone's, for the test rows and, when probing, its training subset
        (CLINC150 with MiniLM, fp32: 4500 test rows x 384 features = 6.9 MB, 4.6 MB more for 20 probe rows per class)."""
        return sum(f.numel() * f.element_size() for f in self.entries.values())
