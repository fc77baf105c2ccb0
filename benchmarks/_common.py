"""What the benchmark scripts share: the CPU's name, timing two functions side by side, and small MNIST-format
folders for quick runs.

The scripts are run as ``python benchmarks/NAME.py``, which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` ("unknown" elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def timed_pair(a: Callable[[], Any], b: Callable[[], Any], reps: int) -> tuple[list[float], list[float]]:
    """Seconds of ``reps`` calls of ``a`` and of ``b``, after one warm-up each, interleaved in the order a b, b a,
    a b ... so that a change of load, or a run slowed by the one before it, hits both alike. Rep ``i`` of ``a`` and
    of ``b`` ran side by side."""
    a(), b()
    times_a, times_b = [], []
    for i in range(reps):
        pair = ((a, times_a), (b, times_b))
        for fn, times in pair if i % 2 == 0 else pair[::-1]:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return times_a, times_b


def write_mnist_folder(folder: Path, train: tuple[Any, Any], test: tuple[Any, Any]) -> Path:
    """Write (images (N, 28, 28) uint8, labels (N,)) pairs as the four standard IDX files, read by ``data.data_dir``."""
    import numpy as np

    from neuralab.data.idx import write_idx

    folder.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.asarray(labels).astype(np.uint8))
    return folder


def small_mnist(folder: Path, train_rows: int, test_rows: int) -> Path:
    """The first rows of MNIST's training and test parts as an MNIST-format folder (for ``--quick`` runs)."""
    from neuralab.data import load_dataset

    ds = load_dataset("mnist")
    split = ds.predefined_split
    train, test = split.train[:train_rows], split.test[:test_rows]
    return write_mnist_folder(folder, (ds.x[train].reshape(len(train), 28, 28), ds.y[train]),
                              (ds.x[test].reshape(len(test), 28, 28), ds.y[test]))
