"""A whole data set in memory as arrays: the type every in-memory loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from neuralab.errors import DataError

__all__ = ["ArrayDataset"]

Task = Literal["classification", "regression", "unsupervised"]
_TASKS = ("classification", "regression", "unsupervised")


@dataclass
class ArrayDataset:
    """A whole data set in memory.

    Parameters
    ----------
    x : np.ndarray
        Inputs, shape (N, ...).
    y : np.ndarray or None
        Targets, shape (N,) or (N, ...): int64 class indices for classification, floats for regression, None for
        unsupervised data.
    task : {"classification", "regression", "unsupervised"}
    name : str
        The registry name, such as ``"digits"``.
    feature_names : list of str, optional
        One name per feature column of ``x``.
    classes : list, optional
        The class label of each class index (classification).
    files : dict of str to str
        ``filename -> sha256`` of every file read; empty for an embedded data set.
    image_shape : tuple of int, optional
        ``(C, H, W)`` when the rows are images: the shape of ``x[i]`` for image arrays, or how a flat row is laid
        out (scikit-learn's digits: ``(1, 8, 8)``). None for other tables.
    """

    x: np.ndarray
    y: np.ndarray | None
    task: Task
    name: str
    feature_names: list[str] | None = None
    classes: list[Any] | None = None
    files: dict[str, str] = field(default_factory=dict)
    image_shape: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.image_shape is None and self.x.ndim == 4:
            self.image_shape = tuple(int(d) for d in self.x.shape[1:])  # type: ignore[assignment]
        if self.task not in _TASKS:
            raise DataError(f"{self.name}: task must be one of {', '.join(_TASKS)}; got {self.task!r}")
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"{self.name}: x has {len(self.x)} samples but y has {len(self.y)}; they must match")

    def __len__(self) -> int:
        return len(self.x)
