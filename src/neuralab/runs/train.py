"""Training a recipe into a run directory."""

from __future__ import annotations

import atexit
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors.torch import save_file

import neuralab
from neuralab.errors import NeuralabError
from neuralab.recipes import Recipe, validate_recipe
from neuralab.runs import figures
from neuralab.runs.prepare import REGRESSION_TASKS, SEQUENCE_TASKS, build_model, prepare_data, resolve
from neuralab.data.features import is_file
from neuralab.runs.run import Run
from neuralab.train import Callback, Checkpoint, FitData, fit
from neuralab.train.distributed import is_main_process
from neuralab.train.seeding import seed_everything
from neuralab.train.state import atomic_write_text, load_state, save_state

__all__ = ["train_recipe"]

logger = logging.getLogger(__name__)


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
    main_process = is_main_process()  # under torchrun only rank 0 writes (and checks) the run directory
    if resume is not None:
        out = Path(resume)
        if not is_file(out / "config.yaml"):
            raise NeuralabError(f"cannot resume {out}: it has no config.yaml; is it a run directory?")
        if not any((out / "checkpoints").rglob("*.ckpt")):
            raise NeuralabError(f"cannot resume {out}: it has no checkpoint yet (the run stopped before its first "
                                "epoch ended); start it again instead")
        recipe = validate_recipe(yaml.safe_load((out / "config.yaml").read_text()))
    elif recipe is None:
        raise NeuralabError("train_recipe needs a recipe or a run directory to resume")
    elif not main_process:
        out = Path(out_dir) if out_dir is not None else Path(runs_root)
    else:
        out = Path(out_dir) if out_dir is not None else _new_run_dir(Path(runs_root), recipe.name)
        if is_file(out / "config.yaml"):
            raise NeuralabError(f"{out} already holds a run; choose another --out, or continue it with "
                                f"--resume {out}")
    source = out  # where a resumed run's checkpoints are read from
    if not main_process:  # the other ranks write to a scratch folder, removed when the process ends
        out, write_report = Path(tempfile.mkdtemp(prefix=f"neuralab-rank{os.environ.get('RANK')}-")), False
        atexit.register(shutil.rmtree, out, ignore_errors=True)
    data = prepare_data(recipe)
    recipe = resolve(recipe, data)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    monitor = recipe.trainer.monitor or ("val_loss" if "val" in data.splits else "train_loss")
    mode = "max" if monitor.split("_", 1)[-1] in {"accuracy", "r2"} else "min"
    inverse = data.y_scaler.inverse_transform if data.y_scaler is not None else None
    models, histories, states = [], [], []
    for member in range(recipe.ensemble):
        member_dir = Path("checkpoints") if recipe.ensemble == 1 else Path("checkpoints") / f"member-{member}"
        ckpt_dir = out / member_dir
        trainer = recipe.trainer.model_copy(update={"seed": recipe.trainer.seed + member})
        seed_everything(trainer.seed)  # the model's initial weights depend on the seed too
        model = build_model(recipe)
        if hasattr(data.inputs, "init_model"):  # set up from the data, e.g. word2vec noise from training counts
            data.inputs.init_model(model)
        if recipe.model.init_from:
            _init_from_autoencoder(model, recipe.model.init_from)
        done = ckpt_dir / "final.ckpt"
        if resume is not None and (source / member_dir / "final.ckpt").is_file():  # a finished member of a resumed
            done = source / member_dir / "final.ckpt"  # ensemble
            final_state = load_state(done)
            model.load_state_dict(final_state["model"])
            models.append(model), histories.append(final_state["history"]), states.append(final_state["summary"])
            continue
        last = source / member_dir / "last.ckpt"
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
    if data.task in REGRESSION_TASKS and "val" in data.splits:
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
    if data.task == "forecasting" and metrics.get("forecast"):  # the model beside its baselines, same origins
        from neuralab.runs.forecasting import model_scores

        metrics["forecast"]["model"] = model_scores(Run.load(out), data)[0]
    atomic_write_text(out / "metrics.json", json.dumps(_finite(metrics), indent=2))
    env = _environment(recipe, states[0]["device"], data.files, time.perf_counter() - started)
    atomic_write_text(out / "environment.json", json.dumps(env, indent=2))
    if write_report:
        from neuralab.report import write_report as _write_report

        if data.task in REGRESSION_TASKS:
            figures.regression_figures(Run.load(out), data, metrics, out)
        elif data.task == "classification":
            figures.classification_figures(Run.load(out), data, out)
        elif data.task == "reconstruction":
            figures.reconstruction_figures(Run.load(out), data, histories[0], out)
        if data.task in SEQUENCE_TASKS:  # forecasts against actuals, samples of text, word maps
            from neuralab.runs.sequences import sequence_figures

            sequence_figures(Run.load(out), data, metrics, out)
        _write_report(out)
    return Run.load(out)


def _init_from_autoencoder(model: torch.nn.Module, path: str) -> None:
    """Copy a trained autoencoder's encoder into the first layers of ``model`` (pretraining, then fine-tuning)."""
    from neuralab.models.autoencoder import transfer_encoder

    source = Run.load(path)
    copied = transfer_encoder(source.model, model)
    logger.info("initialised %d layers from the encoder of %s", copied, path)


def _augmentation(recipe: Recipe) -> Any:
    """The recipe's image augmentation as a per-batch transform for the engine, or None."""
    if recipe.data.augment is None:
        return None
    from neuralab.data.transforms import Augment

    augment = Augment(**recipe.data.augment.model_dump())
    return lambda batch, generator: (augment(batch[0], generator=generator), *batch[1:])


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
