"""Data-parallel training across processes with ``torch.distributed``, launched by ``torchrun``.

``torchrun --nproc_per_node N -m neuralab.cli.main train RECIPE`` (or any script that calls :func:`neuralab.train.fit`)
starts N processes; :func:`fit` sees ``WORLD_SIZE`` in the environment, joins the process group (NCCL on CUDA,
Gloo on CPU) and then:

* every process starts from the same weights (the same seed), and draws the same permutation each epoch, of which it
  takes every N-th sample, so the processes see disjoint shards and the same number of batches;
* after each backward pass the gradients are averaged across processes (one flat all-reduce), so every optimiser takes
  the same step and the weights stay identical;
* after each epoch, buffers (batch-norm running statistics) are broadcast from rank 0, and the epoch's training
  losses are averaged, so validation, early stopping and checkpoints agree on every rank;
* only rank 0 writes the run directory and shows progress.

``trainer.batch_size`` is per process: the effective batch is N times larger, as with PyTorch's DDP.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from neuralab.errors import NeuralabError

__all__ = ["World", "world", "is_main_process"]


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def all_reduce_gradients(self, params: list[nn.Parameter]) -> None:
        """Average the gradients of ``params`` over all processes, in one flat all-reduce."""
        grads = []
        for p in params:
            if p.grad is None:  # unused on this rank this step: contribute zeros, so every rank sends the same sizes
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        flat = torch._utils._flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat.div_(self.size)
        for g, synced in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
            g.copy_(synced)

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (batch-norm statistics) on every rank."""
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over the processes."""
        value = value.clone()
        dist.all_reduce(value)
        return value / self.size


def world(backend_device: torch.device | None = None) -> World:
    """Join the process group that ``torchrun`` describes in the environment, once; a single process otherwise.

    Parameters
    ----------
    backend_device
        The training device: CUDA uses NCCL, anything else Gloo.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_available():
        raise NeuralabError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if not dist.is_initialized():
        backend = "nccl" if backend_device is not None and backend_device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def is_main_process() -> bool:
    """True on rank 0, and in a run that is not distributed."""
    return int(os.environ.get("RANK", "0")) == 0
