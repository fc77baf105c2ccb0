"""What several tasks share: scoring outputs against the recipe's metrics, scoring by a model's own loss, and
reading image files the way a run's training images were prepared."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from neuralab.data.datasets import IMAGE_READERS
from neuralab.data.digit_images import load_digit_images
from neuralab.errors import DataError
from neuralab.train import evaluate
from neuralab.train.metrics import compute_metrics

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["FEATURE_FILES", "IMAGES_FAILED", "image_reader", "read_images", "score_outputs", "own_loss"]

FEATURE_FILES = (".csv", ".npy")
IMAGES_FAILED = "{failed} of {total} images could not be read (see their rows)"


def image_reader(run: Run) -> Callable[[Sequence[str]], np.ndarray] | None:
    """How an image file becomes an input of this run (its data set's own preprocessing), or None when the run was
    not trained on images."""
    return IMAGE_READERS.get(run.recipe.data.name)


def read_images(paths: Sequence[str], reader: Callable[[Sequence[str]], np.ndarray] = load_digit_images
                ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each readable path's image, prepared as the training images were (MNIST-shaped by default), and each
    unreadable path's error; fails only if none is readable."""
    images, errors = {}, {}
    for path in paths:
        try:
            images[path] = reader([path])
        except DataError as err:
            errors[path] = str(err).removeprefix(f"{path}: ")
    if not images:
        n = len(errors) - 1
        more = f" (and {n} more unreadable file{'s' if n > 1 else ''})" if n else ""
        first = next(iter(errors))
        raise DataError(f"{first}: {errors[first]}{more}")
    return images, errors


def score_outputs(run: Run, split: Any, combined: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The recipe's metrics on combined outputs, and for a single model its loss on the split."""
    result = compute_metrics(run.recipe.metrics, combined, y) if run.recipe.metrics else {}
    if len(run.models) == 1 and run.recipe.loss.name is not None:
        loss = evaluate(run.model, split, loss=run.recipe.loss, batch_size=max(run.recipe.trainer.batch_size, 1024))
        result = {"loss": loss["loss"], **result}
    return result


def own_loss(run: Run, split: Any) -> dict[str, float]:
    """The model's own objective and its terms over a prepared split (a VAE's ELBO and KL, a language model's nats)."""
    return evaluate(run.model, split, loss=run.model.loss, batch_size=max(run.recipe.trainer.batch_size, 1024))
