"""Runs: a recipe trained into a directory, and loaded back to evaluate and predict.

``train_recipe`` prepares the data, builds the model, calls the engine and writes the run directory::

    runs/<recipe>-<timestamp>/
        config.yaml         the fully resolved recipe (the model's input and output sizes included)
        model.safetensors   weights plus the fitted scalers; no pickle anywhere
        metrics.json        per-epoch history and final train / val / test metrics
        environment.json    versions, device, seed, git commit, data files' sha256
        checkpoints/        last.ckpt (to resume) and best.ckpt
        *.png, report.html  learning curves and the self-contained report

``Run.load(path)`` reads a run back; ``run.predict(x)`` applies the saved scaling and the model.
"""

from __future__ import annotations

import inspect
import json
import logging
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_file

import neuralab
from neuralab.data import load_dataset, make_scaler, split_indices
from neuralab.data.prepared import ImageInputs, PreparedData, TabularInputs
from neuralab.errors import DataError, NeuralabError
from neuralab.models import MODELS
from neuralab.recipes import Recipe, validate_recipe
from neuralab.train import Callback, Checkpoint, FitData, evaluate, fit
from neuralab.train.seeding import resolve_device, seed_everything
from neuralab.train.state import atomic_write_text, load_state, save_state

__all__ = ["Run", "prepare_data", "make_inputs", "train_recipe", "read_features"]

logger = logging.getLogger(__name__)


MOLECULAR = {"esol", "solubility", "csv"}


def _is_molecular(recipe: Recipe) -> bool:
    return recipe.data.name in MOLECULAR


def prepare_data(recipe: Recipe) -> PreparedData:
    """Load, split and transform the recipe's data; pipelines and scalers are fitted on the training part only."""
    if _is_molecular(recipe):
        from neuralab.chem.inputs import prepare_molecules  # RDKit is imported only for molecular recipes

        return prepare_molecules(recipe)
    return _prepare_table(recipe)


def make_inputs(recipe: Recipe) -> Any:
    """An unfitted input pipeline of the kind the recipe uses (its state is loaded from the weights file)."""
    if _is_molecular(recipe):
        from neuralab.chem.inputs import MoleculeInputs

        return MoleculeInputs.from_recipe(recipe)
    return ImageInputs() if recipe.data.scaling == "pixels" else TabularInputs(recipe.data.scaling)


def _prepare_table(recipe: Recipe) -> PreparedData:
    cfg = recipe.data
    ds = load_dataset(cfg.name, data_dir=cfg.data_dir)
    task = recipe.task or ds.task
    if ds.y is None:
        raise DataError(f"data set {cfg.name!r} has no targets; a {task} recipe needs them")
    split = _table_split(ds, cfg, recipe.trainer.seed)
    images = cfg.scaling == "pixels"
    inputs = ImageInputs() if images else TabularInputs(cfg.scaling)
    inputs.fit(ds.x[split.train])
    y_scaler = None
    if task == "regression" and cfg.target_scaling == "standard":
        y_scaler = make_scaler("standard").fit(ds.y[split.train].astype(np.float32).reshape(-1, 1))
    splits, targets = {}, {}
    for name in ("train", "val", "test"):
        idx = getattr(split, name)
        if len(idx) == 0:
            continue
        targets[name] = ds.y[idx]
        splits[name] = inputs.transform(ds.x[idx], encode_targets(ds.y[idx], task, y_scaler))
    classes = list(ds.classes or np.unique(ds.y).tolist()) if task == "classification" else []
    shape = tuple(int(d) for d in ds.x.shape[1:])
    model_args = {"in_features": int(np.prod(shape)), "out_features": len(classes) if task == "classification" else 1}
    if len(shape) == 3:  # images (C, H, W)
        model_args.update(in_channels=shape[0], image_size=list(shape[1:]))
    return PreparedData(splits, targets, inputs, y_scaler, task, model_args, classes, dict(ds.files))


def _table_split(ds: Any, cfg: Any, seed: int) -> Any:
    """The data set's own train/test split (validation carved from train), or a random/stratified one."""
    if cfg.split == "predefined":
        if not hasattr(ds, "predefined_split"):
            raise DataError(f"data set {cfg.name!r} has no predefined split; use random or stratified")
        given = ds.predefined_split
        inner = split_indices(len(given.train), method="stratified", val=cfg.val, test=0.0, seed=seed,
                              y=ds.y[given.train])
        return type(given)(given.train[inner.train], given.train[inner.val], given.test)
    if cfg.split not in {"random", "stratified"}:
        raise DataError(f"data.split {cfg.split!r} needs molecules or groups; use random, stratified or predefined "
                        f"for {cfg.name!r}")
    return split_indices(len(ds.x), method=cfg.split, val=cfg.val, test=cfg.test, seed=seed,
                         y=ds.y if cfg.split == "stratified" else None)


def encode_targets(y: np.ndarray, task: str, y_scaler: Any | None) -> torch.Tensor:
    """Targets as the loss wants them: class indices, or a scaled (N, 1) float column."""
    if task == "classification":
        return torch.as_tensor(y, dtype=torch.long)
    t = torch.as_tensor(np.asarray(y, dtype=np.float32)).reshape(len(y), -1)
    return y_scaler.transform(t) if y_scaler is not None else t


def _build_model(recipe: Recipe) -> torch.nn.Module:
    return MODELS[recipe.model.name](**recipe.model.options)


def train_recipe(recipe: Recipe | None = None, *, out_dir: str | Path | None = None, runs_root: str | Path = "runs",
                 resume: str | Path | None = None, callbacks: Sequence[Callback] = (),
                 write_report: bool = True) -> Run:
    """Train a recipe into a run directory and return the loaded :class:`Run`.

    Parameters
    ----------
    recipe
        The validated recipe; omitted when resuming (the run's own ``config.yaml`` is used).
    out_dir
        The run directory; by default ``<runs_root>/<recipe>-<timestamp>``.
    resume
        A run directory to continue: finished ensemble members are kept, the unfinished one goes on from its
        ``last.ckpt``.
    callbacks
        Extra engine callbacks, e.g. the CLI's progress bar.
    write_report
        Write the PNG plots and ``report.html`` at the end.
    """
    started = time.perf_counter()
    if resume is not None:
        out = Path(resume)
        if not _is_file(out / "config.yaml"):
            raise NeuralabError(f"cannot resume {out}: it has no config.yaml; is it a run directory?")
        if not any((out / "checkpoints").rglob("*.ckpt")):
            raise NeuralabError(f"cannot resume {out}: it has no checkpoint yet (the run stopped before its first "
                                "epoch ended); start it again instead")
        recipe = validate_recipe(yaml.safe_load((out / "config.yaml").read_text()))
    elif recipe is None:
        raise NeuralabError("train_recipe needs a recipe or a run directory to resume")
    else:
        out = Path(out_dir) if out_dir is not None else _new_run_dir(Path(runs_root), recipe.name)
        if _is_file(out / "config.yaml"):
            raise NeuralabError(f"{out} already holds a run; choose another --out, or continue it with "
                                f"--resume {out}")
    data = prepare_data(recipe)
    recipe = resolve(recipe, data)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    monitor = recipe.trainer.monitor or ("val_loss" if "val" in data.splits else "train_loss")
    mode = "max" if monitor.split("_", 1)[-1] in {"accuracy", "r2"} else "min"
    inverse = data.y_scaler.inverse_transform if data.y_scaler is not None else None
    models, histories, states = [], [], []
    for member in range(recipe.ensemble):
        ckpt_dir = out / "checkpoints" if recipe.ensemble == 1 else out / "checkpoints" / f"member-{member}"
        trainer = recipe.trainer.model_copy(update={"seed": recipe.trainer.seed + member})
        seed_everything(trainer.seed)  # the model's initial weights depend on the seed too
        model = _build_model(recipe)
        done = ckpt_dir / "final.ckpt"
        if resume is not None and done.is_file():  # a finished member of a resumed ensemble
            final_state = load_state(done)
            model.load_state_dict(final_state["model"])
            models.append(model), histories.append(final_state["history"]), states.append(final_state["summary"])
            continue
        last = ckpt_dir / "last.ckpt"
        checkpoint = Checkpoint(ckpt_dir, monitor=monitor, mode=mode)
        state = fit(model, FitData(data.splits["train"], data.splits.get("val")), trainer, [*callbacks, checkpoint],
                    optimizer=recipe.optimizer, scheduler=recipe.scheduler, loss=recipe.loss, metrics=recipe.metrics,
                    inverse_target=inverse, resume=last if resume is not None and last.is_file() else None,
                    train_transform=_augmentation(recipe))
        early = next((cb for cb in state.callbacks if hasattr(cb, "stopped_epoch")), None)
        summary = {"best_epoch": early.best_epoch if early is not None else checkpoint.best_epoch,
                   "stopped_early": bool(early is not None and early.stopped_epoch is not None),
                   "device": str(state.device)}
        save_state({"model": model.state_dict(), "history": state.history, "summary": summary}, done)
        models.append(model), histories.append(state.history), states.append(summary)
    run = Run(out, recipe, models, data.inputs, data.y_scaler, data.task, data.classes)
    final = {name: run.score_split(split, data.targets[name]) for name, split in data.splits.items()}
    calibration = {}
    if data.task == "regression" and "val" in data.splits:
        calibration["residuals"] = torch.as_tensor(
            data.targets["val"].reshape(-1) - run.predict_prepared(data.splits["val"]).reshape(-1))
    _save_weights(out / "model.safetensors", run, calibration)
    metrics = {"task": data.task, "monitor": monitor, "mode": mode, **states[0], "history": histories[0],
               "final": final}
    if recipe.ensemble > 1:
        metrics["members"] = [{**st, "history": h} for st, h in zip(states, histories)]
    if calibration and "test" in data.splits:
        metrics["intervals"] = Run.load(out).interval_coverage(data.splits["test"], data.targets["test"])
    metrics.update(data.extras.get("metrics", {}))
    atomic_write_text(out / "metrics.json", json.dumps(_finite(metrics), indent=2))
    env = _environment(recipe, states[0]["device"], data.files, time.perf_counter() - started)
    atomic_write_text(out / "environment.json", json.dumps(env, indent=2))
    if write_report:
        from neuralab.report import write_report as _write_report

        if data.task == "regression":
            _regression_figures(Run.load(out), data, metrics, out)
        elif data.task == "classification":
            _classification_figures(Run.load(out), data, out)
        _write_report(out)
    return Run.load(out)


def _classification_figures(run: Run, data: PreparedData, out: Path) -> None:
    """Confusion matrix and, for a CNN, filters, feature maps and confident mistakes, listed in figures.json."""
    from neuralab.report.classification import classification_figures

    last = "test" if "test" in data.splits else "val" if "val" in data.splits else "train"
    split = data.splits[last]
    proba = run.outputs(split).float().softmax(-1).mean(0).numpy()  # ensemble mean, as predict_proba
    x = split[0] if isinstance(split, tuple) else split
    figures = classification_figures(run.model, x if isinstance(x, torch.Tensor) else None, data.targets[last],
                                     proba, run.classes, out, split=last)
    atomic_write_text(out / "figures.json", json.dumps(figures, indent=2))


def _regression_figures(run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> None:
    """Parity, residual and coverage plots, listed in figures.json for the report."""
    from neuralab.report.regression import plot_coverage, plot_parity, plot_residuals

    predicted = {name: run.predict_prepared(split) for name, split in data.splits.items()}
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
    atomic_write_text(out / "figures.json", json.dumps(figures, indent=2))


def _augmentation(recipe: Recipe) -> Any:
    """The recipe's image augmentation as a per-batch transform for the engine, or None."""
    if recipe.data.augment is None:
        return None
    from neuralab.data.transforms import Augment

    augment = Augment(**recipe.data.augment.model_dump())
    return lambda batch, generator: (augment(batch[0], generator=generator), *batch[1:])


def resolve(recipe: Recipe, data: PreparedData) -> Recipe:
    """Fill in what the data decides: the task and the sizes the model needs (input and output sizes...)."""
    raw = recipe.model_dump(mode="json")
    raw["task"] = data.task
    accepted = inspect.signature(MODELS[recipe.model.name]).parameters
    for key, value in data.model_args.items():
        if key in accepted:
            raw["model"].setdefault(key, value)
    if raw["loss"].get("name") is None:
        raw["loss"]["name"] = "cross_entropy" if data.task == "classification" else "mse"
    return validate_recipe(raw)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, with an impossible path (a name too long for the file system) counting as missing."""
    try:
        return path.is_file()
    except OSError:
        return False


def _new_run_dir(root: Path, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, i = root / f"{name}-{stamp}", 1
    while path.exists():
        i += 1
        path = root / f"{name}-{stamp}-{i}"
    return path


def _save_weights(path: Path, run: Run, calibration: dict[str, torch.Tensor]) -> None:
    tensors = {f"model.{i}.{k}": v.detach().cpu().contiguous()
               for i, model in enumerate(run.models) for k, v in model.state_dict().items()}
    tensors.update({f"inputs.{k}": v.contiguous() for k, v in run.inputs.state_dict().items()})
    if run.y_scaler is not None:
        tensors.update({f"y_scaler.{k}": v.contiguous() for k, v in run.y_scaler.state_dict().items()})
    tensors.update({f"calibration.{k}": v.float().contiguous() for k, v in calibration.items()})
    meta = {"format": "neuralab-run", "neuralab": neuralab.__version__, "task": run.task,
            "classes": json.dumps(run.classes), "members": str(len(run.models))}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, tmp, metadata=meta)
    tmp.replace(path)


def _finite(obj: Any) -> Any:
    """JSON has no NaN: write it as null."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _environment(recipe: Recipe, device: str, files: dict[str, str], duration: float) -> dict[str, Any]:
    import sklearn

    return {"neuralab": neuralab.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
            "device": device, "precision": recipe.trainer.precision, "seed": recipe.trainer.seed,
            "git_commit": _git_commit(), "data_files": files,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "duration_s": round(duration, 3)}


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
            if not _is_file(path / needed):
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
            model = _build_model(recipe)
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
        return values.numpy().reshape(len(values), -1).squeeze(-1)

    def member_predictions(self, split: Any) -> np.ndarray:
        """Each member's regression predictions in the data's units, shape (M, N)."""
        out = self.outputs(split).float()
        if self.y_scaler is not None:
            out = torch.stack([self.y_scaler.inverse_transform(o) for o in out])
        return out.reshape(len(self.models), -1).numpy()

    def score_split(self, split: Any, targets: np.ndarray) -> dict[str, float]:
        """The recipe's metrics (and, for one model, its loss) on prepared inputs against raw targets."""
        from neuralab.train.metrics import compute_metrics

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

    def predict_interval(self, raw: Any, *, method: str = "conformal", level: float = 0.9
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Regression predictions with an interval: ``(prediction, low, high)``.

        ``method`` is ``normal`` (ŷ ± z·√MSE_val, the course's method), ``conformal`` (split-conformal on the
        validation residuals) or ``ensemble`` (mean ± z·std of the members).
        """
        return self._interval(self._prepare(raw), method, level)

    def _interval(self, split: Any, method: str, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from neuralab.train import intervals

        if self.task != "regression":
            raise NeuralabError("prediction intervals are for regression runs")
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
                _, low, high = self._interval(split, method, level)
                result[f"{method}@{level:g}"] = {"coverage": coverage(targets, low, high),
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


def read_features(path: str | Path) -> np.ndarray:
    """Read a feature matrix from ``.npy`` or ``.csv`` (a header row is skipped when it is not numeric)."""
    path = Path(path)
    if not _is_file(path):
        raise DataError(f"input file {path} does not exist")
    if path.suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False).astype(np.float32)
        except ValueError as exc:
            raise DataError(f"{path}: not a numeric .npy array ({exc})") from exc
    lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"{path} is empty")
    rows = []
    for i, line in enumerate(lines, start=1):
        cells = [c.strip() for c in line.split(",")]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if i == 1:
                continue  # a header
            raise DataError(f"{path}: row {i} is not numeric: {line[:80]!r}") from None
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise DataError(f"{path}: rows have different numbers of columns: {sorted(widths)}")
    return np.asarray(rows, dtype=np.float32)
