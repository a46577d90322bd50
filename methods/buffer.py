"""Replay buffers, held on CPU: the reservoir over every training example of the stream (DER's buffer),
and the class-balanced one filled at the end of each task (Learn-or-Recall's)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class BufferBatch:
    ids: torch.Tensor
    y: torch.Tensor
    task: torch.Tensor
    logits: torch.Tensor | None  # class logits padded to the widest stored row, or top-k answer logits
    width: torch.Tensor | None  # class logits: how many columns existed when each row was stored
    index: torch.Tensor | None = None  # top-k answer logits: their vocabulary ids

    def to(self, device) -> "BufferBatch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return BufferBatch(*(move(t) for t in (self.ids, self.y, self.task, self.logits, self.width, self.index)))


# Stored logits in half precision: 11 significant bits put a logit of 30 within 0.015 of its
# fp32 value, far below the MSE it is a target of, and halve the buffer's largest tensor.
LOGITS_DTYPE = torch.float16


class ReservoirBuffer:
    """Algorithm R: after n examples each has been kept with probability capacity / n.

    Optionally stores the logits the model produced for an example when it was inserted
    (DER's targets, as fp16): a row of class logits, or for the generative head the `topk`
    largest vocabulary logits at each answer position with their ids (a full fp16 row of a
    30k-word vocabulary is 60 KB per position). Its own seeded generator keeps the global RNG untouched.
    """

    filled_per_step = True  # `add` after every training step (the class-balanced buffer: `fill` after a task)

    def __init__(self, capacity: int, seed: int, store_logits: bool = False, topk: int | None = None):
        self.capacity = capacity
        self.store_logits = store_logits
        self.topk = topk
        self.seen = 0
        self.generator = torch.Generator().manual_seed(seed)
        self.ids = self.y = self.task = self.logits = self.width = self.index = None

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def add(self, ids: torch.Tensor, y: torch.Tensor, task: torch.Tensor, logits: torch.Tensor | None = None) -> None:
        ids, y, task = ids.cpu(), y.cpu(), task.cpu()
        index = None
        if self.store_logits:
            logits = logits.detach().float()
            if self.topk:  # on the model's device: only k entries per position travel to the CPU
                logits, index = logits.topk(min(self.topk, logits.shape[-1]), dim=-1)
                index = index.cpu()
            logits = logits.cpu()
        if self.ids is None:
            self.ids = torch.zeros(self.capacity, ids.shape[1], dtype=torch.int32)
            self.y = torch.zeros(self.capacity, dtype=torch.int32)
            self.task = torch.zeros(self.capacity, dtype=torch.int32)
            if self.topk:
                self.logits = torch.zeros(self.capacity, *logits.shape[1:], dtype=LOGITS_DTYPE)
                self.index = torch.zeros(self.capacity, *index.shape[1:], dtype=torch.int32)
            elif self.store_logits:
                self.logits = torch.zeros(self.capacity, 0, dtype=LOGITS_DTYPE)
                self.width = torch.zeros(self.capacity, dtype=torch.int32)
        if self.width is not None and logits.shape[1] > self.logits.shape[1]:  # a head was added
            self.logits = F.pad(self.logits, (0, logits.shape[1] - self.logits.shape[1]))
        for i in range(len(y)):
            slot = self._slot()
            self.seen += 1
            if slot < 0:
                continue
            self.ids[slot], self.y[slot], self.task[slot] = ids[i], y[i], task[i]
            if self.topk:
                self.logits[slot], self.index[slot] = logits[i], index[i]
            elif self.store_logits:
                self.logits[slot].zero_()
                self.logits[slot, : logits.shape[1]] = logits[i]
                self.width[slot] = logits.shape[1]

    def _slot(self) -> int:
        if self.seen < self.capacity:
            return self.seen
        j = int(torch.randint(0, self.seen + 1, (1,), generator=self.generator))
        return j if j < self.capacity else -1

    def sample(self, n: int) -> BufferBatch:
        """`n` distinct stored examples (all of them when fewer are stored)."""
        idx = torch.randperm(len(self), generator=self.generator)[:n]
        pick = lambda t, dtype: None if t is None else t[idx].to(dtype)  # noqa: E731
        return BufferBatch(
            self.ids[idx].long(), self.y[idx].long(), self.task[idx].long(), pick(self.logits, torch.float32),
            pick(self.width, torch.long), pick(self.index, torch.long),
        )

    def state_dict(self) -> dict:
        return {"seen": self.seen, "generator": self.generator.get_state(), "ids": self.ids, "y": self.y,
                "task": self.task, "logits": self.logits, "width": self.width, "index": self.index}

    def load_state_dict(self, state: dict) -> None:
        self.seen = state["seen"]
        self.generator.set_state(state["generator"])
        self.ids, self.y, self.task = state["ids"], state["y"], state["task"]
        self.logits, self.width, self.index = state["logits"], state["width"], state.get("index")

    def nbytes(self) -> int:
        tensors = (self.ids, self.y, self.task, self.logits, self.width, self.index)
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)


class ClassBalancedBuffer(ReservoirBuffer):
    """Learn-or-Recall's buffer: filled at the end of each task, as many examples of every class seen so far.

    After a task, with k classes seen, it holds min(capacity // k, available) examples of each: those
    of the task's classes drawn at random with the buffer's own seeded generator, those of earlier
    classes cut to the first ones kept (the codebase's `utils/buffer.py`, lines 46-71, draws its
    random examples as the first of a shuffled loader). Stored logits (DER++) are the logits of the
    model at the end of the task, in eval mode, computed by `logits_of` for the chosen rows only.
    Class logits only: the tensors are exactly as long as the buffer is full.
    """

    filled_per_step = False

    def __len__(self) -> int:
        return 0 if self.y is None else len(self.y)

    def fill(self, ids: torch.Tensor, y: torch.Tensor, task: torch.Tensor, logits_of=None) -> None:
        """Rebalances the buffer for a finished task whose training examples are `ids, y, task`;
        `logits_of(ids, y)` gives the logits stored with the chosen rows (needed when the buffer stores logits)."""
        new_classes = y.unique().tolist()
        old_classes = [] if self.y is None else [c for c in self.y.unique().tolist() if c not in new_classes]
        per_class = self.capacity // max(len(old_classes) + len(new_classes), 1)
        kept = [(self.y == c).nonzero().flatten()[:per_class] for c in old_classes]
        kept = torch.sort(torch.cat(kept)).values if kept else torch.zeros(0, dtype=torch.long)
        chosen = []
        for c in new_classes:
            rows = (y == c).nonzero().flatten()
            chosen.append(rows[torch.randperm(len(rows), generator=self.generator)[:per_class]])
        chosen = torch.cat(chosen)
        keep = lambda t: None if t is None else t[kept]  # noqa: E731
        parts = {
            "ids": (keep(self.ids), ids[chosen].to(torch.int32)),
            "y": (keep(self.y), y[chosen].to(torch.int32)),
            "task": (keep(self.task), task[chosen].to(torch.int32)),
        }
        if self.store_logits:
            logits = logits_of(ids[chosen], y[chosen]).detach().float().cpu().to(LOGITS_DTYPE)
            old = keep(self.logits)
            if old is not None and old.shape[1] < logits.shape[1]:  # heads were added since
                old = F.pad(old, (0, logits.shape[1] - old.shape[1]))
            parts["logits"] = (old, logits)
            parts["width"] = (keep(self.width), torch.full((len(chosen),), logits.shape[1], dtype=torch.int32))
        for name, (old, new) in parts.items():
            setattr(self, name, new if old is None else torch.cat([old, new]))
        self.seen += len(y)
