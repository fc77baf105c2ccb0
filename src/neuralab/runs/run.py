"""A trained run read back from its directory, to evaluate and predict."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors import safe_open

from neuralab.data import make_scaler
from neuralab.data.features import is_file
from neuralab.data.prepared import TabularInputs
from neuralab.errors import DataError, NeuralabError
from neuralab.recipes import Recipe, validate_recipe
from neuralab.runs.prepare import OWN_LOSS_TASKS, REGRESSION_TASKS, build_model, make_inputs, prepare_data
from neuralab.train import evaluate
from neuralab.train.seeding import resolve_device

__all__ = ["Run"]


class Run:
    """A trained run loaded from its directory: the recipe, the model(s), the input pipeline and the scalers.

    Examples
    --------
    >>> run = Run.load("runs/digits-mlp-20261123-120000")  # doctest: +SKIP
    >>> run.predict(x[:5])                                  # doctest: +SKIP
    array([0, 1, 2, 3, 4])
    """

    def __init__(self, path: Path, recipe: Recipe, models: list[torch.nn.Module], inputs: Any, y_scaler: Any | None,
                 task: str, classes: list[Any], calibration: dict[str, torch.Tensor] | None = None) -> None:
        self.path, self.recipe, self.models, self.inputs = path, recipe, models, inputs
        self.y_scaler, self.task, self.classes = y_scaler, task, classes
        self.calibration = calibration or {}

    @property
    def model(self) -> torch.nn.Module:
        """The first (or only) model."""
        return self.models[0]

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Run:
        """Read a run directory. Raises a NeuralabError naming what is missing."""
        path = Path(path)
        for needed in ("config.yaml", "model.safetensors"):
            if not is_file(path / needed):
                raise NeuralabError(f"{path} is not a finished run: {needed} is missing")
        recipe = validate_recipe(yaml.safe_load((path / "config.yaml").read_text()))
        groups: dict[str, dict[str, torch.Tensor]] = {"inputs": {}, "y_scaler": {}, "calibration": {}}
        members: dict[int, dict[str, torch.Tensor]] = {}
        with safe_open(path / "model.safetensors", framework="pt") as f:
            meta = f.metadata() or {}
            for key in f.keys():
                group, _, name = key.partition(".")
                if group == "model":
                    i, _, name = name.partition(".")
                    if not i.isdigit():
                        raise NeuralabError(f"{path / 'model.safetensors'} is in a format this neuralab does not "
                                            "read (no ensemble member index); train the run again")
                    members.setdefault(int(i), {})[name] = f.get_tensor(key)
                else:
                    groups.setdefault(group, {})[name] = f.get_tensor(key)
        models = []
        for i in sorted(members):
            model = build_model(recipe)
            model.load_state_dict(members[i])
            models.append(model.to(resolve_device(device)).eval())
        inputs = make_inputs(recipe)
        inputs.load_state_dict(groups["inputs"])
        y_scaler = None
        if groups["y_scaler"]:
            y_scaler = make_scaler("standard")
            y_scaler.load_state_dict(groups["y_scaler"])
        return cls(path, recipe, models, inputs, y_scaler, meta.get("task", recipe.task or "classification"),
                   json.loads(meta.get("classes", "[]")), groups["calibration"])

    def outputs(self, split: Any) -> torch.Tensor:
        """Raw model outputs for prepared inputs: members stacked on dim 0, shape (M, N, out)."""
        from neuralab.train import predict

        batch = max(self.recipe.trainer.batch_size, 1024)
        return torch.stack([predict(m, split if not isinstance(split, tuple) else split[0], batch_size=batch)
                            for m in self.models])

    def predict_prepared(self, split: Any) -> np.ndarray:
        """Predictions for prepared inputs, in the data's units (ensemble mean)."""
        out = self.outputs(split).float()
        if self.task == "classification":
            idx = out.softmax(-1).mean(0).argmax(1).numpy()
            return np.asarray(self.classes)[idx] if self.classes else idx
        values = out.mean(0)
        if self.y_scaler is not None:
            values = self.y_scaler.inverse_transform(values)
        values = values.numpy().reshape(len(values), -1)
        return values[:, 0] if values.shape[1] == 1 else values  # (N,), or (N, horizon) for a multi-step forecast

    def member_predictions(self, split: Any) -> np.ndarray:
        """Each member's regression predictions in the data's units, shape (M, N), or (M, N·horizon) flattened for a
        multi-step forecast."""
        out = self.outputs(split).float()
        if self.y_scaler is not None:
            out = torch.stack([self.y_scaler.inverse_transform(o) for o in out])
        return out.reshape(len(self.models), -1).numpy()

    def score_split(self, split: Any, targets: np.ndarray) -> dict[str, float]:
        """The recipe's metrics (and, for one model, its loss) on prepared inputs against raw targets."""
        from neuralab.train.metrics import compute_metrics

        if self.task in OWN_LOSS_TASKS:  # the model's own objective and its terms (a VAE's ELBO, KL...)
            batch_size = max(self.recipe.trainer.batch_size, 1024)
            result = evaluate(self.model, split, loss=self.model.loss, batch_size=batch_size)
            if self.task == "language_model":  # the loss is in nats per character; bits are log2 of the same
                result["bits_per_char"] = result["loss"] / math.log(2)
            return result
        out = self.outputs(split).float()
        if self.task == "classification":
            combined = out.softmax(-1).mean(0).clamp_min(1e-12).log()
            y = torch.as_tensor(np.searchsorted(self.classes, targets) if self.classes else targets)
        else:
            combined = out.mean(0)
            combined = self.y_scaler.inverse_transform(combined) if self.y_scaler is not None else combined
            y = torch.as_tensor(np.asarray(targets, dtype=np.float32)).reshape(combined.shape)
        result = compute_metrics(self.recipe.metrics, combined, y) if self.recipe.metrics else {}
        if len(self.models) == 1 and self.recipe.loss.name is not None:
            result = {"loss": evaluate(self.model, split, loss=self.recipe.loss,
                                       batch_size=max(self.recipe.trainer.batch_size, 1024))["loss"], **result}
        return result

    def _check_width(self, x: torch.Tensor) -> None:
        expected = self.recipe.model.options.get("in_features")
        if expected is not None and x[0].numel() != expected:
            raise DataError(f"the model expects {expected} features per row; got input of shape {tuple(x.shape)}")

    def _prepare(self, raw: Any) -> Any:
        if isinstance(self.inputs, TabularInputs):
            x = torch.as_tensor(np.asarray(raw, dtype=np.float32))
            x = x.unsqueeze(0) if x.ndim == 1 else x
            self._check_width(x)
            raw = x
        return self.inputs.transform(raw)

    def predict(self, raw: Any) -> np.ndarray:
        """Class labels (classification) or values in the target's units (regression) for raw inputs."""
        return self.predict_prepared(self._prepare(raw))

    def predict_proba(self, raw: Any) -> np.ndarray:
        """Softmax class probabilities (ensemble mean), one column per class in ``self.classes`` order."""
        if self.task != "classification":
            raise NeuralabError("predict_proba is for classification runs; this run is a regression")
        return self.outputs(self._prepare(raw)).float().softmax(-1).mean(0).numpy()

    def _autoencoder(self, method: str) -> Any:
        if self.task != "reconstruction" or not hasattr(self.model, method):
            raise NeuralabError(f"{method} needs an autoencoder run; this run is a {self.task} "
                                f"({type(self.model).__name__})")
        return getattr(self.model, method)

    @torch.no_grad()
    def _batched(self, method: str, raw: Any) -> np.ndarray:
        fn, x = self._autoencoder(method), self._prepare(raw)[0]
        device = next(self.model.parameters()).device
        chunks = [fn(x[i:i + 1024].to(device)).float().cpu() for i in range(0, len(x), 1024)]
        return torch.cat(chunks).numpy()

    def transform(self, raw: Any) -> np.ndarray:
        """An autoencoder's codes for raw inputs (a VAE's posterior means), shape (N, latent_dim)."""
        return self._batched("encode", raw)

    def reconstruct(self, raw: Any) -> np.ndarray:
        """An autoencoder's reconstructions of raw inputs, in the prepared inputs' shape and scale ([0, 1] pixels)."""
        return self._batched("reconstruct", raw)

    def anomaly_score(self, raw: Any) -> np.ndarray:
        """Per-input reconstruction error (a VAE's negative ELBO), in nats: high means unlike the training data."""
        return self._batched("anomaly_score", raw)

    @torch.no_grad()
    def sample(self, n: int = 64, *, seed: int = 0) -> np.ndarray:
        """``n`` new inputs drawn from a VAE's prior and decoded, as [0, 1] images."""
        if not isinstance(n, int) or n < 1:
            raise NeuralabError(f"n must be a positive int; got {n!r}")
        sample = self._autoencoder("sample")
        return sample(n, generator=torch.Generator().manual_seed(seed)).float().cpu().numpy()

    def predict_interval(self, raw: Any, *, method: str = "conformal", level: float = 0.9
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Regression predictions with an interval: ``(prediction, low, high)``.

        ``method`` is ``normal`` (ŷ ± z·√MSE_val, the course's method), ``conformal`` (split-conformal on the
        validation residuals) or ``ensemble`` (mean ± z·std of the members).
        """
        return self._interval(self._prepare(raw), method, level)

    def _interval(self, split: Any, method: str, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from neuralab.train import intervals

        if self.task not in REGRESSION_TASKS:
            raise NeuralabError("prediction intervals are for regression and forecasting runs")
        residuals = self.calibration.get("residuals")
        if method in {"normal", "conformal"} and residuals is None:
            raise NeuralabError(f"the {method} interval needs validation residuals; this run had no validation set")
        if method == "ensemble":
            if len(self.models) < 2:
                raise NeuralabError("the ensemble interval needs an ensemble; train with --set ensemble=5")
            return intervals.ensemble_interval(self.member_predictions(split), level)
        pred = self.predict_prepared(split)
        if method == "normal":
            low, high = intervals.normal_interval(pred, float(residuals.double().pow(2).mean()), level)
        elif method == "conformal":
            low, high = intervals.conformal_interval(pred, residuals.numpy(), level)
        else:
            raise NeuralabError(f"interval method must be normal, conformal or ensemble; got {method!r}")
        return pred, low, high

    def interval_coverage(self, split: Any, targets: np.ndarray, levels: Sequence[float] = (0.9, 0.95)
                          ) -> dict[str, dict[str, float]]:
        """Empirical coverage and mean width of each interval method at each nominal level."""
        from neuralab.train.intervals import coverage

        methods = ["normal", "conformal"] + (["ensemble"] if len(self.models) > 1 else [])
        result: dict[str, dict[str, float]] = {}
        for method in methods:
            for level in levels:
                _, low, high = (np.ravel(a) for a in self._interval(split, method, level))  # every horizon step
                result[f"{method}@{level:g}"] = {"coverage": coverage(np.ravel(targets), low, high),
                                                  "mean_width": float(np.mean(high - low))}
        return result

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Recompute the metrics on one split of the recipe's data (the same split as in training)."""
        data = prepare_data(self.recipe)
        if split not in data.splits:
            raise NeuralabError(f"split {split!r} is empty or unknown; available: {', '.join(data.splits)}")
        # The split and the refitted pipeline are those of training: both are deterministic given the seed.
        return self.score_split(data.splits[split], data.targets[split])

    def metrics(self) -> dict[str, Any]:
        """The contents of ``metrics.json``."""
        return json.loads((self.path / "metrics.json").read_text())

    # --- Sequence tasks: forecasting, language models, word embeddings (the work is in neuralab.runs.sequences) ---

    def forecast(self, history: np.ndarray | None = None, *, level: float = 0.9
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The next ``horizon`` values of a forecasting run, with a split-conformal interval.

        Parameters
        ----------
        history
            Raw past values ``(T, F)`` (``(T,)`` for one column), in the columns and order of training, with
            ``T >= data.window``; by default the end of the run's own series (saved with the weights).
        level
            Nominal coverage of the interval.

        Returns
        -------
        (np.ndarray, np.ndarray, np.ndarray)
            The forecast, its lower and its upper bound, each ``(horizon,)``, in the target's units.
        """
        from neuralab.runs.forecasting import forecast_next

        self._require_task("forecasting", "forecast")
        return forecast_next(self, history, level)

    def generate(self, prompt: str, length: int = 500, temperature: float = 1.0, seed: int = 0) -> str:
        """The prompt followed by ``length`` characters sampled from a language-model run.

        A ``temperature`` below 1 gives safer text, above 1 wilder text; the same ``seed`` gives the same text.
        A prompt character outside the run's vocabulary is a DataError that lists them.
        """
        from neuralab.runs.text import generate_text

        self._require_task("language_model", "generate")
        return generate_text(self, prompt, length, temperature, seed)

    def similar(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words nearest to ``word`` by cosine similarity, as ``(word, similarity)``, nearest first.

        An unknown word is a DataError suggesting the closest word in the vocabulary.
        """
        from neuralab.runs.text import similar_words

        self._require_task("embedding", "similar")
        return similar_words(self, word, k)

    def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
        """Answers to "``a`` is to ``b`` as ``c`` is to ?": the words nearest to ``b − a + c``, best first."""
        from neuralab.runs.text import analogy_words

        self._require_task("embedding", "analogy")
        return analogy_words(self, a, b, c, k)

    def _require_task(self, task: str, method: str) -> None:
        if self.task != task:
            raise NeuralabError(f"{method} is for {task} runs; {self.path} is a run of task {self.task} "
                                f"({type(self.model).__name__})")

    # --- end of sequence tasks ---
