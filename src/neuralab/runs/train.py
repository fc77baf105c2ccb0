"""Training a recipe into a run directory, whatever its task: the task prepares, scores and reports; this module
locks the directory, builds the model(s), calls the engine and writes the run."""

from __future__ import annotations

import atexit
import inspect
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from neuralab.data.features import is_file
from neuralab.data.prepared import PreparedData
from neuralab.directions import direction
from neuralab.errors import NeuralabError
from neuralab.models import MODELS
from neuralab.models.pretrain import transfer_encoder
from neuralab.runs.recipe import Recipe, build_model
from neuralab.runs.run import Run, read_model
from neuralab.runs.store import environment, finite_json, lock_run, new_run_dir, write_config
from neuralab.train import Callback, Checkpoint, FitData, fit
from neuralab.train.distributed import is_main_process
from neuralab.train.seeding import seed_everything
from neuralab.train.state import atomic_write_text, load_state, save_state

if TYPE_CHECKING:
    from neuralab.tasks.base import Task

__all__ = ["train_run", "resolve"]

logger = logging.getLogger(__name__)


def resolve(recipe: Recipe, data: PreparedData, task: Task) -> Recipe:
    """Fill in what the data decides (the model's input and output sizes...) and the task's default loss."""
    raw = recipe.model_dump(mode="json")
    accepted = inspect.signature(MODELS[recipe.model.name]).parameters
    for key, value in data.model_args.items():
        if key in accepted:
            raw["model"].setdefault(key, value)
    if raw["loss"].get("name") is None and task.default_loss is not None:
        raw["loss"]["name"] = task.default_loss
    return task.validate_recipe(raw)


def train_run(recipe: Recipe, task: Task, *, out_dir: str | Path | None = None, runs_root: str | Path = "runs",
              resume: bool = False, callbacks: Sequence[Callback] = (), write_report: bool = True,
              without_test: bool = False) -> Run:
    """Train ``recipe`` (a recipe of ``task``) into a run directory and return the loaded :class:`Run`.

    Parameters
    ----------
    recipe
        The validated recipe.
    task
        Its task, which prepares the data, scores the run and draws the report.
    out_dir
        The run directory; by default ``<runs_root>/<recipe>-<timestamp>``. It is locked while training, so a
        second process writing the same directory gets a one-line error.
    resume
        Continue the run in ``out_dir``: finished ensemble members are kept and the unfinished one goes on from its
        ``last.ckpt``. A run that stopped before its first checkpoint starts again from scratch.
    callbacks
        Extra engine callbacks, e.g. the CLI's progress bar.
    write_report
        Draw the task's figures and write ``report.html`` at the end.
    without_test
        Drop the test split as soon as the data is prepared: nothing is scored, measured or drawn on it (for
        hyper-parameter search, which must never see it).
    """
    if not is_main_process():  # under torchrun, only rank 0 writes (and locks) the run directory
        return _train_rank(recipe, task, Path(out_dir or runs_root), resume, callbacks, without_test)
    out = Path(out_dir) if out_dir is not None else new_run_dir(Path(runs_root), recipe.name)
    created, locked = not out.exists(), False
    try:
        with lock_run(out):
            locked = True
            if not resume and is_file(out / "config.yaml"):
                raise NeuralabError(f"{out} already holds a run; choose another --out, or continue it with "
                                    f"--resume {out}")
            return _train(recipe, task, out, resume, callbacks, write_report, without_test=without_test)
    except BaseException:
        # A start that failed before its first checkpoint leaves nothing to resume: remove the folder it made, so
        # that no dead end is left. Only the process that held the lock may: another one's run is not ours.
        if created and locked and not any((out / "checkpoints").rglob("*.ckpt")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def _train_rank(recipe: Recipe, task: Task, source: Path, resume: bool, callbacks: Sequence[Callback],
                without_test: bool = False) -> Run:
    """A rank other than 0 trains alike but writes to a scratch folder, removed when the process ends."""
    scratch = Path(tempfile.mkdtemp(prefix=f"neuralab-rank{os.environ.get('RANK')}-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return _train(recipe, task, scratch, resume, callbacks, False, source=source, without_test=without_test)


def _train(recipe: Recipe, task: Task, out: Path, resume: bool, callbacks: Sequence[Callback], write_report: bool,
           *, source: Path | None = None, without_test: bool = False) -> Run:
    started = time.perf_counter()
    source = source or out  # where a resumed run's checkpoints are read from
    data = task.prepare(recipe)
    if without_test:
        data.splits.pop("test", None)
        data.targets.pop("test", None)
    recipe = resolve(recipe, data, task)
    write_config(out, recipe.model_dump(mode="json"))
    monitor = task.monitor(recipe, data)
    mode = direction(monitor)
    inverse = data.y_scaler.inverse_transform if data.y_scaler is not None else None
    models, histories, summaries = [], [], []
    world_size = 1  # processes training together under torchrun
    for member in range(recipe.ensemble):
        member_dir = Path("checkpoints") if recipe.ensemble == 1 else Path("checkpoints") / f"member-{member}"
        # The task's monitor (a recommender's val_rmse, an RBM's pseudo-likelihood) is early stopping's default too.
        trainer = recipe.trainer.model_copy(update={"seed": recipe.trainer.seed + member, "monitor": monitor})
        seed_everything(trainer.seed)  # the model's initial weights depend on the seed too
        model = build_model(recipe)
        task.init_model(model, data)
        if recipe.model.init_from:
            _init_from(model, recipe.model.init_from)
        finished = source / member_dir / "final.ckpt"
        if resume and finished.is_file():  # a finished member of a resumed ensemble
            final_state = load_state(finished)
            model.load_state_dict(final_state["model"])
            models.append(model), histories.append(final_state["history"]), summaries.append(final_state["summary"])
            continue
        last = source / member_dir / "last.ckpt"
        checkpoint = Checkpoint(out / member_dir, monitor=monitor, mode=mode)
        extra = task.callbacks(recipe, data, out / member_dir)
        state = fit(model, FitData(data.splits["train"], data.splits.get("val")), trainer,
                    [*callbacks, *extra, checkpoint],
                    optimizer=recipe.optimizer, scheduler=recipe.scheduler, loss=recipe.loss, metrics=recipe.metrics,
                    inverse_target=inverse, resume=last if resume and last.is_file() else None,
                    train_transform=task.train_transform(recipe, data))
        world_size = state.team.size
        early = next((cb for cb in state.callbacks if hasattr(cb, "stopped_epoch")), None)
        summary = {"best_epoch": early.best_epoch if early is not None else checkpoint.best_epoch,
                   "stopped_early": bool(early is not None and early.stopped_epoch is not None),
                   "device": str(state.device)}
        if task.keep_best and early is None and checkpoint.best_epoch is not None and checkpoint.best_path.is_file():
            # An agent's last epoch may be one of its bad ones: keep the weights of its best evaluation.
            model.load_state_dict(load_state(checkpoint.best_path)["model"])
            summary["kept"] = "best"
        save_state({"model": model.state_dict(), "history": state.history, "summary": summary},
                   out / member_dir / "final.ckpt")
        models.append(model), histories.append(state.history), summaries.append(summary)
    for model in models:
        model.eval()  # the engine hands a model back in training mode; scores must not see dropout, as a loaded run
    run = Run(out, recipe, task, models, data.inputs, data.y_scaler, data.classes)
    run.calibration = task.calibrate(run, data)  # first: a score may use it (an RBM's log Z gives its likelihood)
    final = {name: run.score_split(split, data.targets[name]) for name, split in data.splits.items()}
    run.save()
    run = Run.load(out, task)  # from here on, exactly what a user of the saved run gets
    metrics: dict[str, Any] = {"task": task.name, "monitor": monitor, "mode": mode, **summaries[0],
                               "history": histories[0], "final": final, "loss_note": task.loss_note(recipe)}
    if recipe.ensemble > 1:
        metrics["members"] = [{**s, "history": h} for s, h in zip(summaries, histories)]
    metrics.update(task.extra_metrics(run, data))
    atomic_write_text(out / "metrics.json", json.dumps(finite_json(metrics), indent=2))
    env = environment(device=summaries[0]["device"], precision=recipe.trainer.precision, seed=recipe.trainer.seed,
                      files=data.files, duration=time.perf_counter() - started, world_size=world_size)
    atomic_write_text(out / "environment.json", json.dumps(env, indent=2))
    if write_report:
        task.finish(run, data, metrics, out)
    return run


def _init_from(model: torch.nn.Module, path: str) -> None:
    """Copy a trained run's encoder into the first layers of ``model`` (pretraining, then fine-tuning)."""
    source = read_model(path)
    copied = transfer_encoder(source, model)
    logger.info("initialised %d layers from the encoder of %s", copied, path)
