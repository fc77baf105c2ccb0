"""Classification: a class for each input, scored by accuracy and log-loss; an ensemble averages probabilities.

Raw inputs for ``predict`` are feature files (``.csv``/``.npy``) or, for a run trained on images, image files of
any size and colours, prepared as its training images were (:mod:`neuralab.data.digit_images`): MNIST's 28×28, or
scikit-learn's 8×8 digits in 0..16. A file that cannot be
read, or a feature row holding a NaN, gets its error in its own row; the others are still predicted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from neuralab.data.prepared import ImageInputs, PreparedData
from neuralab.errors import DataError, NeuralabError
from neuralab.report.calibration import plot_reliability
from neuralab.report.classification import classification_figures
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.tasks._common import FEATURE_FILES, IMAGES_FAILED, image_reader, read_images, score_outputs
from neuralab.tasks._tables import (
    TableData,
    augmentation,
    check_width,
    flag_non_finite,
    prepare_table,
    read_rows,
    table_inputs,
)
from neuralab.tasks.base import Predictions, Task
from neuralab.train.calibration import BINS, expected_calibration_error, fit_temperature, reliability_bins

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["Classification"]




@dataclass(frozen=True)
class Classification(Task):
    """A class for each input (digits, MNIST...)."""

    name: str = "classification"
    summary: str = "a class for each input, with its calibrated probability (digits, MNIST)"
    default_loss: str | None = "cross_entropy"
    metrics: tuple[str, ...] = ("accuracy", "nll")
    cross_validation: bool = True
    predict_options: tuple[str, ...] = ("calibrated",)
    verbs: tuple[str, ...] = ("predict_proba",)

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        return TableData

    def loss_note(self, recipe: Recipe) -> str:
        smoothing = float(recipe.loss.options.get("label_smoothing", 0.0) or 0.0)
        note = "loss is the training cross-entropy"
        k = recipe.model.options.get("out_features")
        if smoothing and isinstance(k, int) and k > 1:  # the entropy of the smoothed target: the lowest loss possible
            high, low = 1 - smoothing + smoothing / k, smoothing / k
            floor = -(high * math.log(high) + (k - 1) * low * math.log(low))
            note += (f" with label smoothing {smoothing:g}, so it cannot fall below {floor:.3f} even when every "
                     "prediction is right")
        return note + "; nll is the plain log-loss of the predicted probabilities, in nats, and accuracy a fraction."

    def prepare(self, recipe: Recipe) -> PreparedData:
        return prepare_table(recipe, "classes")

    def make_inputs(self, recipe: Recipe) -> Any:
        return table_inputs(recipe)

    def train_transform(self, recipe: Recipe, data: PreparedData) -> Any:
        return augmentation(recipe, data)

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        combined = run.outputs(split).float().softmax(-1).mean(0).clamp_min(1e-12).log()
        y = torch.as_tensor(np.searchsorted(run.classes, targets) if run.classes else targets)
        return score_outputs(run, split, combined, y)

    def predict_prepared(self, run: Run, split: Any) -> np.ndarray:
        idx = self._proba(run, split).argmax(1)
        return np.asarray(run.classes)[idx] if run.classes else idx

    def preprocess(self, run: Run, raw: Any) -> Any:
        if not isinstance(run.inputs, ImageInputs):
            x = np.asarray(raw, dtype=np.float32)
            x = x[None] if x.ndim == 1 else x
            check_width(x, run.recipe.model.options.get("in_features"))
            raw = x
        return run.inputs.transform(raw)

    def predict_proba(self, run: Run, raw: Any, *, calibrated: bool = True) -> np.ndarray:
        """Class probabilities (ensemble mean), one column per class in ``run.classes`` order.

        ``calibrated`` divides the logits by the temperature fitted on the validation set (when the run has one):
        the probabilities then mean what they say; the predicted class is the same either way.
        """
        return self._proba(run, self.preprocess(run, raw), calibrated=calibrated)

    def _proba(self, run: Run, split: Any, *, calibrated: bool = True) -> np.ndarray:
        proba = run.outputs(split).float().softmax(-1).mean(0)
        temperature = run.calibration.get("temperature") if calibrated else None
        if temperature is not None:
            proba = (proba.clamp_min(1e-12).log() / float(temperature.reshape(-1)[0])).softmax(-1)
        return proba.numpy()

    def calibrate(self, run: Run, data: PreparedData) -> dict[str, torch.Tensor]:
        """The temperature that makes the validation probabilities honest (temperature scaling, Guo et al. 2017)."""
        if "val" not in data.splits:
            return {}
        logits = torch.as_tensor(self._proba(run, data.splits["val"], calibrated=False)).clamp_min(1e-12).log()
        y = np.searchsorted(run.classes, data.targets["val"]) if run.classes else data.targets["val"]
        return {"temperature": torch.tensor([fit_temperature(logits, torch.as_tensor(y))])}

    def extra_metrics(self, run: Run, data: PreparedData) -> dict[str, Any]:
        """ECE and NLL of the raw and the temperature-scaled probabilities on every split, and reliability bins."""
        extra = super().extra_metrics(run, data)
        temperature = run.calibration.get("temperature")
        report: dict[str, Any] = {"temperature": None if temperature is None else float(temperature.reshape(-1)[0]),
                                  "bins": BINS}
        for name, split in data.splits.items():
            y = np.searchsorted(run.classes, data.targets[name]) if run.classes else data.targets[name]
            raw, scaled = self._proba(run, split, calibrated=False), self._proba(run, split)
            report[name] = {"ece_raw": expected_calibration_error(raw, y), "ece": expected_calibration_error(scaled, y),
                            "nll_raw": _nll(raw, y), "nll": _nll(scaled, y),
                            "reliability_raw": reliability_bins(raw, y), "reliability": reliability_bins(scaled, y)}
        extra["calibration"] = report
        return extra

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        """Confusion matrix and, for a CNN, filters, feature maps and confident mistakes."""
        last = "test" if "test" in data.splits else "val" if "val" in data.splits else "train"
        split = data.splits[last]
        x = split[0] if isinstance(split, tuple) else split
        figures = classification_figures(run.model, x if isinstance(x, torch.Tensor) else None, data.targets[last],
                                         self._proba(run, split), run.classes, out, split=last)
        return figures + _reliability_figure(run, metrics.get("calibration", {}), last, out)

    def predict(self, run: Run, inputs: Sequence[Any], **options: Any) -> Predictions:
        """Class and probabilities for image files (image runs) or feature rows (``.csv``/``.npy`` or arrays)."""
        self.check_options("predict", self.predict_options, options)
        if not inputs:
            raise NeuralabError("give one or more input files (.csv with one row of features per sample, or .npy"
                                + (", or images" if isinstance(run.inputs, ImageInputs) else "") + ")")
        files = [str(i) for i in inputs if isinstance(i, (str, Path))]
        images = [f for f in files if not f.lower().endswith(FEATURE_FILES)]
        reader = image_reader(run)
        if images and reader is None:
            raise DataError(f"{images[0]}: this run takes feature rows (.csv or .npy with "
                            f"{run.recipe.model.options.get('in_features')} columns), not images")
        if images and len(images) < len(inputs):
            raise DataError(f"give image files or feature files (.csv/.npy), not both; {images[0]} is an image")
        calibrated = options.get("calibrated", True) is not False
        if images:
            return self._predict_images(run, files, reader, calibrated)
        x, names = read_rows(inputs)
        errors = flag_non_finite(x)
        ok = [i for i, e in enumerate(errors) if e is None]
        if not ok:
            raise DataError(f"no row can be predicted: row {names[0]}: {errors[0]}")
        proba = self.predict_proba(run, x[ok], calibrated=calibrated)
        return self._rows(run, "row", names, dict(zip((names[i] for i in ok), proba)),
                          {names[i]: e for i, e in enumerate(errors) if e is not None})

    def _predict_images(self, run: Run, paths: list[str], reader: Callable[[Sequence[str]], np.ndarray],
                        calibrated: bool) -> Predictions:
        images, errors = read_images(paths, reader)
        proba = dict(zip(images, self.predict_proba(run, np.concatenate(list(images.values())),
                                                    calibrated=calibrated)))
        preds = self._rows(run, "image", paths, proba, errors)
        preds.failed_note = IMAGES_FAILED
        return preds

    def _rows(self, run: Run, key: str, names: list[str], proba: dict[str, np.ndarray],
              errors: dict[str, str]) -> Predictions:
        classes = [str(c) for c in (run.classes or range(len(next(iter(proba.values())))))]
        rows = []
        for name in names:
            row: dict[str, Any] = {key: name, "prediction": None, **{f"p_{c}": None for c in classes},
                                   "error": errors.get(name)}
            if name in proba:
                p = proba[name]
                row.update(prediction=classes[int(np.argmax(p))], **{f"p_{c}": float(v) for c, v in zip(classes, p)})
            rows.append(row)

        def top3(row: dict[str, Any]) -> str:
            p = np.array([row[f"p_{c}"] for c in classes])
            return "  ".join(f"{classes[i]}: {p[i]:.1%}" for i in np.argsort(p)[::-1][:3])

        table = [(key, lambda r: r[key]), ("class", lambda r: r["prediction"]), ("top 3", top3)]
        return Predictions([key, "prediction", *(f"p_{c}" for c in classes), "error"], rows, table)


def _nll(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the labels under the probabilities, in nats."""
    return float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)).mean())


def _reliability_figure(run: Run, calibration: dict[str, Any], split: str, out: Path) -> list[dict[str, str]]:
    """The reliability diagram of ``split``, raw and temperature-scaled, with what label smoothing does."""
    numbers = calibration.get(split)
    if not numbers:
        return []
    temperature = calibration.get("temperature")
    path = plot_reliability(numbers["reliability_raw"], numbers["reliability"] if temperature else None,
                            out / "reliability.png", temperature=temperature, ece_raw=numbers["ece_raw"],
                            ece_calibrated=numbers["ece"] if temperature else None, split=split)
    caption = ("Accuracy against confidence in equal-width bins: points on the diagonal mean that a prediction "
               "made with 80% confidence is right 80% of the time; the gap, weighted by the bins' sizes, is the "
               "ECE.")
    if temperature:
        caption += (f" Temperature scaling divides the logits by T = {temperature:.2f}, fitted on the validation "
                    "set; it changes the confidence, never the predicted class, and predict uses it (--uncalibrated "
                    "turns it off).")
    smoothing = run.recipe.loss.options.get("label_smoothing", 0.0)
    if smoothing:
        caption += (f" This run was trained with label smoothing {smoothing}: its targets put 1 − {smoothing} + "
                    f"{smoothing}/K on the true class, so its raw softmax is under-confident (points above the "
                    "diagonal), which a temperature below 1 corrects.")
    return [{"file": path.name, "title": f"Calibration of the probabilities ({split})", "caption": caption}]
