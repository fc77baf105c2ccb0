"""What the benchmark scripts share: the machine's description, timing two functions side by side, and small
MNIST-format folders for quick runs.

The scripts are run as ``python benchmarks/NAME.py``, which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any


def _cpuinfo() -> str:
    """The text of ``/proc/cpuinfo`` ("" where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what ``platform`` knows, else "unknown"."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _version(distribution: str) -> str | None:
    """An installed distribution's version, read from its metadata without importing it (None if not installed)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """The machine a benchmark runs on, as every script records it under ``machine`` in its JSON: CPU model, cores
    (all and usable by this process), torch threads, torch's CPU capability, bf16 support, library versions and the
    load averages at the call.

    ``cores`` is always ``os.cpu_count()``; the torch threads are ``torch_threads``. Library versions come from the
    installed metadata, so that scripts which do not use scikit-learn do not load it (and its native libraries)
    before their timings.
    """
    import torch

    cpuinfo = _cpuinfo()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "cores_usable": usable,
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "avx512_bf16": "avx512_bf16" in cpuinfo, "amx_bf16": "amx_bf16" in cpuinfo,
            "numpy": _version("numpy"), "sklearn": _version("scikit-learn"), "python": platform.python_version(),
            "loadavg_start": os.getloadavg()}


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
