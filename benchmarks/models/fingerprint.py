"""A model's weights as one hash: provenance records the backbone as loaded, probing checks it is unchanged."""

from __future__ import annotations

import hashlib

import torch


def weights_sha256(module: torch.nn.Module) -> str:
    """sha256 over the state dict sorted by name: each name's UTF-8 bytes, then the tensor's raw bytes.

    Bytes, not numbers: bf16 has no numpy dtype, so every tensor is viewed as uint8 first.
    """
    digest = hashlib.sha256()
    for name, value in sorted(module.state_dict().items(), key=lambda item: item[0]):
        digest.update(name.encode("utf-8"))
        if isinstance(value, torch.Tensor):
            flat = value.detach().cpu().contiguous().reshape(-1)
            digest.update(flat.view(torch.uint8).numpy())
        else:  # a module's extra state: whatever it chose to save
            digest.update(repr(value).encode("utf-8"))
    return digest.hexdigest()
