"""Data-parallel training over torch.distributed: one process per device, started by torchrun.

    torchrun --standalone --nproc_per_node 2 -m cleanpose_ros.tools.train --config ... --out ...

Every step keeps the meaning it has in one process with the same `batch_size` (the global batch):
- data: step k's batch (training/sampling.py) is cut into world_size contiguous shards of
  batch_size / world_size objects; rank r loads shard r. A sample's content depends only on
  (seed, step, position in the batch), so the shards together are exactly the one-process batch.
- in-network randomness (augmentation, confounder draws): each rank draws the numbers of the whole
  batch from the same generator and keeps its rows (model.network.BatchShard), so the generators of
  all ranks stay equal, and equal to the one-process generator.
- confounder queue: one queue, the same on every rank. Rank 0 broadcasts weights and queue once at
  the start; afterwards every rank applies the same update: the categories and pooled features of all
  shards are all-gathered in rank order (= the batch order) and pushed on every rank.
- batch norm: statistics over the whole batch: torch's SyncBatchNorm on CUDA; on the CPU, which
  SyncBatchNorm refuses, GlobalBatchNorm below (two differentiable all-reduces per layer).
- gradients: each rank's loss is the mean over its shard; after backward the gradients are averaged
  over ranks with one all-reduce, which makes them the gradient of the whole batch's mean loss; the
  identical Adam step then runs on every rank.
- checkpoints: written by rank 0; they hold nothing rank-specific, so a run resumes with any world size.
"""
from __future__ import annotations

import contextlib
import datetime
import logging
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..core.errors import ConfigError
from ..model.network import BatchShard

log = logging.getLogger(__name__)


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) with its gradient (the sum over ranks of the output gradients). Written here because
    torch.distributed.nn.functional.all_reduce is deprecated and the functional collectives that replace it
    carry no autograd for all_reduce."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:  # type: ignore[override]
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the whole batch over all ranks (CPU / gloo).

    Same parameters and buffers as the layer it replaces (state_dict unchanged); two passes like torch's
    own kernel (the mean, then the mean squared deviation) rather than E[x^2] - E[x]^2, which loses digits.
    Outside training, or in one process, it is the plain layer.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    @torch.compiler.disable  # collectives stay eager; torch.compile graph-breaks around this layer
    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        channels = input.shape[1]
        dims = [0, *range(2, input.dim())]
        view = [1, channels] + [1] * (input.dim() - 2)
        local_count = input.numel() // channels
        packed = _SumOverRanks.apply(torch.cat([input.sum(dims), input.new_tensor([float(local_count)])]))
        count = packed[-1].detach()
        mean = packed[:channels] / count
        centred = input - mean.view(view)
        var = _SumOverRanks.apply((centred * centred).sum(dims)) / count
        out = centred * torch.rsqrt(var + self.eps).view(view)
        if self.affine:
            out = out * self.weight.view(view) + self.bias.view(view)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)  # type: ignore[union-attr]
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                unbiased = var.detach() * (count / (count - 1).clamp_min(1.0))
                self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
        return out


def convert_batch_norms(module: nn.Module) -> int:
    """Replace every plain BatchNorm layer in `module` by GlobalBatchNorm in place, sharing its parameters and
    buffers (so an optimiser made afterwards, and the state_dict, see the same tensors); returns the count."""
    converted = 0
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and not isinstance(child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            for attr in ("weight", "bias"):
                setattr(new, attr, getattr(child, attr))
            for attr in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(new, attr, getattr(child, attr))
            new.train(child.training)
            setattr(module, name, new)
            converted += 1
        else:
            converted += convert_batch_norms(child)
    return converted


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel run (rank, world size); the single-process default is a no-op."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: str = "auto") -> "DataParallel":
        """Join the process group torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT);
        without WORLD_SIZE > 1, the single-process instance. Backend: NCCL when training on CUDA, else gloo."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        on_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        backend = "nccl" if on_cuda else "gloo"
        if on_cuda:
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            # a rank that is gone (killed, out of memory) must end the others instead of hanging them forever
            dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10))
        log.info("data-parallel rank %d of %d (%s)", rank, world, backend)
        return cls(rank, world, local_rank)

    def device(self, device: torch.device) -> torch.device:
        """The device of this rank: cuda:<local rank> for CUDA training, the given device otherwise."""
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    # -- the batch ------------------------------------------------------------------------------
    def shard_size(self, batch_size: int) -> int:
        if batch_size % self.world_size:
            raise ConfigError(f"batch_size {batch_size} must divide by the number of processes {self.world_size} "
                              "(every rank takes an equal shard of the global batch)")
        return batch_size // self.world_size

    def rows(self, batch_size: int) -> slice:
        """This rank's contiguous rows of a global batch of `batch_size`."""
        n = self.shard_size(batch_size)
        return slice(self.rank * n, (self.rank + 1) * n)

    def shard(self, batch_size: int) -> BatchShard | None:
        """What the network needs to draw whole-batch randomness and update the queue (None in one process)."""
        if not self.enabled:
            return None
        return BatchShard(rows=self.rows(batch_size), size=batch_size, gather=self.gather)

    # -- collectives --------------------------------------------------------------------------------
    def gather(self, tensor: Tensor) -> Tensor:
        """Every rank's `tensor` (equal shapes), concatenated along dim 0 in rank order (no gradient)."""
        if not self.enabled:
            return tensor
        is_bool = tensor.dtype == torch.bool
        local = tensor.detach().to(torch.uint8) if is_bool else tensor.detach().contiguous()  # gloo has no bool
        parts = [torch.empty_like(local) for _ in range(self.world_size)]
        dist.all_gather(parts, local)
        out = torch.cat(parts, 0)
        return out.bool() if is_bool else out

    def average_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Replace each gradient by its mean over ranks: one all-reduce of a flat buffer. A parameter without a
        gradient on some rank counts as zero there (the set of parameters with gradients is agreed first)."""
        if not self.enabled:
            return
        params = [p for p in parameters if p.requires_grad]
        has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.float32)
        dist.all_reduce(has_grad, op=dist.ReduceOp.MAX)
        used = [p for p, flag in zip(params, has_grad.tolist()) if flag]
        if not used:
            return
        for p in used:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in used])  # type: ignore[union-attr]
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in used:
            n = p.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p))  # type: ignore[union-attr]
            offset += n

    def mean(self, values: Mapping[str, float]) -> dict[str, float]:
        """The mean over ranks of scalar logs (same keys on every rank)."""
        if not self.enabled or not values:
            return dict(values)
        keys = sorted(values)
        packed = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        dist.all_reduce(packed)
        return {k: float(v) / self.world_size for k, v in zip(keys, packed.tolist())}

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one (e.g. a time budget ran out): all ranks stop together."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast_state(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers (confounder queue included) on every rank."""
        if not self.enabled:
            return
        with torch.no_grad():
            for tensor in module.state_dict().values():  # shares storage with the module's tensors
                if tensor.dtype != torch.bool:  # constant masks only; gloo broadcasts no bool
                    dist.broadcast(tensor, src=0)

    def check_in_step(self, module: nn.Module, step: int) -> None:
        """Raise if the ranks' weights, batch-norm statistics or confounder queues are no longer bit-identical
        (they must be: every rank applies the same averaged gradients and the same gathered queue update).
        Compares one float64 sum per tensor; run at checkpoints."""
        if not self.enabled:
            return
        state = module.state_dict()
        fingerprint = torch.tensor([float(t.double().sum()) for t in state.values()], dtype=torch.float64)
        low, high = fingerprint.clone(), fingerprint.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        differ = [name for name, lo, hi in zip(state, low.tolist(), high.tolist()) if lo != hi]
        if differ:
            raise RuntimeError(f"data-parallel ranks hold different states at step {step}: {differ[:5]}")

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. building a sample cache), the others after it finished."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


SINGLE_PROCESS = DataParallel()

__all__ = ["DataParallel", "GlobalBatchNorm", "SINGLE_PROCESS", "convert_batch_norms"]
