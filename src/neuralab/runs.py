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

import json
import logging
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from neuralab.errors import DataError, NeuralabError
from neuralab.models import MODELS
from neuralab.recipes import Recipe, validate_recipe
from neuralab.train import Callback, Checkpoint, FitData, evaluate, fit
from neuralab.train.seeding import resolve_device, seed_everything
from neuralab.train.state import atomic_write_text

__all__ = ["Run", "PreparedData", "prepare_data", "train_recipe", "read_features"]

logger = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """Scaled tensors for each split, the fitted scalers, and what the model needs to know about the data."""

    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
    x_scaler: Any
    y_scaler: Any | None
    task: str
    in_features: int
    out_features: int
    classes: list[Any] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


def prepare_data(recipe: Recipe) -> PreparedData:
    """Load, split and scale the recipe's data. The scalers are fitted on the training part only."""
    cfg = recipe.data
    ds = load_dataset(cfg.name, data_dir=cfg.data_dir)
    task = recipe.task or ds.task
    if ds.y is None:
        raise DataError(f"data set {cfg.name!r} has no targets; a {task} recipe needs them")
    split = split_indices(len(ds.x), method=cfg.split, val=cfg.val, test=cfg.test, seed=recipe.trainer.seed,
                          y=ds.y if cfg.split == "stratified" else None)
    x_scaler = make_scaler(cfg.scaling).fit(ds.x[split.train].astype(np.float32))
    y_scaler = None
    if task == "regression" and cfg.target_scaling == "standard":
        y_scaler = make_scaler("standard").fit(ds.y[split.train].astype(np.float32).reshape(-1, 1))
    splits = {}
    for name in ("train", "val", "test"):
        idx = getattr(split, name)
        if len(idx) == 0:
            continue
        x = x_scaler.transform(torch.as_tensor(ds.x[idx], dtype=torch.float32))
        if task == "classification":
            y = torch.as_tensor(ds.y[idx], dtype=torch.long)
        else:
            y = torch.as_tensor(ds.y[idx], dtype=torch.float32).reshape(-1, 1)
            y = y_scaler.transform(y) if y_scaler is not None else y
        splits[name] = (x, y)
    classes = list(getattr(ds, "classes", None) or (np.unique(ds.y).tolist() if task == "classification" else []))
    out_features = len(classes) if task == "classification" else 1
    return PreparedData(splits, x_scaler, y_scaler, task, int(np.prod(ds.x.shape[1:])), out_features, classes,
                        dict(ds.files))


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
        A run directory whose ``checkpoints/last.ckpt`` training continues from.
    callbacks
        Extra engine callbacks, e.g. the CLI's progress bar.
    write_report
        Write the PNG plots and ``report.html`` at the end.
    """
    started = time.perf_counter()
    if resume is not None:
        out = Path(resume)
        ckpt = out / "checkpoints" / "last.ckpt"
        if not (out / "config.yaml").is_file():
            raise NeuralabError(f"cannot resume {out}: it has no config.yaml; is it a run directory?")
        if not ckpt.is_file():
            raise NeuralabError(f"cannot resume {out}: no checkpoint at {ckpt} (the run stopped before its first "
                                "epoch ended); start it again instead")
        recipe = validate_recipe(yaml.safe_load((out / "config.yaml").read_text()))
    elif recipe is None:
        raise NeuralabError("train_recipe needs a recipe or a run directory to resume")
    else:
        ckpt = None
        out = Path(out_dir) if out_dir is not None else _new_run_dir(Path(runs_root), recipe.name)
    data = prepare_data(recipe)
    recipe = _resolve(recipe, data)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    seed_everything(recipe.trainer.seed)  # the model's initial weights depend on the seed too
    model = _build_model(recipe)
    monitor = recipe.trainer.monitor or ("val_loss" if "val" in data.splits else "train_loss")
    checkpoint = Checkpoint(out / "checkpoints", monitor=monitor,
                            mode="max" if monitor.split("_", 1)[-1] in {"accuracy", "r2"} else "min")
    inverse = data.y_scaler.inverse_transform if data.y_scaler is not None else None
    state = fit(model, FitData(data.splits["train"], data.splits.get("val")), recipe.trainer,
                [*callbacks, checkpoint], optimizer=recipe.optimizer, scheduler=recipe.scheduler, loss=recipe.loss,
                metrics=recipe.metrics, inverse_target=inverse, resume=ckpt)
    _save_weights(out / "model.safetensors", model, data)
    final = {name: evaluate(model, split, loss=_loss_name(recipe), metrics=recipe.metrics,
                            inverse_target=inverse, batch_size=max(recipe.trainer.batch_size, 1024))
             for name, split in data.splits.items()}
    early = next((cb for cb in state.callbacks if hasattr(cb, "stopped_epoch")), None)
    metrics = {"task": data.task, "monitor": monitor, "mode": checkpoint.mode,
               "best_epoch": early.best_epoch if early is not None else checkpoint.best_epoch,
               "stopped_early": bool(early is not None and early.stopped_epoch is not None),
               "history": state.history, "final": final}
    atomic_write_text(out / "metrics.json", json.dumps(_finite(metrics), indent=2))
    env = _environment(recipe, state.device, data.files, time.perf_counter() - started)
    atomic_write_text(out / "environment.json", json.dumps(env, indent=2))
    if write_report:
        from neuralab.report import write_report as _write_report

        _write_report(out)
    return Run.load(out)


def _loss_name(recipe: Recipe) -> str | None:
    return recipe.loss.name


def _resolve(recipe: Recipe, data: PreparedData) -> Recipe:
    """Fill in what the data decides: the task and the model's input and output sizes."""
    raw = recipe.model_dump(mode="json")
    raw["task"] = data.task
    raw["model"].setdefault("in_features", data.in_features)
    raw["model"].setdefault("out_features", data.out_features)
    if raw["loss"].get("name") is None:
        raw["loss"]["name"] = "cross_entropy" if data.task == "classification" else "mse"
    return validate_recipe(raw)


def _new_run_dir(root: Path, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, i = root / f"{name}-{stamp}", 1
    while path.exists():
        i += 1
        path = root / f"{name}-{stamp}-{i}"
    return path


def _save_weights(path: Path, model: torch.nn.Module, data: PreparedData) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"x_scaler.{k}": v.contiguous() for k, v in data.x_scaler.state_dict().items()})
    if data.y_scaler is not None:
        tensors.update({f"y_scaler.{k}": v.contiguous() for k, v in data.y_scaler.state_dict().items()})
    meta = {"format": "neuralab-run", "neuralab": neuralab.__version__, "task": data.task,
            "classes": json.dumps(data.classes)}
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


def _environment(recipe: Recipe, device: torch.device, files: dict[str, str], duration: float) -> dict[str, Any]:
    import sklearn

    return {"neuralab": neuralab.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
            "device": str(device), "precision": recipe.trainer.precision, "seed": recipe.trainer.seed,
            "git_commit": _git_commit(), "data_files": files,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "duration_s": round(duration, 3)}


class Run:
    """A trained run loaded from its directory: the recipe, the model with its weights, and the scalers.

    Examples
    --------
    >>> run = Run.load("runs/digits-mlp-20261123-120000")  # doctest: +SKIP
    >>> run.predict(x[:5])                                  # doctest: +SKIP
    array([0, 1, 2, 3, 4])
    """

    def __init__(self, path: Path, recipe: Recipe, model: torch.nn.Module, x_scaler: Any, y_scaler: Any | None,
                 task: str, classes: list[Any]) -> None:
        self.path, self.recipe, self.model = path, recipe, model
        self.x_scaler, self.y_scaler, self.task, self.classes = x_scaler, y_scaler, task, classes

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Run:
        """Read a run directory. Raises a NeuralabError naming what is missing."""
        path = Path(path)
        for needed in ("config.yaml", "model.safetensors"):
            if not (path / needed).is_file():
                raise NeuralabError(f"{path} is not a finished run: {needed} is missing")
        recipe = validate_recipe(yaml.safe_load((path / "config.yaml").read_text()))
        groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "x_scaler": {}, "y_scaler": {}}
        with safe_open(path / "model.safetensors", framework="pt") as f:
            meta = f.metadata() or {}
            for key in f.keys():
                group, _, name = key.partition(".")
                groups.setdefault(group, {})[name] = f.get_tensor(key)
        model = _build_model(recipe)
        model.load_state_dict(groups["model"])
        model.to(resolve_device(device)).eval()
        x_scaler = make_scaler(recipe.data.scaling)
        x_scaler.load_state_dict(groups["x_scaler"])
        y_scaler = None
        if groups["y_scaler"]:
            y_scaler = make_scaler("standard")
            y_scaler.load_state_dict(groups["y_scaler"])
        return cls(path, recipe, model, x_scaler, y_scaler, meta.get("task", recipe.task or "classification"),
                   json.loads(meta.get("classes", "[]")))

    def _outputs(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        from neuralab.train import predict

        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if x.ndim == 1:
            x = x.unsqueeze(0)
        expected = self.recipe.model.options.get("in_features")
        if expected is not None and x[0].numel() != expected:
            raise DataError(f"the model expects {expected} features per row; got input of shape {tuple(x.shape)}")
        return predict(self.model, self.x_scaler.transform(x))

    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class labels (classification) or values in the target's units (regression)."""
        out = self._outputs(x)
        if self.task == "classification":
            idx = out.argmax(dim=1).numpy()
            return np.asarray(self.classes)[idx] if self.classes else idx
        if self.y_scaler is not None:
            out = self.y_scaler.inverse_transform(out)
        return out.numpy().reshape(len(out), -1).squeeze(-1)

    def predict_proba(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Softmax class probabilities, one column per class in ``self.classes`` order."""
        if self.task != "classification":
            raise NeuralabError("predict_proba is for classification runs; this run is a regression")
        return torch.softmax(self._outputs(x).float(), dim=1).numpy()

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Recompute loss and metrics on one split of the recipe's data (same split as in training)."""
        data = prepare_data(self.recipe)
        if split not in data.splits:
            raise NeuralabError(f"split {split!r} is empty or unknown; available: {', '.join(data.splits)}")
        inverse = self.y_scaler.inverse_transform if self.y_scaler is not None else None
        x, y = data.splits[split]
        return evaluate(self.model, (x, y), loss=self.recipe.loss.name, metrics=self.recipe.metrics,
                        inverse_target=inverse)

    def metrics(self) -> dict[str, Any]:
        """The contents of ``metrics.json``."""
        return json.loads((self.path / "metrics.json").read_text())


def read_features(path: str | Path) -> np.ndarray:
    """Read a feature matrix from ``.npy`` or ``.csv`` (a header row is skipped when it is not numeric)."""
    path = Path(path)
    if not path.is_file():
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
