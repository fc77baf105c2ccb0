"""What several tasks share: scoring outputs against the recipe's metrics, scoring by a model's own loss, and
reading image files the way a run's training images were prepared."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from neuralab.data.datasets import IMAGE_READERS
from neuralab.data.digit_images import load_digit_images
from neuralab.errors import DataError, NeuralabError
from neuralab.tasks._tables import flag_non_finite, read_rows
from neuralab.train import evaluate
from neuralab.train.metrics import compute_metrics

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["FEATURE_FILES", "IMAGES_FAILED", "Inputs", "image_reader", "read_images", "read_inputs", "score_outputs",
           "own_loss"]

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


@dataclass
class Inputs:
    """Inputs read for ``predict``: the rows that could be read, and every input's name and error."""

    x: np.ndarray  # the readable rows (images or feature rows), in the order of ``names``
    names: list[str]  # the name of each readable row
    order: list[str]  # every input's name, in the order given: the rows of the output
    errors: dict[str, str]  # the reason of each input that could not be read
    failed_note: str


def read_inputs(run: Run, inputs: Sequence[Any]) -> Inputs:
    """Image files (for a run trained on images, prepared as its training images were) or feature rows (``.csv`` /
    ``.npy`` / arrays, a row holding NaN flagged); an unreadable input gets its error, the others are kept."""
    if not inputs:
        raise NeuralabError("give one or more input files (.csv or .npy feature rows, or images)")
    files = [str(i) for i in inputs if isinstance(i, (str, Path))]
    reader = image_reader(run)
    pictures = [f for f in files if not f.lower().endswith(FEATURE_FILES)]
    if pictures and (reader is None or len(pictures) < len(inputs)):
        raise DataError(f"{pictures[0]}: give image files (runs trained on images) or feature files (.csv/.npy), "
                        "not both")
    if pictures:
        read, errors = read_images(files, reader)
        names = [p for p in files if p not in errors]
        return Inputs(np.concatenate([read[p] for p in names]), names, files, errors, IMAGES_FAILED)
    x, names = read_rows(inputs)
    flags = flag_non_finite(x)
    keep = [i for i, flag in enumerate(flags) if flag is None]
    if not keep:
        raise DataError(f"no row can be predicted: row {names[0]}: {flags[0]}")
    errors = {name: flag for name, flag in zip(names, flags) if flag is not None}
    return Inputs(x[keep], [names[i] for i in keep], names, errors,
                  "{failed} of {total} rows could not be predicted (see the error column)")
