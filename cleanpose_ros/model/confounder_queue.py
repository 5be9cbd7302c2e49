"""Per-category FIFO of confounder features for the front-door causal module.

State (all buffers, so they are saved in and loaded from the checkpoint with the weights):
  `entries` (C, N_q, D): index 0 is the oldest entry, index N_q-1 the newest;
  `count`   (C,) int64:  how many entries of each category are filled (they are the newest ones);
  `inference_indices` (C, N_s) int64: the fixed samples used in eval mode and in the ONNX graph.

API:
  push(category, features)      FIFO update (oldest dropped); the caller decides when (training only).
  fill(category, features)      like push but only into categories that are not yet full
                                (initialisation from the first N_q training instances).
  sample(category, generator)   training: N_s distinct filled entries per instance, drawn with a
                                torch.Generator (with replacement while fewer than N_s are filled).
  inference_samples(category)   eval / export: entries at `inference_indices`, deterministic.
  set_inference_seed(seed)      draws `inference_indices` (N_s of N_q without replacement) per category.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class ConfounderQueue(nn.Module):
    def __init__(self, num_categories: int, size: int, num_samples: int, dim: int, seed: int = 0) -> None:
        super().__init__()
        self.size = size
        self.num_samples = num_samples
        self.register_buffer("entries", torch.zeros(num_categories, size, dim))
        self.register_buffer("count", torch.zeros(num_categories, dtype=torch.int64))
        self.register_buffer("inference_indices", torch.zeros(num_categories, num_samples, dtype=torch.int64))
        self.set_inference_seed(seed)

    @property
    def num_categories(self) -> int:
        return int(self.entries.shape[0])

    def is_full(self) -> Tensor:
        """(C,) bool: which categories hold N_q entries."""
        return self.count >= self.size

    def set_inference_seed(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(int(seed))
        idx = torch.stack([torch.randperm(self.size, generator=generator)[: self.num_samples]
                           for _ in range(self.num_categories)])
        self.inference_indices.copy_(idx)

    @torch.no_grad()
    def push(self, category: Tensor, features: Tensor) -> None:
        """Append features (B, D) to their categories' FIFOs, in batch order, dropping the oldest."""
        for c in category.unique().tolist():
            new = features[category == c].detach().to(self.entries.dtype)
            if new.shape[0] >= self.size:
                new = new[-self.size:]
            kept = self.entries[c, new.shape[0]:]
            self.entries[c] = torch.cat([kept, new], dim=0)
            self.count[c] = min(int(self.count[c]) + new.shape[0], self.size)

    @torch.no_grad()
    def fill(self, category: Tensor, features: Tensor) -> None:
        """Push only as many features as each category still lacks to be full (initialisation)."""
        for c in category.unique().tolist():
            missing = self.size - int(self.count[c])
            if missing > 0:
                self.push(category[category == c][:missing], features[category == c][:missing])

    def sample(self, category: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(B, N_s, D) random filled entries of each instance's category (training)."""
        rows = []
        for c in category.tolist():
            filled = int(self.count[c])
            if filled >= self.num_samples:
                pick = torch.randperm(filled, generator=generator)[: self.num_samples]
            elif filled > 0:
                pick = torch.randint(filled, (self.num_samples,), generator=generator)
            else:
                pick = torch.zeros(self.num_samples, dtype=torch.int64)  # empty queue: zero entries
            rows.append(self.entries[c, self.size - max(filled, 1) + pick.to(self.entries.device)])
        return torch.stack(rows).detach()

    def inference_samples(self, category: Tensor) -> Tensor:
        """(B, N_s, D) the fixed samples of each instance's category (traceable, no python loop over B)."""
        per_category = torch.gather(
            self.entries, 1, self.inference_indices.unsqueeze(-1).expand(-1, -1, self.entries.shape[2]))
        return per_category[category]
