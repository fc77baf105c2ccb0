"""Feature rows read from the user's files: ``.csv`` (an optional header row) or ``.npy``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralab.errors import DataError

__all__ = ["read_features", "is_file"]


def is_file(path: Path) -> bool:
    """``path.is_file()``, with an impossible path (a name too long for the file system) counting as missing."""
    try:
        return path.is_file()
    except OSError:
        return False


def read_features(path: str | Path) -> np.ndarray:
    """Read a feature matrix from ``.npy`` or ``.csv`` (a header row is skipped when it is not numeric)."""
    path = Path(path)
    if not is_file(path):
        raise DataError(f"input file {path} does not exist")
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False).astype(np.float32)
        except ValueError as exc:
            raise DataError(f"{path}: not a numeric .npy array ({exc})") from exc
    lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"{path} is empty")
    rows = []
    for i, line in enumerate(lines, start=1):
        cells = [c.strip() for c in line.split(",")]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if i == 1:
                continue  # a header
            raise DataError(f"{path}: row {i} is not numeric: {line[:80]!r}") from None
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise DataError(f"{path}: rows have different numbers of columns: {sorted(widths)}")
    return np.asarray(rows, dtype=np.float32)
