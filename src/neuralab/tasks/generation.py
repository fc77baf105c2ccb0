"""Generation: new images from noise, learned adversarially (GANs), sampled, and measured against real images.

A GAN descends no single loss: each epoch logs both players' losses and how the discriminator judges real and
generated images (D(x), D(G(z)) and its accuracy on each), and saves the same fixed noise through the generator, so
that the report can show the samples improving as a GIF. At the end, when ``data.classifier`` names a classifier
run (``neuralab train mnist-cnn``), the samples are scored on its features: FID and KID against the test images,
beside the FID of real against real images (training against test, same N: the floor a perfect generator would
reach), the classes the classifier sees in them, with a mode-collapse warning, and for a conditional GAN how often it
reads the label that was asked for. The report adds a latent interpolation and each sample's nearest training image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from neuralab.data.prepared import PreparedData
from neuralab.errors import DataError, NeuralabError
from neuralab.report.boltzmann import save_chain_gif
from neuralab.report.gan import plot_class_shares, plot_gan_history, plot_image_rows
from neuralab.report.images import save_image_grid
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.runs.run import Run
from neuralab.tasks._quality import (
    ClassifierFeatures,
    class_histogram,
    image_quality,
    label_accuracy,
    nearest_images,
    weights_sha256,
)
from neuralab.tasks._tables import TableData, prepare_table, table_inputs
from neuralab.tasks.base import Task
from neuralab.tasks.classification import Classification
from neuralab.train import Callback, evaluate
from neuralab.train.engine import FitState
from neuralab.train.state import atomic_write_bytes

__all__ = ["Generation", "GenerationData"]

GRID = 64  # images in the fixed-noise grid
PROGRESS = "progress.npy"  # the grid of every epoch, (epochs, GRID, C·H·W) uint8, beside the checkpoints


class GenerationData(TableData):
    """Images to learn to generate (``digits``, ``mnist`` or an MNIST-format folder). ``classifier`` is a classifier
    run of the same images (``neuralab train mnist-cnn``) whose features score the samples at the end (FID, KID,
    classes); ``eval_samples`` is how many images each score uses (N, also for the real-against-real floor)."""

    scaling: Literal["standard", "global", "global_minmax", "minmax", "robust", "pixels", "none"] = "pixels"
    classifier: str | None = None
    eval_samples: int = Field(10_000, ge=100, le=100_000)


class FixedNoiseGrid(Callback):
    """After every epoch, the same noise (and, for a conditional GAN, the labels 0, 1, 2 ... in turn) through the
    generator, kept as one row of ``progress.npy``: the frames of the report's GIF. Resuming keeps the frames."""

    order = 50

    def __init__(self, path: Path, seed: int) -> None:
        self.path, self.seed = path, seed
        self.frames: list[np.ndarray] = []

    def on_epoch_end(self, state: FitState) -> None:
        model = state.model
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(self.seed)
        labels = torch.arange(GRID) % model.n_classes if model.conditional else None
        was_training = model.training
        model.eval()
        with torch.no_grad():
            images = model.sample(GRID, generator, labels).flatten(1).clamp(0, 1)
        model.train(was_training)
        self.frames.append((images.cpu().numpy() * 255).round().astype(np.uint8))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        buffer = _npy_bytes(np.stack(self.frames))
        atomic_write_bytes(self.path, buffer)

    def state_dict(self) -> dict[str, Any]:
        return {"frames": torch.from_numpy(np.stack(self.frames)) if self.frames else torch.zeros(0)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        frames = state.get("frames")
        self.frames = [f for f in frames.numpy()] if frames is not None and frames.numel() else []


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _check_n(n: Any, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
        raise NeuralabError(f"{name} must be a whole number from 1 to 100,000; got {n!r}")
    return n


@dataclass(frozen=True)
class Generation(Task):
    """New images from noise (GAN, DCGAN, conditional GAN), scored by FID/KID on a classifier's features."""

    name: str = "generation"
    summary: str = "new images from noise, learned adversarially (GAN, DCGAN, conditional GAN), scored by FID"
    sample_options: tuple[str, ...] = ("n", "seed", "label")
    verbs: tuple[str, ...] = ("sample", "interpolate", "quality")

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        return GenerationData

    def loss_note(self, recipe: Recipe) -> str:
        return ("a GAN has two losses, one per player (d_loss, g_loss), which rise and fall against each other and "
                "say little about image quality on their own; d_real and d_fake are D's mean probability that real "
                "and generated images are real. Image quality is measured at the end by FID and KID (quality in "
                "metrics.json), when data.classifier names a classifier run.")

    # --- training ---------------------------------------------------------------------------------------------

    def prepare(self, recipe: Recipe) -> PreparedData:
        if recipe.data.scaling not in ("pixels", "global_minmax", "minmax", "none"):
            raise DataError(f"data.scaling: a GAN generates pixels in [0, 1]; use scaling: pixels (images) or "
                            f"global_minmax (the 8x8 digits); got {recipe.data.scaling!r}")
        data = prepare_table(recipe, "optional")
        if data.image_shape is None:
            raise DataError(f"data set {recipe.data.name!r} holds no images; a GAN here generates images")
        conditional = bool(recipe.model.options.get("conditional", False))
        if conditional and not data.classes:
            raise DataError(f"a conditional GAN needs labelled images; {recipe.data.name!r} has no labels")
        if data.classes:
            data.model_args["n_classes"] = len(data.classes)
        if recipe.data.classifier is not None:  # before training, not after it: a bad classifier fails at once
            self._check_classifier(recipe)
        return data

    def make_inputs(self, recipe: Recipe) -> Any:
        return table_inputs(recipe)

    def callbacks(self, recipe: Recipe, data: PreparedData, out: Path) -> list[Callback]:
        return [FixedNoiseGrid(out / PROGRESS, seed=recipe.trainer.seed + 1)]

    def monitor(self, recipe: Recipe, data: PreparedData) -> str:
        """No logged number says which epoch's generator is best (FID is measured once, at the end): a run keeps
        its last epoch unless ``trainer.monitor`` names one."""
        return recipe.trainer.monitor or "none"

    # --- scoring ----------------------------------------------------------------------------------------------

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        return evaluate(run.model, split, batch_size=max(run.recipe.trainer.batch_size, 500))

    def _check_classifier(self, recipe: Recipe) -> Run:
        """The classifier run of ``data.classifier``, checked to read the images as this GAN makes them."""
        path = Path(recipe.data.classifier)
        if not (path / "config.yaml").is_file():
            raise DataError(f"data.classifier: {str(path)[:200]} is not a run directory; train a classifier of the "
                            "same images first, e.g. neuralab train mnist-cnn --out runs/mnist-cnn")
        classifier = Run.load(path, Classification())
        if classifier.recipe.data.scaling != recipe.data.scaling or classifier.recipe.data.name != recipe.data.name:
            raise DataError(f"data.classifier: {path} was trained on {classifier.recipe.data.name} with scaling "
                            f"{classifier.recipe.data.scaling!r}, and this GAN makes {recipe.data.name} images with "
                            f"scaling {recipe.data.scaling!r}; train the classifier on the same images and scaling")
        return classifier

    def _classifier(self, run: Run) -> ClassifierFeatures | None:
        if run.recipe.data.classifier is None:
            return None
        return ClassifierFeatures(self._check_classifier(run.recipe).model, run.model.image_shape)

    def quality(self, run: Run, n: int | None = None, *, seed: int = 0, classifier: str | None = None
                ) -> dict[str, Any]:
        """FID and KID of ``n`` samples against ``n`` test images on the classifier's features, the floor (training
        against test images, same N), the classes of the samples, and for a conditional GAN the share whose label
        the classifier reads back. ``classifier`` overrides the recipe's ``data.classifier``."""
        if classifier is not None:
            data = run.recipe.data.model_copy(update={"classifier": str(classifier)})
            run = Run(run.path, run.recipe.model_copy(update={"data": data}), run.task, run.models, run.inputs,
                      run.y_scaler, run.classes)
        return self._quality(run, self.prepare(run.recipe), n, seed)

    def _quality(self, run: Run, data: PreparedData, n: int | None, seed: int) -> dict[str, Any]:
        features = self._classifier(run)
        if features is None:
            raise NeuralabError("no classifier to score the samples with: train one on the same images "
                                "(neuralab train mnist-cnn) and give it as data.classifier or classifier=")
        train, test = data.splits["train"][0], data.splits.get("test", data.splits["train"])[0]
        n = min(_check_n(run.recipe.data.eval_samples if n is None else n), len(train), len(test))
        model = run.model
        labels = torch.arange(n) % model.n_classes if model.conditional else None
        fake = self.sample(run, n, seed=seed, label=labels)
        test_images = test[:n].reshape(n, *model.image_shape).float()
        chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
        train_images = train[chosen].reshape(n, *model.image_shape).float()
        result: dict[str, Any] = {"n": n, "seed": seed, "classifier": run.recipe.data.classifier,
                                  "classifier_sha256": weights_sha256(features.classifier),
                                  "samples": image_quality(features, test_images, fake),
                                  "floor": image_quality(features, test_images, train_images)}
        result["fid_over_floor"] = result["samples"]["fid"] / max(result["floor"]["fid"], 1e-12)
        result["classes"] = class_histogram(features, fake, len(run.classes) or model.n_classes)
        if model.conditional:
            result["label_accuracy"] = label_accuracy(features, fake, labels)
        return result

    def extra_metrics(self, run: Run, data: PreparedData) -> dict[str, Any]:
        if run.recipe.data.classifier is None:
            return {"quality": None, "quality_note": "no data.classifier: FID, KID and class coverage not measured"}
        return {"quality": self._quality(run, data, None, 0)}

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        model, figures = run.model, []
        shape = model.image_shape
        path = plot_gan_history(metrics.get("history", []), out / "gan_history.png")
        figures.append({"file": path.name, "title": "The two players", "caption": "Both losses, and how the "
                        "discriminator judges real and generated images. D winning outright (accuracy near 1 on "
                        "both) means the generator gets no useful gradient."})
        frames_path = out / "checkpoints" / PROGRESS
        if frames_path.is_file():
            frames = np.load(frames_path, allow_pickle=False).astype(np.float32) / 255
            path = save_image_grid(frames[-1], out / "samples.png", image_shape=shape,
                                   title=f"Fixed noise after epoch {len(frames)}")
            figures.append({"file": path.name, "title": "Samples", "caption": "The same noise every epoch"
                            + (" (labels 0, 1, 2 ... in turn)" if model.conditional else "") + "; the last epoch."})
            path = save_chain_gif(frames, out / "progress.gif", image_shape=shape, chains=GRID, duration_ms=300)
            figures.append({"file": path.name, "title": "Training, epoch by epoch",
                            "caption": "The fixed-noise grid after each epoch."})
        steps = self.interpolate(run, steps=10, seed=run.recipe.trainer.seed)
        rows = [row.reshape(len(row), -1) for row in steps]
        labels = [f"class {i}" for i in range(len(rows))] if model.conditional else [f"pair {i + 1}" for i in
                                                                                      range(len(rows))]
        path = plot_image_rows(rows, out / "interpolation.png", image_shape=shape, row_labels=labels,
                               title="From one noise vector to another in ten steps")
        figures.append({"file": path.name, "title": "Latent interpolation", "caption": "A straight line between two "
                        "noise vectors: smooth changes mean the generator learned a continuous space, not a lookup "
                        "of training images." + (" Each row keeps its label." if model.conditional else "")})
        samples = self.sample(run, 12, seed=run.recipe.trainer.seed + 2,
                              label=torch.arange(12) % model.n_classes if model.conditional else None)
        train = data.splits["train"][0].reshape(-1, *shape).float()
        nearest = nearest_images(samples, train)
        path = plot_image_rows([samples.reshape(12, -1).numpy(), nearest.reshape(12, -1).numpy()],
                               out / "nearest.png", image_shape=shape, row_labels=["sample", "nearest\ntraining"],
                               title="Samples above their nearest training images (pixel distance)")
        figures.append({"file": path.name, "title": "Memorisation check", "caption": "A generator that copies its "
                        "training images would show twins here."})
        quality = metrics.get("quality")
        if quality:
            path = plot_class_shares(quality["classes"]["share"], out / "classes.png", n=quality["classes"]["n"],
                                     labels=[str(c) for c in run.classes] or None)
            figures.append({"file": path.name, "title": "Classes of the samples", "caption": (
                f"FID {quality['samples']['fid']:.2f} against a floor of {quality['floor']['fid']:.2f} (real "
                f"against real, N = {quality['n']:,}); " + (quality["classes"]["warning"] or "no class under 5% or "
                                                             "over 20%") + ".")})
        return figures

    # --- inference --------------------------------------------------------------------------------------------

    def sample(self, run: Run, n: int = 64, *, seed: int = 0, label: Any = None) -> torch.Tensor:
        """``n`` images in [0, 1], ``(n, C, H, W)``; a conditional GAN draws class ``label`` (one, or ``n``)."""
        _check_n(n)
        model = run.model
        if model.conditional and label is None:
            raise NeuralabError(f"{run.path} is a conditional GAN: say which class to draw, e.g. --label 7 "
                                f"(0 to {model.n_classes - 1})")
        if not model.conditional and label is not None:
            raise NeuralabError(f"{run.path} is not a conditional GAN, so it takes no label")
        if label is not None and not isinstance(label, torch.Tensor):
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
                raise NeuralabError(f"label must be a class number from 0 to {model.n_classes - 1}; got {label!r}")
            if not 0 <= int(label) < model.n_classes:
                raise NeuralabError(f"label must be a class number from 0 to {model.n_classes - 1}; got {label}")
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(int(seed))
        return model.sample(n, generator, label).cpu()

    def interpolate(self, run: Run, steps: int = 10, *, seed: int = 0, rows: int | None = None) -> np.ndarray:
        """Images along straight lines between pairs of noise vectors, ``(rows, steps, C, H, W)``; a conditional
        GAN gives one row per class, the same pair of vectors in every row."""
        _check_n(steps, "steps")
        model = run.model
        rows = (model.n_classes if model.conditional else 6) if rows is None else _check_n(rows, "rows")
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(int(seed))
        pairs = model.noise(2 * (1 if model.conditional else rows), generator).reshape(-1, 2, model.latent_dim)
        t = torch.linspace(0, 1, steps, device=pairs.device)[None, :, None]
        lines = (1 - t) * pairs[:, :1] + t * pairs[:, 1:]  # (P, steps, latent)
        if model.conditional:
            lines = lines.expand(rows, -1, -1)
        labels = torch.arange(rows).repeat_interleave(steps) if model.conditional else None
        with torch.no_grad():
            images = model(lines.reshape(-1, model.latent_dim), labels)
        return images.reshape(rows, steps, *model.image_shape).cpu().numpy()

    def write_samples(self, run: Run, output: Path | None, **options: Any) -> str:
        """A grid of ``n`` samples to ``output`` (default ``RUN/samples-SEED[-label-L].png``)."""
        self.check_options("sample", self.sample_options, options)
        n = 64 if options.get("n") is None else options["n"]
        seed, label = options.get("seed") or 0, options.get("label")
        images = self.sample(run, n, seed=seed, label=label)
        suffix = f"-label-{label}" if label is not None else ""
        path = save_image_grid(images, Path(output or run.path / f"samples-{seed}{suffix}.png"),
                               title=f"{n} samples" + (f" of class {label}" if label is not None else ""))
        return f"wrote {n} samples to {path}"
