"""What every figure module shares: pyplot on the Agg backend (files only, never a window) and saving a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
