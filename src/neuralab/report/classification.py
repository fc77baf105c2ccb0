"""Figures for a classification run: the confusion matrix and, for a convolutional network, what it has learned.

For a CNN (a model whose ``features`` is an ``nn.Sequential`` starting with a ``Conv2d``) the run also shows the
first-layer filters, the feature maps each convolution produces for one test image, and the test images the model
gets wrong with the most confidence.

Each function takes plain arrays or tensors and writes one PNG (matplotlib, Agg backend);
:func:`classification_figures` draws the lot and returns the ``figures.json`` entries, so that the report shows them
with a caption.

>>> from neuralab.report.classification import classification_figures
>>> classification_figures(model, x_test, y_test, proba, classes, run_dir)  # doctest: +SKIP
[{'file': 'confusion.png', 'title': 'Confusion matrix (test)', 'caption': '...'}, ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.report._figures import pyplot as _pyplot
from neuralab.report._figures import save_figure as _save
from neuralab.report.images import grid_shape

__all__ = ["plot_confusion_matrix", "plot_first_layer_filters", "conv_outputs", "plot_feature_maps",
           "plot_confident_mistakes", "classification_figures"]

DPI = 110
MAX_ANNOTATED_CLASSES = 20  # beyond this the numbers in the cells are too small to read
MAX_FILTERS = 64
PANEL_INCHES = 1.3




def _class_indices(y: Any, classes: Sequence[Any], name: str) -> np.ndarray:
    """Labels from ``classes`` as their positions ``0..K-1``; raise naming the first unknown label."""
    lookup = {c: i for i, c in enumerate(list(classes))}
    values = np.asarray(y).reshape(-1).tolist()  # Python scalars, so that np.int64(3) and 3 find the same key
    idx = np.array([lookup.get(v, -1) for v in values], dtype=np.int64)
    if np.any(idx < 0):
        bad = values[int(np.argmax(idx < 0))]
        raise NeuralabError(f"{name} holds the label {bad!r}, which is not in classes {list(classes)[:20]}")
    return idx


def _as_image(x: torch.Tensor) -> np.ndarray:
    """A (C, H, W) tensor as something imshow draws: (H, W) for one channel, (H, W, 3) for RGB, else the mean.

    Pixels already in [0, 1] are kept as they are. Anything else (standardised inputs) is clipped to its 2nd-98th
    percentiles and then min-max scaled: per-pixel standardisation blows near-constant border pixels up to huge
    values, which would otherwise turn the rest of the image grey.
    """
    x = x.detach().float().cpu()
    if float(x.min()) < 0.0 or float(x.max()) > 1.0:
        lo, hi = np.percentile(x.numpy(), [2, 98])
        x = torch.as_tensor(_minmax(np.clip(x.numpy(), lo, hi)))
    return x.permute(1, 2, 0).numpy() if x.shape[0] == 3 else x.mean(0).numpy()


def _minmax(x: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant array becomes mid-grey rather than dividing by zero."""
    lo, hi = float(x.min()), float(x.max())
    return np.full_like(x, 0.5) if hi - lo < 1e-12 else (x - lo) / (hi - lo)


def plot_confusion_matrix(y_true: Any, y_pred: Any, classes: Sequence[Any], path: Path,
                          normalize: bool = True) -> Path:
    """Confusion matrix: rows are the true class, columns the predicted class.

    Parameters
    ----------
    y_true, y_pred
        Labels, each one of ``classes``, shape ``(N,)``.
    classes
        The class labels, in the order of the rows and columns.
    path
        Where to write the PNG.
    normalize
        Colour each row by the share of that class predicted as each column (the diagonal is the per-class
        recall), rather than by raw counts. Cells show counts in either case when there are at most 20 classes.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    NeuralabError
        When the lengths differ or a label is not in ``classes``.
    """
    if len(classes) == 0:
        raise NeuralabError("classes must list at least one class label; got []")
    t, p = _class_indices(y_true, classes, "y_true"), _class_indices(y_pred, classes, "y_pred")
    if len(t) != len(p):
        raise NeuralabError(f"y_true and y_pred must have the same length; got {len(t)} and {len(p)}")
    k = len(classes)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (t, p), 1)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    shown = rates if normalize else counts
    accuracy = float(np.mean(t == p)) if len(t) else float("nan")

    plt = _pyplot()
    side = min(3.5 + 0.35 * k, 14.0)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(int(counts.max()), 1))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class" if normalize else "count")
    if k <= MAX_ANNOTATED_CLASSES:
        threshold = 0.5 * (1 if normalize else max(int(counts.max()), 1))
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shown[i, j] > threshold else "black")
    names = [str(c) for c in classes]
    ax.set_xticks(range(k), names, rotation=90 if max(map(len, names)) > 3 else 0, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"Confusion matrix (accuracy {accuracy:.1%}, n = {len(t)})")
    fig.tight_layout()
    return _save(fig, path)


def plot_first_layer_filters(weight: torch.Tensor, path: Path) -> Path:
    """The learned first-layer kernels, one panel each (at most 64), each min-max scaled on its own.

    Parameters
    ----------
    weight
        A ``Conv2d`` weight of shape ``(out_channels, in_channels, kh, kw)``. One input channel is drawn in grey,
        three as RGB, any other number as the mean over the input channels.
    path
        Where to write the PNG.

    Returns
    -------
    Path
        ``path``.
    """
    if weight.ndim != 4:
        raise NeuralabError(f"weight must have shape (out_channels, in_channels, kh, kw); got {tuple(weight.shape)}")
    w = weight.detach().float().cpu()[:MAX_FILTERS]
    rows, cols = grid_shape(len(w))
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(0.9 * cols + 0.4, 0.9 * rows + 0.6), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(w):
            kernel = _minmax(w[i].permute(1, 2, 0).numpy() if w.shape[1] == 3 else w[i].mean(0).numpy())
            ax.imshow(kernel, cmap=None if kernel.ndim == 3 else "gray", interpolation="nearest")
    out_c, in_c, kh, kw = weight.shape
    fig.suptitle(f"First-layer filters ({out_c}×{in_c}×{kh}×{kw})", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def conv_outputs(features: nn.Module, image: torch.Tensor) -> list[torch.Tensor]:
    """The output of every ``Conv2d`` in ``features`` for one image, in forward order.

    The module runs in eval mode (batch norm uses its running statistics, dropout is off) under ``no_grad``;
    its training flag is restored afterwards.

    Parameters
    ----------
    features
        The convolutional part of a model, e.g. ``CNN.features``.
    image
        One image, shape ``(C, H, W)``.

    Returns
    -------
    list[torch.Tensor]
        One ``(channels, height, width)`` tensor per ``Conv2d``, on the CPU.
    """
    if image.ndim != 3:
        raise NeuralabError(f"image must have shape (C, H, W); got {tuple(image.shape)}")
    captured: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: captured.append(out[0].detach().float().cpu()))
             for m in features.modules() if isinstance(m, nn.Conv2d)]
    param = next(features.parameters(), None)
    x = image.unsqueeze(0).float()  # (1, C, H, W)
    x = x.to(param.device) if param is not None else x
    was_training = features.training
    try:
        features.eval()
        with torch.no_grad():
            features(x)
    finally:
        features.train(was_training)
        for hook in hooks:
            hook.remove()
    return captured


def plot_feature_maps(model_features: nn.Module, image: torch.Tensor, path: Path, max_maps: int = 8) -> Path:
    """One row per ``Conv2d`` layer showing up to ``max_maps`` of its output channels for one image.

    The input image sits at the left of the first row. Each map has its own colour scale (bright = strong
    response), so compare where a map lights up, not how bright it is next to another.

    Parameters
    ----------
    model_features
        The convolutional part of a model, e.g. ``CNN.features``.
    image
        One image, shape ``(C, H, W)``.
    path
        Where to write the PNG.
    max_maps
        Channels drawn per layer (the first ones).

    Returns
    -------
    Path
        ``path``.
    """
    if not isinstance(max_maps, int) or max_maps < 1:
        raise NeuralabError(f"max_maps must be a positive int; got {max_maps!r}")
    maps = conv_outputs(model_features, image)
    if not maps:
        raise NeuralabError("model_features has no Conv2d layer, so there are no feature maps to draw")
    cols = 1 + min(max_maps, max(len(m) for m in maps))
    plt = _pyplot()
    fig, axes = plt.subplots(len(maps), cols, figsize=(PANEL_INCHES * cols, PANEL_INCHES * len(maps) + 0.4),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_frame_on(False)
    picture = _as_image(image)
    axes[0, 0].imshow(picture, cmap=None if picture.ndim == 3 else "gray")
    axes[0, 0].set_title("input", fontsize=8)
    for row, fmap in enumerate(maps):
        for c in range(min(max_maps, len(fmap))):
            axes[row, c + 1].imshow(fmap[c].numpy(), cmap="viridis")
            axes[row, c + 1].set_title(f"ch {c}", fontsize=7)
        c_out, h, w = fmap.shape
        axes[row, 1].set_ylabel(f"conv {row + 1}\n{c_out}×{h}×{w}", fontsize=8)
    fig.suptitle("Feature maps (Conv2d outputs, before batch norm and activation)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_confident_mistakes(images: torch.Tensor, y_true: Any, proba: np.ndarray, classes: Sequence[Any],
                            path: Path, n: int = 16) -> Path:
    """The ``n`` misclassified images with the highest predicted probability, most confident first.

    Parameters
    ----------
    images
        Float images, shape ``(N, C, H, W)``; pixels in [0, 1] are drawn as they are, other ranges are min-max
        scaled per image.
    y_true
        True labels, each one of ``classes``, shape ``(N,)``.
    proba
        Predicted class probabilities, shape ``(N, K)``, columns in ``classes`` order.
    classes
        The class labels.
    path
        Where to write the PNG.
    n
        Most images drawn. With no mistakes, the figure says so.

    Returns
    -------
    Path
        ``path``.
    """
    proba = np.asarray(proba, dtype=np.float64)
    t = _class_indices(y_true, classes, "y_true")
    if proba.ndim != 2 or proba.shape != (len(images), len(classes)) or len(t) != len(images):
        raise NeuralabError(f"images {tuple(images.shape)}, y_true ({len(t)},) and proba {proba.shape} must agree: "
                            f"expected proba ({len(images)}, {len(classes)})")
    pred = proba.argmax(1)
    confidence = proba[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(pred != t)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:n]
    plt = _pyplot()
    if len(wrong) == 0:
        fig, ax = plt.subplots(figsize=(4, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, f"No misclassified images among {len(t)}", ha="center", va="center", fontsize=11)
        return _save(fig, path)
    rows, cols = grid_shape(len(wrong))
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.0 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        picture = _as_image(images[i])
        ax.imshow(picture, cmap=None if picture.ndim == 3 else "gray", vmin=0, vmax=1)
        ax.set_title(f"true {classes[t[i]]} / pred {classes[pred[i]]} ({confidence[i]:.0%})", fontsize=7)
    fig.suptitle(f"Most confident mistakes ({len(wrong)} shown of {int(np.sum(pred != t))})", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _image_batch(model: nn.Module, x: Any) -> torch.Tensor | None:
    """``x`` as images ``(N, C, H, W)``: as given, or unflattened to the model's ``in_channels``/``image_size``."""
    if not isinstance(x, torch.Tensor) or len(x) == 0:
        return None
    if x.ndim == 4:
        return x
    c, hw = getattr(model, "in_channels", None), getattr(model, "image_size", None)
    if isinstance(c, int) and isinstance(hw, tuple) and x[0].numel() == c * hw[0] * hw[1]:
        return x.reshape(len(x), c, *hw)  # flat rows in C, H, W order, as CNN.forward reads them
    return None


def _first_conv(model: nn.Module) -> nn.Conv2d | None:
    """``model.features[0]`` when the model is a CNN-like network, else None."""
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential) and len(features) > 0 and isinstance(features[0], nn.Conv2d):
        return features[0]
    return None


def classification_figures(model: nn.Module, x_test: torch.Tensor | None, y_true: np.ndarray, proba: np.ndarray,
                           classes: Sequence[Any], out_dir: Path, split: str = "test") -> list[dict[str, str]]:
    """Draw the classification figures into ``out_dir`` and return their ``figures.json`` entries.

    ``confusion.png`` is always drawn. When ``model.features`` is an ``nn.Sequential`` whose first layer is a
    ``Conv2d`` and ``x_test`` is a batch of images ``(N, C, H, W)`` (or flat rows that the model's ``in_channels``
    and ``image_size`` unflatten, as a CNN on standardised digits gets), so are ``filters.png``,
    ``feature_maps.png`` (for the first image) and ``mistakes.png``.

    Parameters
    ----------
    model
        The trained model (for an ensemble, one member).
    x_test
        The prepared inputs of ``split``, or None when they are not a tensor (graphs, for example).
    y_true
        Raw labels of ``split``, each one of ``classes``.
    proba
        Predicted probabilities ``(N, K)``, columns in ``classes`` order.
    classes
        The class labels; empty means ``0..K-1``.
    out_dir
        The run directory.
    split
        Name of the split, for the titles.

    Returns
    -------
    list[dict[str, str]]
        ``{"file", "title", "caption"}`` per figure, in display order.
    """
    out_dir = Path(out_dir)
    proba = np.asarray(proba)
    classes = list(classes) if len(classes) else list(range(proba.shape[1]))
    y_pred = np.asarray(classes, dtype=object)[proba.argmax(1)]
    figures = [{"file": plot_confusion_matrix(y_true, y_pred, classes, out_dir / "confusion.png").name,
                "title": f"Confusion matrix ({split})",
                "caption": "Rows are the true class, columns the prediction; the diagonal holds the correct answers. "
                           "Look off the diagonal for pairs of classes the model confuses, often ones that look "
                           "alike."}]
    conv, x_test = _first_conv(model), _image_batch(model, x_test)
    if conv is None or x_test is None:
        return figures
    figures.append({"file": plot_first_layer_filters(conv.weight, out_dir / "filters.png").name,
                    "title": "First-layer filters",
                    "caption": "The kernels the first convolution learned, each scaled to its own range. Trained "
                               "filters often look like edge, stripe or blob detectors; pure noise suggests too "
                               "little training."})
    figures.append({"file": plot_feature_maps(model.features, x_test[0], out_dir / "feature_maps.png").name,
                    "title": f"Feature maps (first {split} image)",
                    "caption": "What each convolution responds to in one image: early layers react to local edges "
                               "and strokes at full resolution; deeper layers are smaller and more abstract. A map "
                               "that is blank for every image is a channel that does nothing."})
    figures.append({"file": plot_confident_mistakes(x_test, y_true, proba, classes, out_dir / "mistakes.png").name,
                    "title": f"Most confident mistakes ({split})",
                    "caption": "Misclassified images the model was surest about. Some are ambiguous or mislabelled "
                               "data; a repeated confusion points to a pattern the model has not learned."})
    return figures
