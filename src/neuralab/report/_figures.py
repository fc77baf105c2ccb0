"""What every figure module shares: pyplot on the Agg backend (files only, never a window), saving a PNG, and
running a model for a figure (eval mode, no gradients, its training flag restored)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

DPI = 110


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, imported on first use (matplotlib is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path``, close it and return the path."""
    path = Path(path)
    fig.savefig(path, dpi=DPI)
    pyplot().close(fig)
    return path


@contextlib.contextmanager
def inference(model: nn.Module) -> Iterator[None]:
    """Eval mode under ``no_grad``; the model's training flag is restored on exit."""
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter; the CPU for a model without parameters."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
