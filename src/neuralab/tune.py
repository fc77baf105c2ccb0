"""Hyper-parameter search with Optuna: trials of a recipe with some values drawn from a search space, scored on
the validation split (or by k-fold cross-validation), pruned when an epoch's score is hopeless, in a SQLite study
that survives a kill and that several processes can share.

A search space is a list of ``KEY=KIND:ARGS`` strings, ``KEY`` a recipe key as in ``--set``:

=====================================  ==========================================================================
``optimizer.lr=log:1e-4:1e-1``         a float, log-uniform between the bounds
``model.dropout=float:0:0.5``          a float, uniform (``float:0:0.5:0.1``: on a step of 0.1)
``trainer.batch_size=int:16:256:16``   an int, uniform on a step (``logint:8:512``: log-uniform)
``model.hidden_sizes=choice:[64]|[128, 64]``   one of the values, each read as YAML
=====================================  ==========================================================================

The test split is never touched: every trial trains with it dropped (``without_test``), so nothing is scored,
measured or drawn on it. The best trial's values are written into ``best.yaml``, a recipe to train and test once.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neuralab.directions import direction
from neuralab.errors import ConfigError, NeuralabError
from neuralab.recipes import read_recipe
from neuralab.report._figures import save_figure
from neuralab.report.html import write_tune_report
from neuralab.runs.recipe import Recipe
from neuralab.tasks import get_task, validate_recipe
from neuralab.train import Callback
from neuralab.train.engine import FitState

__all__ = ["Param", "parse_param", "tune"]

KINDS = ("log", "float", "int", "logint", "choice")
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")


@dataclass(frozen=True)
class Param:
    """One dimension of the search space."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "choice":
            index = trial.suggest_categorical(self.key, list(range(len(self.choices))))
            return self.choices[index]
        if self.kind in ("int", "logint"):
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1),
                                     log=self.kind == "logint")
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.kind == "log")

    def grid(self) -> list[Any]:
        """Every value, for the grid sampler (choices, or ints and floats on a step)."""
        if self.kind == "choice":
            return list(range(len(self.choices)))
        if self.step is None and self.kind != "int":
            raise ConfigError(f"--param {self.key}: the grid sampler needs a finite set of values: give a step "
                              f"({self.kind}:{self.low}:{self.high}:STEP) or choice:A|B")
        step = self.step or 1
        count = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        values = [self.low + i * step for i in range(count)]
        return [int(v) for v in values] if self.kind in ("int", "logint") else values


def parse_param(text: str) -> Param:
    """``KEY=KIND:ARGS`` → a :class:`Param`, or a one-line ConfigError that shows the syntax."""
    usage = ("--param takes KEY=KIND:ARGS, e.g. optimizer.lr=log:1e-4:1e-1, model.dropout=float:0:0.5, "
             "trainer.batch_size=int:16:256:16 or model.hidden_sizes=choice:[64]|[128, 64]")
    key, sep, spec = str(text).partition("=")
    key = key.strip()
    if not sep or not key or "." not in key:
        raise ConfigError(f"{usage}; got {str(text)[:80]!r}")
    kind, _, args = spec.strip().partition(":")
    if kind not in KINDS:
        raise ConfigError(f"--param {key}: unknown kind {kind[:20]!r}; use one of {', '.join(KINDS)}")
    if kind == "choice":
        try:
            choices = tuple(yaml.safe_load(part) for part in args.split("|"))
        except yaml.YAMLError:
            raise ConfigError(f"--param {key}: a choice is values separated by |, each YAML; got {args[:80]!r}") \
                from None
        if len(choices) < 2:
            raise ConfigError(f"--param {key}: a choice needs at least two values, separated by |")
        return Param(key, kind, choices=choices)
    try:
        numbers = [float(part) for part in args.split(":")]
    except ValueError:
        raise ConfigError(f"--param {key}: {kind} takes LOW:HIGH[:STEP] numbers; got {args[:80]!r}") from None
    if len(numbers) not in (2, 3) or not all(math.isfinite(n) for n in numbers):
        raise ConfigError(f"--param {key}: {kind} takes LOW:HIGH[:STEP]; got {args[:80]!r}")
    low, high = numbers[:2]
    step = numbers[2] if len(numbers) == 3 else None
    if not low < high:
        raise ConfigError(f"--param {key}: LOW must be below HIGH; got {low} and {high}")
    if kind in ("log", "logint") and low <= 0:
        raise ConfigError(f"--param {key}: a log scale needs LOW > 0; got {low}")
    if step is not None and (step <= 0 or kind in ("log", "logint")):
        raise ConfigError(f"--param {key}: a step must be > 0, and a log scale takes none")
    if kind in ("int", "logint") and not (low.is_integer() and high.is_integer()):
        raise ConfigError(f"--param {key}: int bounds must be whole numbers; got {low} and {high}")
    return Param(key, kind, low, high, step)


class _Pruning(Callback):
    """Reports each epoch's metric to the trial and stops the run when the pruner says so."""

    order = 95

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial, self.metric, self.pruned = trial, metric, False

    def on_epoch_end(self, state: FitState) -> None:
        value = state.logs.get(self.metric)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), state.epoch)
        if self.trial.should_prune():
            self.pruned, state.stop = True, True


def _metric_name(metric: str) -> str:
    """``val.rmse`` or ``val_rmse`` → ``val_rmse``."""
    return metric.strip().replace(".", "_", 1)


def tune(recipe_name: str, params: list[str], *, trials: int = 20, metric: str | None = None,
         overrides: list[str] = (), sampler: str = "tpe", pruner: str = "median", cv: int | None = None,
         out_dir: str | Path | None = None, seed: int = 0, timeout: float | None = None) -> dict[str, Any]:
    """Search the space ``params`` for the recipe's best validation ``metric``; see the module docstring.

    Returns the study's summary (also in ``out_dir/summary.json``): the best value and values, and each trial's
    number, state, values, score and seconds (``results.csv``). ``best.yaml`` is the recipe with the best values.
    """
    import optuna

    space = [parse_param(p) for p in params]
    if not space:
        raise ConfigError("give at least one --param KEY=KIND:ARGS to search")
    keys = [p.key for p in space]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--param names a key twice: {sorted(k for k in keys if keys.count(k) > 1)[0]}")
    if sampler not in SAMPLERS or pruner not in PRUNERS:
        raise ConfigError(f"--sampler is one of {', '.join(SAMPLERS)} and --pruner one of {', '.join(PRUNERS)}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"--trials must be a positive int; got {trials!r}")
    raw = read_recipe(recipe_name, list(overrides))
    base = validate_recipe(raw)
    task = get_task(base.task)
    if cv is not None and (cv < 2 or not task.cross_validation):
        raise ConfigError(f"--cv needs k >= 2 and a recipe that can be cross-validated; got {cv} for a {task.name} "
                          "recipe")
    for param in space:  # every key is checked against the recipe before the first trial trains
        validate_recipe(read_recipe(recipe_name, [*overrides, f"{param.key}={_example(param)}"]))
    monitor = _metric_name(metric) if metric else None
    out = Path(out_dir or Path("runs") / f"tune-{base.name}")
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failing trial is our one-line error, not a log
    with warnings.catch_warnings():  # Optuna marks heartbeats experimental
        warnings.simplefilter("ignore")
        # A trial whose process was killed stops beating: after the grace period it is failed and retried once.
        storage = optuna.storages.RDBStorage(
            f"sqlite:///{out.resolve() / 'study.db'}", heartbeat_interval=30, grace_period=90,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
    samplers = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed),
                "random": lambda: optuna.samplers.RandomSampler(seed=seed),
                "grid": lambda: optuna.samplers.GridSampler({p.key: p.grid() for p in space}, seed=seed)}
    pruners = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2),
               "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=2),
               "none": lambda: optuna.pruners.NopPruner()}
    monitor_name = monitor or "val_loss"
    study = optuna.create_study(study_name=base.name, storage=storage, load_if_exists=True,
                                direction="maximize" if direction(monitor_name) == "max" else "minimize",
                                sampler=samplers[sampler](), pruner=pruners[pruner]())

    def objective(trial: optuna.Trial) -> float:
        values = {p.key: p.suggest(trial) for p in space}
        sets = [*overrides, *(f"{k}={json.dumps(v)}" for k, v in values.items())]
        recipe = validate_recipe(read_recipe(recipe_name, sets))
        trial.set_user_attr("overrides", sets)
        run_dir = out / "trials" / f"trial-{trial.number:04d}"
        if cv is not None:
            from neuralab.runs.cv import cross_validate

            result = cross_validate(recipe, task, cv, out_dir=run_dir, without_test=True)
            key = (monitor or recipe.trainer.monitor or "val_loss").removeprefix("val_")
            return float(result["summary"][key]["mean"])
        pruning = _Pruning(trial, monitor or "val_loss")
        run = _train(recipe, task, run_dir, pruning)
        if pruning.pruned:
            raise optuna.TrialPruned()
        final = run.metrics()["final"].get("val", {})
        key = (monitor or run.metrics()["monitor"]).removeprefix("val_")
        if key not in final:
            raise NeuralabError(f"--metric {monitor or key}: the runs log no val_{key}; they have "
                                f"{', '.join('val_' + k for k in final) or 'no validation split'}")
        return float(final[key])

    done = lambda: sum(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)  # noqa: E731
                       for t in study.get_trials(deepcopy=False))
    if done() < trials:
        study.optimize(objective, n_trials=trials - done(), timeout=timeout, catch=(),
                       callbacks=[optuna.study.MaxTrialsCallback(
                           trials, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))])
    return _summarise(study, space, raw, out, monitor_name, sampler, pruner, cv)


def _example(param: Param) -> str:
    return json.dumps(param.choices[0]) if param.kind == "choice" else str(
        int(param.low) if param.kind in ("int", "logint") else param.low)


def _train(recipe: Recipe, task: Any, run_dir: Path, pruning: _Pruning) -> Any:
    from neuralab.runs.train import train_run

    if (run_dir / "config.yaml").exists():  # a trial interrupted by a kill starts again
        import shutil

        shutil.rmtree(run_dir)
    return train_run(recipe, task, out_dir=run_dir, callbacks=[pruning], write_report=False, without_test=True)


def _summarise(study: Any, space: list[Param], raw: dict[str, Any], out: Path, metric: str, sampler: str,
               pruner: str, cv: int | None) -> dict[str, Any]:
    import optuna

    rows = []
    for t in study.get_trials(deepcopy=False):
        values = {p.key: (p.choices[t.params[p.key]] if p.kind == "choice" else t.params[p.key])
                  for p in space if p.key in t.params}
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None
        rows.append({"trial": t.number, "state": t.state.name.lower(), "value": t.value, "seconds": seconds,
                     **values})
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["trial", "state", "value", "seconds", *(p.key for p in space)])
        writer.writeheader()
        writer.writerows(rows)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    summary: dict[str, Any] = {"study": study.study_name, "metric": metric, "direction": study.direction.name.lower(),
                               "sampler": sampler, "pruner": pruner, "cv": cv, "trials": len(rows),
                               "complete": len(complete),
                               "pruned": sum(r["state"] == "pruned" for r in rows), "rows": rows}
    if complete:
        best = study.best_trial
        values = {p.key: (p.choices[best.params[p.key]] if p.kind == "choice" else best.params[p.key])
                  for p in space}
        summary.update(best_value=best.value, best_trial=best.number, best_values=values)
        recipe = yaml.safe_load(yaml.safe_dump(raw))
        for key, value in values.items():
            node = recipe
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        recipe["name"] = f"{raw.get('name', 'recipe')}-tuned"
        recipe["description"] = (f"{raw.get('name')} with the values of trial {best.number} of "
                                 f"{len(rows)} ({metric} {best.value:.4g}, {study.direction.name.lower()}d)")
        (out / "best.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True))
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    _figures(study, out)
    write_tune_report(out, summary)
    return summary


def _figures(study: Any, out: Path) -> None:
    """Optuna's matplotlib views: the optimisation history, parameter importances, parallel coordinates."""
    from optuna.visualization import matplotlib as views

    drawn = []
    for name, draw in (("history", views.plot_optimization_history), ("importances", views.plot_param_importances),
                       ("parallel", views.plot_parallel_coordinate)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib views experimental
                ax = draw(study)
            figure = (ax[0] if hasattr(ax, "__len__") else ax).figure
            figure.set_size_inches(9, 4.8)
            figure.tight_layout()  # the parameters' names are long: keep them inside the figure
            save_figure(figure, out / f"{name}.png")
            drawn.append(name)
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # too few finished trials for this view
    (out / "figures.json").write_text(json.dumps(drawn) + "\n")
