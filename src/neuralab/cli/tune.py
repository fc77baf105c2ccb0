"""``neuralab tune``: hyper-parameter search of a recipe with Optuna (see :mod:`neuralab.tune`).

It turns flags into a :func:`neuralab.tune.tune` call and prints the best trial; the search is the library's.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from neuralab.cli._console import console
from neuralab.cli._console import table as new_table


def tune(
    recipe: str = typer.Argument(..., help="A bundled recipe name or a YAML file."),
    param: list[str] = typer.Option(..., "--param", "-p", help="KEY=KIND:ARGS, repeatable: optimizer.lr=log:1e-4:1e-1, "
                                    "model.dropout=float:0:0.5, trainer.batch_size=int:16:256:16, "
                                    "model.hidden_sizes=choice:[64]|[128, 64]."),
    trials: int = typer.Option(20, "--trials", "-n", help="Trials in the study (all processes together)."),
    metric: str = typer.Option(None, "--metric", help="The validation metric to optimise, val.rmse or val_rmse "
                               "(default: the recipe's monitor); its direction is known."),
    sets: list[str] = typer.Option(None, "--set", help="Fixed overrides for every trial, e.g. trainer.epochs=30."),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe, random or grid."),
    pruner: str = typer.Option("median", "--pruner", help="median, hyperband or none (pruning needs epochs)."),
    cv: int = typer.Option(None, "--cv", help="Score each trial by k-fold cross-validation instead."),
    out: Path = typer.Option(None, "--out", help="The study's folder (default runs/tune-RECIPE); rerun the same "
                             "command to resume it, or run it in several terminals to share the work."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler."),
    timeout: float = typer.Option(None, "--timeout", help="Stop starting trials after this many seconds."),
) -> None:
    """Search hyper-parameters on the validation split (the test split is never used) and write the best recipe.

    \b
    Example: neuralab tune esol-mlp -p optimizer.lr=log:1e-4:1e-1 -p "model.hidden_sizes=choice:[64]|[256,128]" -n 30
    Example: neuralab tune digits-mlp -p model.dropout=float:0:0.5:0.1 --sampler grid --pruner none
    """
    from neuralab.tune import tune as run_tune

    summary = run_tune(recipe, list(param), trials=trials, metric=metric, overrides=list(sets or []),
                       sampler=sampler, pruner=pruner, cv=cv, out_dir=out, seed=seed, timeout=timeout)
    folder = Path(out or Path("runs") / f"tune-{summary['study']}")
    console.print(f"{summary['trials']} trials: {summary['complete']} complete, {summary['pruned']} pruned")
    if summary.get("best_values"):
        table = new_table("key", "best value")
        for key, value in summary["best_values"].items():
            table.add_row(escape(key), escape(str(value)))
        console.print(table)
        console.print(f"best {escape(summary['metric'])} {summary['best_value']:.5g} (trial {summary['best_trial']})")
        console.print(f"recipe:  {escape(str(folder / 'best.yaml'))}")
    console.print(f"report:  {escape(str(folder / 'report.html'))}")


def register(app: typer.Typer) -> None:
    """Add the tuning command to the app."""
    app.command()(tune)
