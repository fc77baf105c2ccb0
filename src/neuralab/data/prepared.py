"""Data made ready for a model: the fitted input pipeline, the splits, and what the model needs to know.

An *input pipeline* turns raw inputs (a feature matrix, a list of molecules) into what a model eats (a tensor, or a
``Dataset`` of graphs). It is fitted on the training part only, and its state (scalers) is a dict of tensors that
is saved beside the weights, so that ``predict`` on new raw inputs does exactly what training did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import numpy as np
import torch
from torch.utils.data import Dataset

from neuralab.data.scaling import make_scaler

__all__ = ["InputPipeline", "TabularInputs", "PreparedData"]

Split = tuple[torch.Tensor, ...] | Dataset


class InputPipeline(Protocol):
    """What :mod:`neuralab.runs` needs from an input pipeline."""

    def fit(self, raw: Any) -> Self: ...

    def transform(self, raw: Any, y: torch.Tensor | None = None) -> Split:
        """Model inputs for ``raw``, with ``y`` as the last element of each item when given."""

    def state_dict(self) -> dict[str, torch.Tensor]: ...

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None: ...


class TabularInputs:
    """A feature matrix, scaled per column by ``scaling`` (``standard``, ``minmax``, ``none``, ``robust``)."""

    def __init__(self, scaling: str = "standard") -> None:
        self.scaler = make_scaler(scaling)

    def fit(self, raw: np.ndarray) -> Self:
        self.scaler.fit(np.asarray(raw, dtype=np.float32))
        return self

    def transform(self, raw: np.ndarray | torch.Tensor, y: torch.Tensor | None = None) -> Split:
        x = self.scaler.transform(torch.as_tensor(np.asarray(raw, dtype=np.float32)))
        return (x,) if y is None else (x, y)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.scaler.load_state_dict(state)


@dataclass
class PreparedData:
    """Splits ready for the engine, their raw targets, and the fitted pipeline and target scaler."""

    splits: dict[str, Split]
    targets: dict[str, np.ndarray]
    inputs: Any
    y_scaler: Any | None
    task: str
    model_args: dict[str, Any]
    classes: list[Any] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
