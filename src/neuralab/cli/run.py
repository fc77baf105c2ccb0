"""Commands on runs: ``recipes``, ``tasks``, ``train``, ``cv``, ``evaluate``, ``predict`` and ``report``.

They turn flags into library calls and print results; the work happens in :mod:`neuralab.tasks` and
:mod:`neuralab.runs`, and what a prediction means is the run's task's business.
"""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from neuralab.cli._console import console, err_console
from neuralab.cli._console import table as new_table
from neuralab.errors import DataError, NeuralabError


def recipes() -> None:
    """List the bundled recipes with a one-line description each.

    \b
    Example: neuralab recipes
    """
    from neuralab.recipes import list_recipes

    table = new_table("recipe", "description")
    for name, description in list_recipes():
        table.add_row(name, description)
    console.print(table)


def tasks() -> None:
    """List the kinds of learning problem a recipe can name as its task.

    \b
    Example: neuralab tasks
    """
    from neuralab.tasks import TASKS

    table = new_table("task", "what it learns", "run methods")
    for name, task in TASKS.items():
        table.add_row(name, task.summary, ", ".join(task.verbs))
    console.print(table)


def train(
    recipe: str = typer.Argument(None, help="A bundled recipe name (see `neuralab recipes`) or a YAML file."),
    set_: list[str] = typer.Option([], "--set", help="Override a value, e.g. --set trainer.epochs=5 (repeatable)."),
    out: Path = typer.Option(None, "--out", help="Run directory (default runs/<recipe>-<timestamp>)."),
    resume: Path = typer.Option(None, "--resume", help="Continue the run in this directory from its last checkpoint."),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda (overrides trainer.device)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (overrides trainer.seed)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Folder to look for data files in first."),
    data: Path = typer.Option(None, "--data", help="Train on your own file instead: a CSV of molecules (esol...), a "
                              "series (airline-lstm...) or a text (shakespeare-char-lstm...)."),
    smiles_column: str = typer.Option(None, "--smiles-column", help="SMILES column of --data."),
    target_column: str = typer.Option(None, "--target-column", help="Target column of --data."),
    date_column: str = typer.Option(None, "--date-column", help="Date column of a --data series (forecasting)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a recipe and write a run directory with weights, metrics, plots and report.html.

    \b
    Example: neuralab train digits-mlp --set trainer.epochs=20 --seed 1
    Example: neuralab train esol --data mols.csv --smiles-column smiles --target-column logS
    Example: neuralab train airline-lstm --data sales.csv --date-column month --target-column sales
    """
    from neuralab.recipes import apply_overrides, read_recipe
    from neuralab.tasks import task_of, train_recipe, validate_recipe
    from neuralab.train import ProgressBar
    from neuralab.train.distributed import is_main_process

    overrides = list(set_)
    for flag, key in ((device, "trainer.device"), (seed, "trainer.seed"), (data_dir, "data.data_dir"),
                      (smiles_column, "data.smiles_column"), (target_column, "data.target_column"),
                      (date_column, "data.date_column")):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    main_process = is_main_process()  # under torchrun, only rank 0 shows progress and prints
    callbacks = [] if quiet or not main_process else [ProgressBar(console=err_console)]
    if resume is not None:
        if overrides or data is not None or recipe is not None:
            raise NeuralabError("--resume continues a run with its own config; drop the recipe and --set/--seed/"
                                "--device/--data")
        run = train_recipe(resume=resume, callbacks=callbacks)
    else:
        if recipe is None:
            raise NeuralabError("give a recipe name or file (see `neuralab recipes`), or --resume RUN_DIR")
        raw = read_recipe(recipe)
        if data is not None and isinstance(raw.get("data"), dict):  # the task says which data keys point a recipe
            raw["data"].update(task_of(raw).own_data(str(data)))  # at the user's own file
        apply_overrides(raw, overrides)
        run = train_recipe(validate_recipe(raw), out_dir=out, callbacks=callbacks)
    if not main_process:
        return
    _print_metrics(run.metrics()["final"])
    console.print(f"run:    {escape(str(run.path))}")
    console.print(f"report: {escape(str(run.path / 'report.html'))}")


def cv(
    recipe: str = typer.Argument(..., help="A bundled recipe name or a YAML file (classification or regression)."),
    folds: int = typer.Option(5, "--folds", "-k", min=2, help="Number of folds."),
    set_: list[str] = typer.Option([], "--set", help="Override a value, e.g. --set trainer.epochs=5 (repeatable)."),
    out: Path = typer.Option(None, "--out", help="Folder for the fold runs and cv.json (default runs/<recipe>-cv-"
                             "<timestamp>)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (overrides trainer.seed); it also deals the folds."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Folder to look for data files in first."),
    level: float = typer.Option(0.95, "--level", min=0.5, max=0.999, help="Coverage of the interval of the mean."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Cross-validate a recipe: k runs, each validated on one fold; the test part is never used.

    Prints each fold's validation metrics and, per metric, the mean ± standard deviation with a Student-t interval
    of the mean. Each fold is a normal run directory; the summary is in cv.json.

    \b
    Example: neuralab cv digits-mlp --folds 5 --set trainer.epochs=20
    """
    from datetime import datetime

    from neuralab.recipes import load_recipe
    from neuralab.tasks import cross_validate
    from neuralab.train import ProgressBar
    from neuralab.train.distributed import is_main_process

    overrides = list(set_)
    if seed is not None:
        overrides.append(f"trainer.seed={seed}")
    if data_dir is not None:
        overrides.append(f"data.data_dir={data_dir}")
    loaded = load_recipe(recipe, overrides)
    out = out or Path("runs") / f"{loaded.name}-cv-{datetime.now():%Y%m%d-%H%M%S}"
    callbacks = [] if quiet or not is_main_process() else [ProgressBar(console=err_console)]
    result = cross_validate(loaded, folds, out_dir=out, callbacks=callbacks, level=level)
    if not is_main_process():
        return
    names = list(result["summary"])
    table = new_table("fold", *names)
    for fold in result["folds"]:
        table.add_row(str(fold["fold"]), *(f"{fold['val'][n]:.4g}" for n in names))
    console.print(table)
    summary = new_table("validation metric", "mean ± std", f"{level:.0%} interval of the mean")
    for name, s in result["summary"].items():
        summary.add_row(name, f"{s['mean']:.4g} ± {s['std']:.2g}", escape(f"[{s['low']:.4g}, {s['high']:.4g}]"))
    console.print(summary)
    console.print(f"folds:  {escape(str(out))}")


def evaluate(
    run: Path = typer.Argument(..., help="A run directory."),
    split: str = typer.Option("test", help="train, val or test."),
) -> None:
    """Recompute the loss and metrics of a trained run on one split of its data.

    \b
    Example: neuralab evaluate runs/digits-mlp-20261123-120000 --split test
    """
    from neuralab.tasks import load_run

    _print_metrics({split: load_run(run).evaluate(split)})


def predict(
    run: Path = typer.Argument(..., help="A run directory."),
    inputs: list[str] = typer.Argument(None, help="What to predict: feature files (.csv/.npy), images, SMILES "
                                       "strings, prompts or words, as the run's task takes."),
    input_file: Path = typer.Option(None, "--input", "-i", help="A CSV of molecules (molecular runs), or the "
                                    "history to forecast from (forecasting runs)."),
    smiles_column: str = typer.Option(None, "--smiles-column", help="The SMILES column of --input (default smiles)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write predictions to this CSV instead of printing."),
    level: float = typer.Option(None, "--level", help="Nominal coverage of the interval (regression and "
                                "forecasting runs; default 0.9)."),
    method: str = typer.Option(None, "--method", help="Interval: conformal (default), normal (the course's) or "
                               "ensemble."),
    uncalibrated: bool = typer.Option(False, "--uncalibrated", help="Classifiers: the raw softmax, without the "
                                      "temperature fitted on the validation set."),
    k: int = typer.Option(None, "-k", help="Word embeddings: how many nearest words (default 5)."),
    length: int = typer.Option(None, "--length", help="Language models: characters to generate (default 500)."),
    temperature: float = typer.Option(None, "--temperature", help="Language models: below 1 safer, above 1 wilder "
                                      "(default 1)."),
    seed: int = typer.Option(None, "--seed", help="Language models: seed of the sampling (default 0)."),
) -> None:
    """Predict with a trained run: one row per input, and the reason for any input that could not be predicted.

    \b
    Example: neuralab predict runs/solubility-20261123-120000 "CCO" "c1ccccc1O"
    Example: neuralab predict runs/digits-mlp-20261123-120000 samples.csv --output preds.csv
    Example: neuralab predict runs/mnist-cnn-20261123-120000 digit.png
    Example: neuralab predict runs/airline-lstm-20261123-120000 --input recent.csv
    Example: neuralab predict runs/shakespeare-char-lstm-20261123-120000 "ROMEO:" --length 200
    Example: neuralab predict runs/republic-word2vec-20261123-120000 justice virtue -k 5
    """
    from neuralab.tasks import load_run

    loaded = load_run(run)
    if output is not None:
        _check_writable(output)
    options = {"input_file": input_file, "smiles_column": smiles_column, "level": level, "method": method,
               "calibrated": False if uncalibrated else None, "k": k, "length": length, "temperature": temperature,
               "seed": seed}
    preds = loaded.task.predict(loaded, list(inputs or []), **{k: v for k, v in options.items() if v is not None})
    if output is None and preds.file_only:
        raise NeuralabError(preds.file_only)
    if output is not None:
        _write_csv(output, preds.columns, preds.flat())
        console.print(f"wrote {len(preds.rows)} predictions to {escape(str(output))}")
    else:
        if preds.title:
            console.print(escape(preds.title))
        console.print(_table(preds))
    if preds.failed:
        err_console.print(escape(preds.failed_note.format(failed=preds.failed, total=len(preds.rows))))


def _table(preds: object) -> Table:
    """The rows as a terminal table; a failed row shows its error in red in the last column."""
    table = new_table(*(escape(header) for header, _ in preds.table))
    for row in preds.rows:
        error = row.get(preds.error_column)
        if error:
            cells = [escape(str(preds.table[0][1](row)))] + ["-"] * (len(preds.table) - 2)
            table.add_row(*cells, f"[red]{escape(str(error))}[/]")
        else:  # every cell is user text (SMILES, file names), never rich markup: '[nH]' must print as is
            table.add_row(*(escape(str(cell(row))) for _, cell in preds.table))
    return table


def _check_writable(path: Path) -> None:
    """A one-line error before any work when ``path`` cannot take the predictions (a folder, say)."""
    try:
        if path.is_dir():
            raise DataError(f"cannot write the predictions to {path}: it is a folder; give a file name such as "
                            f"{path / 'predictions.csv'}")
    except OSError as exc:
        raise DataError(f"cannot write the predictions to {path}: {exc.strerror or exc}") from None


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as exc:
        raise DataError(f"cannot write the predictions to {path}: {exc.strerror or exc}") from None


def report(run: Path = typer.Argument(..., help="A run directory.")) -> None:
    """(Re)write a run's plots and self-contained report.html.

    \b
    Example: neuralab report runs/digits-mlp-20261123-120000
    """
    from neuralab.report import write_report

    console.print(f"report: {escape(str(write_report(run)))}")


def _print_metrics(final: dict[str, dict[str, float]]) -> None:
    names = sorted({k for split in final.values() for k in split})
    table = new_table("split", *names)
    for split, values in final.items():
        table.add_row(split, *(f"{values[k]:.4f}" if values.get(k) is not None else "-" for k in names))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add these commands to the app."""
    app.command()(recipes)
    app.command()(tasks)
    app.command()(train)
    app.command()(cv)
    app.command()(evaluate)
    app.command()(predict)
    app.command()(report)
