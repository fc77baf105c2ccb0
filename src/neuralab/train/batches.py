"""Batches for the engine: index slices of device tensors, a DataLoader, or a stream cut into epochs.

* **Tensors** that fit in memory (the fast path) are moved to the device once; each epoch draws one index permutation
  on the engine's seeded generator and slices batches from it, with no per-sample Python and no DataLoader. A last
  batch of a single row is folded into the one before, since batch norm cannot train on one row.
* A **Dataset** (molecular graphs, files on disk) goes through a ``DataLoader``, batched by the dataset's
  ``collate`` method when it has one.
* A **stream**, an ``IterableDataset`` or ``None`` for a model that makes its own data in ``train_step``, has no
  length: an epoch is ``steps_per_epoch`` steps, and the next epoch goes on where the last stopped.

Under torchrun every process takes its own shard of each epoch (see :mod:`neuralab.train.distributed`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset

from neuralab.errors import NeuralabError
from neuralab.train.distributed import World

__all__ = ["Batches", "Split"]

Split = tuple[torch.Tensor, ...] | Dataset | DataLoader


class Batches:
    """Batches of a split: index slices of device tensors (fast path), a DataLoader (general path), or a stream
    (an ``IterableDataset``, or ``None`` for a model that makes its own data) cut into ``steps_per_epoch`` steps."""

    def __init__(self, split: Split | None, batch_size: int, device: torch.device,
                 generator: torch.Generator | None, *, shuffle: bool, drop_last: bool = False, num_workers: int = 0,
                 team: World = World(), steps_per_epoch: int | None = None, training: bool = True) -> None:
        self.device, self.batch_size, self.generator = device, batch_size, generator
        self.shuffle, self.drop_last, self.team = shuffle, drop_last, team
        self.tensors: tuple[torch.Tensor, ...] | None = None
        self.loader: DataLoader | None = None
        self.sampler: DistributedSampler | None = None
        self.stream: Iterator[Any] | None = None
        self.position = 0  # batches drawn from the stream since it (re)started: saved, so resume goes on from there
        self.steps_per_epoch = steps_per_epoch
        self.epoch = 0
        stream = split is None or isinstance(split, IterableDataset) or (
            isinstance(split, DataLoader) and isinstance(split.dataset, IterableDataset))
        if stream:
            if training and steps_per_epoch is None:
                raise NeuralabError("training data without a length (a stream or an environment) needs "
                                    "trainer.steps_per_epoch, the number of steps an epoch takes")
            if team.distributed:
                raise NeuralabError("a stream of training data cannot be sharded across processes yet; run it in "
                                    "a single process")
            if isinstance(split, DataLoader):
                self.loader = split
            elif split is not None:
                self.loader = DataLoader(split, batch_size=batch_size, num_workers=num_workers,
                                         collate_fn=getattr(split, "collate", None))
            return
        if training and steps_per_epoch is not None and not shuffle:
            raise NeuralabError("trainer.steps_per_epoch with shuffle=false would train on the same first "
                                f"{steps_per_epoch} batches every epoch; shuffle, or leave steps_per_epoch unset")
        if isinstance(split, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in split):
            if not split:
                raise NeuralabError("a data split needs at least one tensor")
            n = len(split[0])
            if any(len(t) != n for t in split):
                raise NeuralabError(f"tensors of one split differ in length: {[len(t) for t in split]}")
            if n == 0:
                raise NeuralabError("a data split is empty")
            if n < team.size:
                raise NeuralabError(f"a data split of {n} rows cannot be shared by {team.size} processes")
            self.tensors = tuple(t.to(device) for t in split)
        elif isinstance(split, DataLoader):
            if team.distributed:
                raise NeuralabError("a ready DataLoader cannot be sharded across processes; pass the Dataset")
            self.loader = split
        elif isinstance(split, Dataset):
            # A dataset of variable-size items (molecular graphs) says how to batch them with a `collate` method.
            if team.distributed and len(split) < team.size:
                raise NeuralabError(f"a data split of {len(split)} items cannot be shared by {team.size} processes")
            sampler = None
            if team.distributed:  # each process its own shard of one seeded permutation per epoch
                seed = int(torch.randint(2**31, (1,), generator=generator).item()) if generator is not None else 0
                sampler = DistributedSampler(split, num_replicas=team.size, rank=team.rank, shuffle=shuffle,
                                             seed=seed, drop_last=True)
            self.sampler = sampler
            self.loader = DataLoader(split, batch_size=batch_size, shuffle=shuffle and sampler is None,
                                     drop_last=drop_last, sampler=sampler,
                                     generator=generator if shuffle and sampler is None else None,
                                     num_workers=num_workers, collate_fn=getattr(split, "collate", None),
                                     pin_memory=device.type == "cuda")
        else:
            raise NeuralabError(f"data must be a tuple of tensors, a Dataset or a DataLoader; got "
                                f"{type(split).__name__}")

    def __len__(self) -> int:
        full = self._full_length()
        if self.steps_per_epoch is None:
            return full
        if full is not None and self.steps_per_epoch > full:
            raise NeuralabError(f"trainer.steps_per_epoch={self.steps_per_epoch} exceeds the {full} batches of one "
                                "pass over the training data; lower it, or leave it unset for whole passes")
        return self.steps_per_epoch

    def _full_length(self) -> int | None:
        """Batches in one pass over the data; ``None`` for a stream."""
        if self.tensors is None and (self.loader is None or isinstance(self.loader.dataset, IterableDataset)):
            return None
        if self.loader is not None:
            return len(self.loader)
        n = self._rows()
        if (self.drop_last or n % self.batch_size == 1) and n > self.batch_size:
            # A last batch of one row is folded into the one before: batch norm cannot train on a single row.
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def _rows(self) -> int:
        """Rows this process trains on per epoch: all of them, or an equal shard of each process's."""
        return len(self.tensors[0]) // self.team.size

    def __iter__(self) -> Iterator[Any]:
        if self.steps_per_epoch is None and self._full_length() is None and self.loader is not None:
            yield from self._move_all(self.loader)  # a finite stream evaluated once
            return
        if self.steps_per_epoch is None:
            yield from self._pass()
            return
        if self._full_length() is not None:  # an epoch is the first steps_per_epoch batches of a pass
            for _, batch in zip(range(self.steps_per_epoch), self._pass()):
                yield batch
            return
        for _ in range(self.steps_per_epoch):  # a stream: it goes on where the last epoch stopped
            yield None if self.loader is None else self._next_streamed()

    def _next_streamed(self) -> tuple[Any, ...]:
        if self.stream is None:  # the first batch, or the first after resuming: skip what was already drawn
            self.stream = iter(self.loader)
            for _ in range(self.position):
                next(self.stream, None)
        try:
            batch = next(self.stream)
        except StopIteration:  # a finite stream: start it again
            self.stream, self.position = iter(self.loader), 0
            batch = next(self.stream, None)
            if batch is None:
                raise NeuralabError("the training stream yields no batch: its IterableDataset is empty") from None
        self.position += 1
        return self._to_device(batch)

    def _to_device(self, batch: Any) -> tuple[Any, ...]:
        batch = batch if isinstance(batch, (tuple, list)) else (batch,)
        return tuple(t.to(self.device, non_blocking=True) if hasattr(t, "to") else t for t in batch)

    def _move_all(self, loader: DataLoader) -> Iterator[tuple[Any, ...]]:
        for batch in loader:
            yield self._to_device(batch)

    def state_dict(self) -> dict[str, int]:
        """Where a stream stands (batches drawn since it last started), for an exact resume."""
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.position, self.stream = int(state.get("position", 0)), None

    def _pass(self) -> Iterator[tuple[torch.Tensor, ...]]:
        """One pass over sized data."""
        if self.loader is not None:
            if self.sampler is not None:
                self.sampler.set_epoch(self.epoch)
                self.epoch += 1
            for batch in self.loader:
                batch = batch if isinstance(batch, (tuple, list)) else (batch,)
                yield tuple(t.to(self.device, non_blocking=True) for t in batch)
            return
        tensors, team = self.tensors, self.team
        n = self._rows()
        if self.shuffle:
            # Drawn on the CPU generator (saved in checkpoints), then moved: one transfer per epoch.
            order = torch.randperm(len(tensors[0]), generator=self.generator)
            if team.distributed:  # the same permutation on every rank: each takes every size-th sample
                order = order[:n * team.size][team.rank::team.size]
        elif team.distributed:
            order = torch.arange(team.rank, n * team.size, team.size)
        else:  # in order, one process: plain slices, no gather
            for lo, hi in self._bounds(n):
                yield tuple(t[lo:hi] for t in tensors)
            return
        order = order.to(self.device)
        for lo, hi in self._bounds(n):
            idx = order[lo:hi]
            yield tuple(t[idx] for t in tensors)

    def _bounds(self, n: int) -> list[tuple[int, int]]:
        steps, bs = self._full_length(), self.batch_size
        last = n if not self.drop_last or n <= bs else steps * bs
        return [(i * bs, last if i == steps - 1 else (i + 1) * bs) for i in range(steps)]
