"""Regression: a value for each input, in the target's units, with a prediction interval.

The inputs are feature rows or images (``digits``...), or molecules (``esol``, ``solubility``, or the user's CSV
of SMILES: see :mod:`neuralab.tasks._molecules`). The target is standardised on the training part and predictions
are put back in its units. Three intervals are offered (:mod:`neuralab.train.intervals`): split-conformal on the
validation residuals (the default, with a coverage guarantee), the course's ŷ ± z·√MSE_val, and an ensemble's
spread; their coverage on the test part is measured at the end of training.

The functions of this module (values, intervals, coverage) serve the forecasting task too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from neuralab.data.prepared import PreparedData
from neuralab.errors import NeuralabError
from neuralab.report.regression import plot_coverage, plot_parity, plot_residuals
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.runs.run import Run
from neuralab.runs.store import read_config
from neuralab.tasks import _molecules
from neuralab.tasks._common import score_outputs
from neuralab.tasks._molecules import MOLECULAR, SIMILARITY_WARNING, MoleculeData, MoleculePrediction
from neuralab.tasks._tables import TableData, check_width, flag_non_finite, prepare_table, read_rows, table_inputs
from neuralab.tasks.base import Predictions, Task
from neuralab.train import intervals

__all__ = ["Regression", "RegressionTableData", "SolubilityModel", "MoleculePrediction", "SIMILARITY_WARNING",
           "values", "member_values", "interval", "interval_coverage", "coverage_metrics", "validation_residuals"]

METHODS = ("normal", "conformal", "ensemble")


class RegressionTableData(TableData):
    """Feature rows with a real-valued target; ``target_scaling`` standardises it on the training part."""

    target_scaling: Literal["standard", "none"] = "standard"


def values(run: Run, split: Any) -> np.ndarray:
    """The ensemble-mean prediction in the target's units: ``(N,)``, or ``(N, horizon)`` for a multi-step forecast."""
    out = run.outputs(split).float().mean(0)
    if run.y_scaler is not None:
        out = run.y_scaler.inverse_transform(out)
    out = out.numpy().reshape(len(out), -1)
    return out[:, 0] if out.shape[1] == 1 else out


def member_values(run: Run, split: Any) -> np.ndarray:
    """Each member's predictions in the target's units, ``(M, N)`` (``(M, N·horizon)`` for a multi-step forecast)."""
    out = run.outputs(split).float()
    if run.y_scaler is not None:
        out = torch.stack([run.y_scaler.inverse_transform(o) for o in out])
    return out.reshape(len(run.models), -1).numpy()


def interval(run: Run, split: Any, method: str = "conformal", level: float = 0.9
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(prediction, low, high)`` for prepared inputs, by ``method`` (normal, conformal or ensemble)."""
    if method not in METHODS:
        raise NeuralabError(f"interval method must be normal, conformal or ensemble; got {method!r}")
    residuals = run.calibration.get("residuals")
    if method in {"normal", "conformal"} and residuals is None:
        raise NeuralabError(f"the {method} interval needs validation residuals; this run had no validation set")
    if method == "ensemble":
        if len(run.models) < 2:
            raise NeuralabError("the ensemble interval needs an ensemble; train with --set ensemble=5")
        return intervals.ensemble_interval(member_values(run, split), level)
    pred = values(run, split)
    r = residuals.double().numpy()
    if r.ndim == 2 and np.ndim(pred) == 2 and r.shape[1] == pred.shape[1]:  # a multi-step forecast: each step its own
        if method == "normal":  # residuals, so the interval widens as the horizon grows
            half = intervals.z_value(level) * np.sqrt((r ** 2).mean(axis=0))
        else:
            half = np.array([intervals.conformal_quantile(r[:, h], level) for h in range(r.shape[1])])
        return pred, pred - half, pred + half
    if method == "normal":
        low, high = intervals.normal_interval(pred, float((r ** 2).mean()), level)
    else:
        low, high = intervals.conformal_interval(pred, r, level)
    return pred, low, high


def interval_coverage(run: Run, split: Any, targets: np.ndarray, levels: Sequence[float] = (0.9, 0.95)
                      ) -> dict[str, dict[str, float]]:
    """Empirical coverage and mean width of each interval method at each nominal level."""
    methods = ["normal", "conformal"] + (["ensemble"] if len(run.models) > 1 else [])
    result: dict[str, dict[str, float]] = {}
    for method in methods:
        for level in levels:
            _, low, high = (np.ravel(a) for a in interval(run, split, method, level))  # every horizon step
            result[f"{method}@{level:g}"] = {"coverage": intervals.coverage(np.ravel(targets), low, high),
                                              "mean_width": float(np.mean(high - low))}
    return result


def coverage_metrics(run: Run, data: PreparedData) -> dict[str, Any]:
    """``{"intervals": ...}``: each interval's coverage of the test targets, when the run has residuals and a test
    part; else nothing."""
    if not run.calibration or "test" not in data.splits:
        return {}
    return {"intervals": interval_coverage(run, data.splits["test"], data.targets["test"])}


def validation_residuals(run: Run, data: PreparedData) -> dict[str, torch.Tensor]:
    """The validation residuals (target − prediction) that the normal and conformal intervals are built from:
    ``(N,)``, or ``(N, horizon)`` for a multi-step forecast, whose every step gets its own interval."""
    if "val" not in data.splits:
        return {}
    target = np.asarray(data.targets["val"], dtype=np.float64)
    pred = np.asarray(values(run, data.splits["val"]), dtype=np.float64).reshape(target.shape)
    residuals = target - pred
    if residuals.ndim == 2 and residuals.shape[1] == 1:
        residuals = residuals[:, 0]
    return {"residuals": torch.as_tensor(residuals)}


def score_values(run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
    """The recipe's metrics of the ensemble mean in the target's units, and a single model's loss."""
    combined = run.outputs(split).float().mean(0)
    combined = run.y_scaler.inverse_transform(combined) if run.y_scaler is not None else combined
    y = torch.as_tensor(np.asarray(targets, dtype=np.float32)).reshape(combined.shape)
    return score_outputs(run, split, combined, y)


def standardised_loss_note(recipe: Recipe) -> str:
    """What the loss of a regression or a forecast means: on the standardised target, unlike its other metrics."""
    if getattr(recipe.data, "target_scaling", "none") == "standard":
        return (f"loss is the {recipe.loss.name} on the standardised target (the target minus its training mean, "
                "divided by its training std: 1 is no better than predicting the mean); rmse and mae are in the "
                "target's own units.")
    return f"loss is the {recipe.loss.name} in the target's own units, as are rmse and mae."


def regression_figures(run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
    """Parity, residual and coverage plots."""
    predicted = {name: values(run, split) for name, split in data.splits.items()}
    figures = [{"file": plot_parity(data.targets, predicted, out / "parity.png").name, "title": "Predicted vs measured",
                "caption": "Each point is a sample, coloured by split; the dashed line is a perfect prediction."}]
    last = "test" if "test" in predicted else "val" if "val" in predicted else "train"
    figures.append({"file": plot_residuals(data.targets[last], predicted[last], out / "residuals.png", last).name,
                    "title": f"Residuals ({last})", "caption": "Errors against the measured value: a trend means "
                    "the model is biased at the extremes."})
    if metrics.get("intervals"):
        figures.append({"file": plot_coverage(metrics["intervals"], out / "coverage.png").name,
                        "title": "Interval coverage (test)",
                        "caption": "Share of test targets inside each interval; dashed lines are the nominal levels. "
                                   "normal: the course's ŷ ± z·√MSE_val; conformal: split-conformal on the "
                                   "validation residuals; ensemble: mean ± z·std of the members."})
    return figures


@dataclass(frozen=True)
class Regression(Task):
    """A real value for each input, with an interval (solubility from structure, ...)."""

    name: str = "regression"
    summary: str = "a value for each input with a prediction interval (molecular solubility, tables)"
    default_loss: str | None = "mse"
    metrics: tuple[str, ...] = ("rmse", "mae", "r2")
    cross_validation: bool = True
    predict_options: tuple[str, ...] = ("level", "method", "smiles_column", "input_file")
    verbs: tuple[str, ...] = ("predict_interval", "interval_coverage", "member_predictions")

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        name = data.get("name")
        return MoleculeData if isinstance(name, str) and name in MOLECULAR else RegressionTableData

    def own_data(self, path: str) -> dict[str, Any]:
        return {"name": "csv", "path": path, "split": "random"}

    def loss_note(self, recipe: Recipe) -> str:
        return standardised_loss_note(recipe)

    @staticmethod
    def molecular(recipe: Recipe) -> bool:
        """Whether the recipe's inputs are molecules."""
        return recipe.data.name in MOLECULAR

    def prepare(self, recipe: Recipe) -> PreparedData:
        if self.molecular(recipe):
            from neuralab.chem.inputs import prepare_molecules  # RDKit is imported for molecular recipes only

            return prepare_molecules(recipe)
        return prepare_table(recipe, "values", recipe.data.target_scaling)

    def make_inputs(self, recipe: Recipe) -> Any:
        if self.molecular(recipe):
            from neuralab.chem.inputs import MoleculeInputs  # RDKit is imported for molecular runs only

            return MoleculeInputs.from_recipe(recipe)
        return table_inputs(recipe)

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        return score_values(run, split, targets)

    def calibrate(self, run: Run, data: PreparedData) -> dict[str, torch.Tensor]:
        return validation_residuals(run, data)

    def extra_metrics(self, run: Run, data: PreparedData) -> dict[str, Any]:
        return {**super().extra_metrics(run, data), **coverage_metrics(run, data)}

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        return regression_figures(run, data, metrics, out)

    def preprocess(self, run: Run, raw: Any) -> Any:
        if not self.molecular(run.recipe):
            x = np.asarray(raw, dtype=np.float32)
            x = x[None] if x.ndim == 1 else x
            check_width(x, run.recipe.model.options.get("in_features"))
            raw = x
        return run.inputs.transform(raw)

    def predict_prepared(self, run: Run, split: Any) -> np.ndarray:
        return values(run, split)

    def predict_interval(self, run: Run, raw: Any, *, method: str = "conformal", level: float = 0.9
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predictions with an interval for raw inputs: ``(prediction, low, high)``.

        ``method`` is ``normal`` (ŷ ± z·√MSE_val, the course's method), ``conformal`` (split-conformal on the
        validation residuals) or ``ensemble`` (mean ± z·std of the members).
        """
        return interval(run, self.preprocess(run, raw), method, level)

    def interval_coverage(self, run: Run, split: Any, targets: np.ndarray,
                          levels: Sequence[float] = (0.9, 0.95)) -> dict[str, dict[str, float]]:
        """Empirical coverage and mean width of each interval method at each level, on prepared inputs."""
        return interval_coverage(run, split, targets, levels)

    def member_predictions(self, run: Run, split: Any) -> np.ndarray:
        """Each member's predictions for prepared inputs, in the target's units, ``(M, N)``."""
        return member_values(run, split)

    def predict(self, run: Run, inputs: Sequence[Any], **options: Any) -> Predictions:
        """Values with intervals: for SMILES or CSVs of molecules (molecular runs), or feature rows."""
        self.check_options("predict", self.predict_options, options)
        level = 0.9 if options.get("level") is None else options["level"]
        method = options.get("method") or "conformal"
        if self.molecular(run.recipe):
            return _molecules.predict(run, list(inputs), level=level, method=method,
                                      smiles_column=options.get("smiles_column") or "smiles",
                                      input_file=options.get("input_file"))
        if options.get("smiles_column") is not None:
            raise NeuralabError("--smiles-column is for runs trained on molecules")
        inputs = [*inputs, *([options["input_file"]] if options.get("input_file") is not None else [])]
        if not inputs:
            raise NeuralabError("give one or more input files (.csv with one row of features per sample, or .npy)")
        x, names = read_rows(inputs)
        errors = flag_non_finite(x)
        ok = [i for i, e in enumerate(errors) if e is None]
        if not ok:
            raise NeuralabError(f"no row can be predicted: row {names[0]}: {errors[0]}")
        if run.calibration or method == "ensemble":
            pred, low, high = (np.ravel(a) for a in self.predict_interval(run, x[ok], method=method, level=level))
        else:  # no validation residuals: the value alone
            pred = np.ravel(values(run, self.preprocess(run, x[ok])))
            low = high = np.full_like(pred, np.nan)
        lo, hi = f"low_{level:g}", f"high_{level:g}"
        rows = [{"row": name, "prediction": None, lo: None, hi: None, "error": error}
                for name, error in zip(names, errors)]
        for i, p, a, b in zip(ok, pred, low, high):
            rows[i].update({"prediction": float(p), lo: float(a), hi: float(b)})
        table = [("row", lambda r: r["row"]), ("prediction", lambda r: f"{r['prediction']:.4g}"),
                 (f"{level:.0%} interval", lambda r: f"[{r[lo]:.4g}, {r[hi]:.4g}]")]
        return Predictions(["row", "prediction", lo, hi, "error"], rows, table)


REGRESSION = Regression()


class SolubilityModel:
    """A molecular regression run used from Python: SMILES in, values with intervals out.

    >>> from neuralab.tasks.regression import SolubilityModel
    >>> model = SolubilityModel.load("runs/solubility-20261123-120000")   # doctest: +SKIP
    >>> model.predict(["CCO", "c1ccccc1O"])                                # doctest: +SKIP
    array([ 0.9, -0.2])
    """

    def __init__(self, run: Run) -> None:
        if run.task.name != "regression" or not Regression.molecular(run.recipe):
            raise NeuralabError(f"{run.path} is not a molecular regression run")
        self.run = run

    @classmethod
    def load(cls, path: str | Path) -> SolubilityModel:
        """Load a run directory trained on molecules (``neuralab train solubility``)."""
        raw = read_config(Path(path))
        if raw.get("task") != REGRESSION.name or not isinstance(raw.get("data"), dict) \
                or raw["data"].get("name") not in MOLECULAR:
            raise NeuralabError(f"{path} is not a molecular regression run (its task is {raw.get('task')!r})")
        return cls(Run.load(path, REGRESSION))

    def predict(self, smiles: Sequence[str]) -> np.ndarray:
        """logS for each SMILES; NaN where the SMILES could not be parsed."""
        return np.array([np.nan if p.value is None else p.value for p in self.predict_table(smiles)])

    def predict_table(self, smiles: Sequence[str], *, level: float = 0.9, method: str = "conformal"
                      ) -> list[MoleculePrediction]:
        """Predictions with ``level`` intervals by ``method`` (conformal, normal or ensemble), similarity and
        errors, one per input, in order. Invalid SMILES keep their row, with RDKit's reason in ``error``."""
        return _molecules.predict_table(self.run, smiles, level=level, method=method)
