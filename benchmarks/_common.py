"""What the benchmark scripts share: the CPU's name, and timing two functions side by side.

The scripts are run as ``python benchmarks/NAME.py``, which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
