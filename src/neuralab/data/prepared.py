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
from neuralab.errors import DataError

__all__ = ["InputPipeline", "TabularInputs", "ImageInputs", "PreparedData"]

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


class ImageInputs:
    """Images as float tensors in [0, 1] with their channel axis: ``uint8 (N, C, H, W)`` divided by 255.

    There is deliberately no mean/std normalisation, so that augmentation can fill with 0, which is the black
    background of MNIST-style images; batch normalisation in the network does the rest.
    """

    def __init__(self, shape: tuple[int, ...] | None = None) -> None:
        self.shape = tuple(shape) if shape else None

    def fit(self, raw: np.ndarray) -> Self:
        self.shape = tuple(int(d) for d in np.shape(raw)[1:])
        return self

    def transform(self, raw: np.ndarray | torch.Tensor, y: torch.Tensor | None = None) -> Split:
        x = torch.as_tensor(np.asarray(raw))
        if self.shape is not None and tuple(x.shape[1:]) != self.shape:
            if x.ndim == len(self.shape):  # one image without the batch axis
                x = x.unsqueeze(0)
            elif x[0].numel() == int(np.prod(self.shape)):
                x = x.reshape(len(x), *self.shape)
        if self.shape is not None and tuple(x.shape[1:]) != self.shape:
            raise DataError(f"images must have shape (N, {', '.join(map(str, self.shape))}); got {tuple(x.shape)}")
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return (x,) if y is None else (x, y)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"shape": torch.tensor(self.shape or (), dtype=torch.long)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.shape = tuple(state["shape"].tolist()) if "shape" in state else None


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
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) when the inputs are images, flat or not
