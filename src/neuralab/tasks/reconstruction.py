"""Reconstruction and generation: autoencoders (deep, sparse, denoising, contractive) and VAEs.

The model's own ``loss(batch)`` scores it (reconstruction error, a VAE's negative ELBO, and their terms). A trained
run encodes inputs into codes, reconstructs them, scores how unlike the training data each one is (its
reconstruction error, a VAE's negative ELBO, in nats) and, for a VAE, samples new inputs from the prior. ``predict``
gives each input's anomaly score and code; labels, when the data has them, only colour the report's latent space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from neuralab.data.prepared import PreparedData
from neuralab.errors import NeuralabError
from neuralab.report.autoencoder import autoencoder_figures
from neuralab.report.images import samples_grid
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.tasks._common import own_loss, read_inputs
from neuralab.tasks._tables import TableData, augmentation, prepare_table, table_inputs
from neuralab.tasks.base import Predictions, Task

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["Reconstruction"]


@dataclass(frozen=True)
class Reconstruction(Task):
    """Inputs encoded and reconstructed (autoencoders), or modelled and sampled (VAEs)."""

    name: str = "reconstruction"
    summary: str = "inputs encoded and reconstructed (autoencoders) and new ones sampled (VAEs)"
    cross_validation: bool = True
    sample_options: tuple[str, ...] = ("n", "seed")
    verbs: tuple[str, ...] = ("transform", "reconstruct", "anomaly_score", "sample")

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        return TableData

    def loss_note(self, recipe: Recipe) -> str:
        return ("loss is the model's own objective, per input: the reconstruction error (with its penalties), or for "
                "a VAE the negative ELBO in nats, an upper bound on -log p(x).")

    def prepare(self, recipe: Recipe) -> PreparedData:
        return prepare_table(recipe, "optional")

    def make_inputs(self, recipe: Recipe) -> Any:
        return table_inputs(recipe)

    def train_transform(self, recipe: Recipe, data: PreparedData) -> Any:
        return augmentation(recipe, data)

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        return own_loss(run, split)

    def preprocess(self, run: Run, raw: Any) -> Any:
        return run.inputs.transform(np.asarray(raw) if not isinstance(raw, torch.Tensor) else raw)

    def predict_prepared(self, run: Run, split: Any) -> np.ndarray:
        """The codes of prepared inputs (a VAE's posterior means)."""
        return self._batched(run, "encode", split)

    @torch.no_grad()
    def _batched(self, run: Run, method: str, split: Any) -> np.ndarray:
        fn = getattr(run.model, method, None)
        if fn is None:
            raise NeuralabError(f"{type(run.model).__name__} has no {method}")
        x = split[0] if isinstance(split, tuple) else split
        device = next(run.model.parameters()).device
        chunks = [fn(x[i:i + 1024].to(device)).float().cpu() for i in range(0, len(x), 1024)]
        return torch.cat(chunks).numpy()

    def transform(self, run: Run, raw: Any) -> np.ndarray:
        """The codes of raw inputs (a VAE's posterior means), shape (N, latent_dim)."""
        return self._batched(run, "encode", self.preprocess(run, raw))

    def reconstruct(self, run: Run, raw: Any) -> np.ndarray:
        """Reconstructions of raw inputs, in the prepared inputs' shape and scale ([0, 1] pixels)."""
        return self._batched(run, "reconstruct", self.preprocess(run, raw))

    def anomaly_score(self, run: Run, raw: Any) -> np.ndarray:
        """Per-input reconstruction error (a VAE's negative ELBO), in nats: high means unlike the training data."""
        return self._batched(run, "anomaly_score", self.preprocess(run, raw))

    @torch.no_grad()
    def sample(self, run: Run, n: int = 64, *, seed: int = 0) -> np.ndarray:
        """``n`` new inputs drawn from a VAE's prior and decoded, as [0, 1] images."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise NeuralabError(f"n must be a positive number of samples; got {n!r}")
        if not hasattr(run.model, "sample"):
            raise NeuralabError(f"{run.path} holds a {type(run.model).__name__}, which cannot sample; train a VAE, "
                                "e.g. `neuralab train mnist-vae`")
        return run.model.sample(n, generator=torch.Generator().manual_seed(seed)).float().cpu().numpy()

    def write_samples(self, run: Run, output: Path | None, **options: Any) -> str:
        """A grid of ``n`` samples from a VAE's prior, to ``output`` (default ``RUN/samples-SEED.png``)."""
        self.check_options("sample", self.sample_options, options)
        n = 64 if options.get("n") is None else options["n"]
        seed = options.get("seed") or 0
        self.sample(run, 1, seed=seed)  # checks n's type and that the model samples, before drawing a grid
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise NeuralabError(f"-n must be a positive number of samples; got {n}")
        path = samples_grid(run.model, Path(output or run.path / f"samples-{seed}.png"), n=n, seed=seed)
        return f"wrote {n} samples to {path}"

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        """Reconstructions, the latent space and, for a VAE, samples, interpolation and the ELBO's terms."""
        last = "test" if "test" in data.splits else "val" if "val" in data.splits else "train"
        return autoencoder_figures(run.model, data.splits[last][0], data.targets[last], metrics.get("history", []),
                                   out, split=last)

    def predict(self, run: Run, inputs: Sequence[Any], **options: Any) -> Predictions:
        """Each input's anomaly score and code: image files (image runs) or feature rows (``.csv``/``.npy``)."""
        self.check_options("predict", self.predict_options, options)
        if not inputs:
            raise NeuralabError("give one or more input files (.csv or .npy feature rows, or images)")
        batch = read_inputs(run, inputs)
        x, names, order, errors = batch.x, batch.names, batch.order, batch.errors
        scores, codes = self.anomaly_score(run, x), self.transform(run, x)
        found = {name: (float(s), code) for name, s, code in zip(names, scores, codes)}
        width = codes.shape[1]
        rows = []
        for name in order:
            row: dict[str, Any] = {"input": name, "anomaly_score": None, **{f"z{j}": None for j in range(width)},
                                   "error": errors.get(name)}
            if name in found:
                row["anomaly_score"] = found[name][0]
                row.update({f"z{j}": float(v) for j, v in enumerate(found[name][1])})
            rows.append(row)

        def code(row: dict[str, Any]) -> str:
            shown = [row[f"z{j}"] for j in range(min(width, 6))]
            return " ".join(f"{v:+.2f}" for v in shown) + (" ..." if width > 6 else "")

        table = [("input", lambda r: r["input"]), ("anomaly score (nats)", lambda r: f"{r['anomaly_score']:.2f}"),
                 ("code", code)]
        return Predictions(["input", "anomaly_score", *(f"z{j}" for j in range(width)), "error"], rows, table,
                           failed_note=batch.failed_note)
