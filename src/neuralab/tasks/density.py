"""Density modelling: a probability model of the inputs, p(v), learned by a restricted Boltzmann machine or a deep
belief network, then sampled and scored.

An RBM has no loss it descends in the usual sense (contrastive divergence follows an approximate gradient), so a run
is judged by what its monitors say (the reconstruction error, the pseudo-log-likelihood, the free-energy gap
between training and validation data) and, at the end, by its log-likelihood, ``−F(v) − log Z``, with ``log Z``
estimated by annealed importance sampling and saved with the weights. ``predict`` gives each input's free energy
and log-likelihood (low: unlike the training data); ``sample`` runs Gibbs chains and writes a grid and a GIF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from neuralab.data.prepared import PreparedData
from neuralab.errors import DataError, NeuralabError
from neuralab.report.autoencoder import reconstruction_grid
from neuralab.report.boltzmann import plot_filters, plot_free_energy, plot_hidden_activity, save_chain_gif
from neuralab.report.images import infer_image_shape, save_image_grid
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.tasks._common import read_inputs
from neuralab.tasks._tables import TableData, prepare_table, table_inputs
from neuralab.tasks.base import Predictions, Task
from neuralab.train import evaluate

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["Density", "DensityData"]

SAMPLES, SAMPLE_STEPS, GIF_FRAMES = 64, 1000, 50


class DensityData(TableData):
    """Images or tables to model. ``binarize`` samples every pixel once as ``Bernoulli(value)`` with the run's seed
    (binarised MNIST as in Salakhutdinov & Murray 2008): the data become binary, as Bernoulli visible units model."""

    binarize: bool = False


def _visible(recipe: Recipe) -> str:
    return str(recipe.model.options.get("visible", "bernoulli"))


@dataclass(frozen=True)
class Density(Task):
    """A probability model of the inputs (RBMs, deep belief networks)."""

    name: str = "density"
    summary: str = "a probability model of the inputs (RBM, deep belief network), sampled and scored by likelihood"
    predict_options: tuple[str, ...] = ()
    sample_options: tuple[str, ...] = ("n", "seed", "steps", "start")
    verbs: tuple[str, ...] = ("sample", "free_energy", "log_likelihood", "transform")

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        return DensityData

    def loss_note(self, recipe: Recipe) -> str:
        return ("an RBM descends no loss of its own: reconstruction_error is the squared error of one up-down pass "
                "(a rough guide), pseudo_log_likelihood estimates log p(v) per example from one flipped unit, "
                "free_energy is F(v) (lower: more probable), and the AIS log-likelihood in metrics.json (likelihood) "
                "is the number to compare with the literature, in nats per example.")

    def prepare(self, recipe: Recipe) -> PreparedData:
        if _visible(recipe) == "bernoulli" and recipe.data.scaling not in {"pixels", "global_minmax", "minmax", "none"}:
            raise DataError(f"data.scaling: Bernoulli visible units model values in [0, 1]; use scaling: pixels or "
                            f"global_minmax, or model.visible: gaussian for standardised data; got "
                            f"{recipe.data.scaling!r}")
        data = prepare_table(recipe, "optional")
        if recipe.data.binarize:
            generator = torch.Generator().manual_seed(recipe.trainer.seed)
            data.splits = {name: (torch.bernoulli(split[0].clamp(0, 1), generator=generator), *split[1:])
                           for name, split in data.splits.items()}
        return data

    def make_inputs(self, recipe: Recipe) -> Any:
        return table_inputs(recipe)

    def init_model(self, model: torch.nn.Module, data: PreparedData) -> None:
        """Binary units start with the visible biases ``log(p / (1 − p))`` of the training data's means (Hinton's
        guide, section 8), which are also AIS's base-rate model."""
        if not hasattr(model, "visible") or type(model.visible).__name__ != "BernoulliUnits":
            return
        x = data.splits["train"][0].flatten(1).double()
        p = x.mean(0).clamp(1e-3, 1 - 1e-3)
        with torch.no_grad():
            model.visible.bias.copy_(torch.log(p / (1 - p)))
        first = model.layers[0] if hasattr(model, "layers") else model
        first.base_rates.copy_(first.visible.bias.detach())

    def monitor(self, recipe: Recipe, data: PreparedData) -> str:
        if recipe.trainer.monitor:
            return recipe.trainer.monitor
        if recipe.model.name == "rbm" and _visible(recipe) == "bernoulli" and "val" in data.splits:
            return "val_pseudo_log_likelihood"
        return "val_reconstruction_error" if "val" in data.splits else "train_reconstruction_error"

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        result = evaluate(run.model, split, batch_size=max(run.recipe.trainer.batch_size, 1024))
        if "log_z" in run.calibration:
            log_z = float(run.calibration["log_z"].reshape(-1)[0])
            result["log_likelihood"] = -result.get("free_energy", float(self._free_energy(run, split).mean())) - log_z
        return result

    def calibrate(self, run: Run, data: PreparedData) -> dict[str, torch.Tensor]:
        """An RBM's ``log Z`` by AIS (``[estimate, low, high]`` and ``[runs, betas]``), saved with the weights so
        that predict gives log-likelihoods."""
        model = run.model
        if not hasattr(model, "log_partition") or not model.ais_betas:
            return {}
        result = model.log_partition()
        return {"log_z": torch.tensor([result.log_z, result.log_z_low, result.log_z_high], dtype=torch.float64),
                "ais": torch.tensor([result.runs, result.betas], dtype=torch.float64)}

    def extra_metrics(self, run: Run, data: PreparedData) -> dict[str, Any]:
        """The log-likelihood of every split, with AIS's settings and ±3σ bounds on ``log Z``."""
        if "log_z" not in run.calibration:
            return {}
        log_z, low, high = run.calibration["log_z"].tolist()
        runs, betas = (int(v) for v in run.calibration["ais"].tolist())
        likelihood: dict[str, Any] = {
            "method": "annealed importance sampling (Salakhutdinov & Murray 2008), base-rate model of the training "
                      "data, the paper's beta schedule scaled to the number of betas",
            "runs": runs, "betas": betas, "log_z": log_z, "log_z_low": low, "log_z_high": high}
        for name, split in data.splits.items():
            mean_free_energy = float(self._free_energy(run, split).mean())
            # log p(v) = −F(v) − log Z: a larger log Z gives a lower likelihood, so the bounds swap.
            likelihood[name] = {"log_likelihood": -mean_free_energy - log_z,
                                "low": -mean_free_energy - high, "high": -mean_free_energy - low}
        return {"likelihood": likelihood}

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        """Filters, hidden activity, samples, reconstructions, the free-energy monitor and a Gibbs chain."""
        model, last = run.model, "test" if "test" in data.splits else "val" if "val" in data.splits else "train"
        x = data.splits[last][0]
        shape = _image_shape(model, x)
        first = model.layers[0] if hasattr(model, "layers") else model
        figures = []
        if shape is not None:
            path = plot_filters(first.weight.weight, out / "filters.png", image_shape=shape)
            figures.append({"file": path.name, "title": "Filters", "caption": "Each hidden unit's incoming weights "
                            "as an image, scaled on its own: bright pixels turn the unit on, dark ones off."})
        with torch.no_grad():
            probs = model(x[:2000].to(next(model.parameters()).device)).cpu().numpy()
        path = plot_hidden_activity(probs, out / "hidden_activity.png")
        figures.append({"file": path.name, "title": f"Hidden units ({last})", "caption": "How often the top hidden "
                        "units are on: dead units (always near 0) or saturated ones (near 1) learn nothing."})
        path = plot_free_energy(metrics.get("history", []), out / "free_energy.png",
                                val_prefix="layer_" if hasattr(model, "layers") else "")
        if path is not None:
            figures.append({"file": path.name, "title": "Free energy", "caption": "The mean free energy of the "
                            "training batches and of the validation data; a gap that keeps growing is over-fitting "
                            "(Hinton 2010, section 6)."})
        if shape is not None:
            figures += self._sample_figures(run, x, shape, out, metrics)
        return figures

    def _sample_figures(self, run: Run, x: torch.Tensor, shape: tuple[int, int, int], out: Path,
                        metrics: dict[str, Any]) -> list[dict[str, str]]:
        model = run.model
        device = next(model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(0)
        samples = model.sample(SAMPLES, generator, steps=SAMPLE_STEPS)
        save_image_grid(samples.reshape(len(samples), *shape), out / "samples.png",
                        title=f"{SAMPLES} samples after {SAMPLE_STEPS} Gibbs steps from noise")
        figures = [{"file": "samples.png", "title": "Samples", "caption": f"Gibbs chains run for {SAMPLE_STEPS} "
                    "steps from uniform noise; each image is the visible units' mean at the end. "
                    + _likelihood_caption(metrics)}]
        path = reconstruction_grid(model, x[:8].to(device), out / "reconstructions.png")
        figures.append({"file": path.name, "title": "Reconstructions", "caption": "Inputs and their mean-field "
                        "reconstruction by one pass up to the hidden units and back."})
        path = save_chain_gif(_chain(model, 16, SAMPLE_STEPS, GIF_FRAMES, generator), out / "chain.gif",
                              image_shape=shape)
        figures.append({"file": path.name, "title": "A Gibbs chain", "caption": f"16 chains from noise, one frame "
                        f"every {SAMPLE_STEPS // GIF_FRAMES} steps."})
        return figures

    # --- inference --------------------------------------------------------------------------------------------

    def _free_energy(self, run: Run, split: Any) -> torch.Tensor:
        x = split[0] if isinstance(split, tuple) else split
        device = next(run.model.parameters()).device
        with torch.no_grad():
            return torch.cat([run.model.free_energy(x[i:i + 1024].to(device)).double().cpu()
                              for i in range(0, len(x), 1024)])

    def predict_prepared(self, run: Run, split: Any) -> np.ndarray:
        """The free energy of each prepared input (lower: more probable under the model)."""
        return self._free_energy(run, split).numpy()

    def free_energy(self, run: Run, raw: Any) -> np.ndarray:
        """``F(v)`` of raw inputs: ``−log p(v) − log Z``, lower for inputs the model finds more probable."""
        return self._free_energy(run, self.preprocess(run, raw)).numpy()

    def log_likelihood(self, run: Run, raw: Any) -> np.ndarray:
        """``log p(v) = −F(v) − log Z`` of raw inputs in nats, with the AIS estimate of ``log Z`` saved in the run."""
        if "log_z" not in run.calibration:
            raise NeuralabError("this run has no estimate of log Z (a DBN, or ais_betas: 0), so no log-likelihood")
        return -self.free_energy(run, raw) - float(run.calibration["log_z"].reshape(-1)[0])

    def transform(self, run: Run, raw: Any) -> np.ndarray:
        """The (top) hidden units' probabilities for raw inputs: the features the model learned."""
        x = self.preprocess(run, raw)[0]
        with torch.no_grad():
            return run.model(x.to(next(run.model.parameters()).device)).cpu().numpy()

    @torch.no_grad()
    def sample(self, run: Run, n: int = 64, *, seed: int = 0, steps: int = SAMPLE_STEPS,
               start: Literal["noise", "data"] | np.ndarray = "noise") -> np.ndarray:
        """``n`` samples after ``steps`` Gibbs steps, from uniform noise, from the start of the run's own test data
        (``"data"``), or from given raw inputs; as the visible units' means."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise NeuralabError(f"n must be a positive number of samples; got {n!r}")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
            raise NeuralabError(f"steps must be an int >= 0; got {steps!r}")
        device = next(run.model.parameters()).device
        begin = None
        if isinstance(start, str):
            if start not in ("noise", "data"):
                raise NeuralabError(f"start must be noise, data or inputs; got {start!r}")
            if start == "data":
                data = self.prepare(run.recipe)
                part = data.splits.get("test", data.splits["train"])[0]
                begin = part[:n].to(device)
        else:
            begin = self.preprocess(run, start)[0][:n].to(device)
        count = n if begin is None else len(begin)
        generator = torch.Generator(device=device).manual_seed(seed)
        return run.model.sample(count, generator, steps=steps, start=begin).cpu().numpy()

    def write_samples(self, run: Run, output: Path | None, **options: Any) -> str:
        """A grid of samples (``RUN/samples-SEED.png`` by default) and a GIF of their chains beside it."""
        self.check_options("sample", self.sample_options, options)
        n = 64 if options.get("n") is None else options["n"]
        seed = options.get("seed") or 0
        steps = SAMPLE_STEPS if options.get("steps") is None else options["steps"]
        start = options.get("start") or "noise"
        samples = self.sample(run, n, seed=seed, steps=steps, start=start)
        shape = _image_shape(run.model, torch.as_tensor(samples))
        path = Path(output or run.path / f"samples-{seed}.png")
        if shape is None:
            np.savetxt(path.with_suffix(".csv"), samples, delimiter=",", fmt="%.5f")
            return f"wrote {len(samples)} samples to {path.with_suffix('.csv')}"
        save_image_grid(samples.reshape(len(samples), *shape), path,
                        title=f"{len(samples)} samples, {steps} Gibbs steps from {start} (seed {seed})")
        device = next(run.model.parameters()).device
        frames = _chain(run.model, min(16, n), steps, GIF_FRAMES, torch.Generator(device=device).manual_seed(seed))
        gif = save_chain_gif(frames, path.with_suffix(".gif"), image_shape=shape)
        return f"wrote {len(samples)} samples to {path} and their chains to {gif}"

    def predict(self, run: Run, inputs: Sequence[Any], **options: Any) -> Predictions:
        """Each input's free energy and, when the run has ``log Z``, its log-likelihood in nats."""
        self.check_options("predict", self.predict_options, options)
        batch = read_inputs(run, inputs)
        energy = self.free_energy(run, batch.x)
        log_z = float(run.calibration["log_z"].reshape(-1)[0]) if "log_z" in run.calibration else None
        found = dict(zip(batch.names, energy.tolist()))
        rows = [{"input": name, "free_energy": found.get(name), "log_likelihood": None if name not in found or
                 log_z is None else -found[name] - log_z, "error": batch.errors.get(name)} for name in batch.order]
        table = [("input", lambda r: r["input"]), ("free energy", lambda r: f"{r['free_energy']:.2f}"),
                 ("log-likelihood (nats)", lambda r: "-" if r["log_likelihood"] is None
                  else f"{r['log_likelihood']:.2f}")]
        return Predictions(["input", "free_energy", "log_likelihood", "error"], rows, table,
                           failed_note=batch.failed_note)


def _image_shape(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int, int] | None:
    """The inputs' ``(C, H, W)`` from the model's image layout or a square guess; None for tables."""
    size = getattr(model, "image_size", None)
    if size is not None:
        return (getattr(model, "in_channels", 1), *size)
    try:
        return infer_image_shape(x.reshape(len(x), -1))
    except NeuralabError:
        return None


@torch.no_grad()
def _chain(model: torch.nn.Module, n: int, steps: int, frames: int, generator: torch.Generator) -> torch.Tensor:
    """``frames`` snapshots of ``n`` Gibbs chains from noise over ``steps`` steps: ``(frames, n, D)`` means."""
    every = max(1, steps // frames)
    shots, current = [], None
    for _ in range(frames):
        current = model.sample(n, generator, steps=every, start=current)
        shots.append(current.cpu())
    return torch.stack(shots)


def _likelihood_caption(metrics: dict[str, Any]) -> str:
    likelihood = metrics.get("likelihood") or {}
    split = "test" if "test" in likelihood else "val" if "val" in likelihood else None
    if split is None:
        return ""
    numbers = likelihood[split]
    return (f"Mean {split} log-likelihood {numbers['log_likelihood']:.2f} nats (log Z by AIS with {likelihood['runs']} "
            f"runs and {likelihood['betas']} betas; ±3σ: [{numbers['low']:.2f}, {numbers['high']:.2f}]).")

