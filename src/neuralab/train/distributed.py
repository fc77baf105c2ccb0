"""Data-parallel training across processes with ``torch.distributed``, launched by ``torchrun``.

``torchrun --nproc_per_node N -m neuralab.cli.main train RECIPE`` (or any script that calls :func:`neuralab.train.fit`)
starts N processes; :func:`fit` sees ``WORLD_SIZE`` in the environment, joins the process group (NCCL on CUDA,
Gloo on CPU) and then:

* every process starts from rank 0's weights (broadcast), and draws the same permutation each epoch, of which it
  takes every N-th sample, so the processes see disjoint shards and the same number of batches;
* after each backward pass the gradients are averaged across processes (one flat all-reduce), so every optimiser takes
  the same step and the weights stay identical;
* after each epoch, buffers (batch-norm running statistics) are broadcast from rank 0, and the epoch's training
  losses are averaged, so validation, early stopping and checkpoints agree on every rank; a non-finite loss on any
  rank stops every rank;
* only rank 0 writes the run directory and shows progress.

``trainer.batch_size`` is per process: the effective batch is N times larger, as with PyTorch's DDP. Each epoch
leaves out the last ``len(train) % N`` rows of its permutation so that every rank takes the same number of steps
(different rows each epoch when shuffling; always the same last rows with ``shuffle=False``).
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta

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
        """Average the gradients of ``params`` over all processes, in one flat all-reduce.

        A parameter without a gradient on one rank contributes zeros there; one without a gradient on every rank
        keeps ``grad = None``, so the optimiser skips it (no weight decay or momentum step), as in one process.
        """
        had = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=params[0].device)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch._utils._flatten_dense_tensors([*grads, had])
        dist.all_reduce(flat)
        flat[:-len(params)].div_(self.size)
        synced = torch._utils._unflatten_dense_tensors(flat, [*grads, had])
        for p, g, value, used in zip(params, grads, synced, synced[-1].tolist()):
            if not used:
                p.grad = None
            elif p.grad is None:
                p.grad = value.clone()
            else:
                g.copy_(value)

    def broadcast_model(self, model: nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank: all ranks start from one model, whatever their seeds."""
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                dist.broadcast(tensor.data, 0)

    def same_logs(self, logs: dict[str, float]) -> dict[str, float]:
        """Rank 0's epoch logs on every rank, so callbacks (early stopping, plateau schedules) decide alike even when
        validation metrics differ in their last bits across devices."""
        box = [logs]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on any rank."""
        value = torch.tensor([float(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

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
    if dist.is_available() and dist.is_initialized():  # a group set up by the caller (torchrun, mp.spawn...)
        if dist.get_world_size() == 1:
            return World()
        return World(rank=dist.get_rank(), size=dist.get_world_size(),
                     local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_available():
        raise NeuralabError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if not dist.is_initialized():
        backend = "nccl" if backend_device is not None and backend_device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        atexit.register(_leave)  # the group this call opened is closed before the interpreter tears down
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def _leave() -> None:
    """Wait for every rank, then close the group: Gloo aborts a process whose peers vanish mid-teardown."""
    if not dist.is_initialized():
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=timedelta(seconds=60))
        else:
            dist.barrier()
    except RuntimeError:  # a rank already gone: torchrun is ending the job anyway
        pass
    dist.destroy_process_group()


def is_main_process() -> bool:
    """True on rank 0, and in a run that is not distributed."""
    return int(os.environ.get("RANK", "0")) == 0
