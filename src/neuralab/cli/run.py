"""Commands on runs: ``recipes``, ``train``, ``evaluate``, ``predict`` and ``report``.

They turn flags into library calls and print results; the work happens in :mod:`neuralab.runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from neuralab.errors import NeuralabError

console = Console()
err_console = Console(stderr=True)


def recipes() -> None:
    """List the bundled recipes with a one-line description each.

    Example: neuralab recipes
    """
    from neuralab.recipes import list_recipes

    table = Table("recipe", "description", box=None)
    for name, description in list_recipes():
        table.add_row(name, description)
    console.print(table)


def train(
    recipe: str = typer.Argument(None, help="A bundled recipe name (see `neuralab recipes`) or a YAML file."),
    set_: list[str] = typer.Option([], "--set", help="Override a value, e.g. --set trainer.epochs=5 (repeatable)."),
    out: Path = typer.Option(None, "--out", help="Run directory (default runs/<recipe>-<timestamp>)."),
    resume: Path = typer.Option(None, "--resume", help="Continue the run in this directory from its last checkpoint."),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda (overrides trainer.device)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (overrides trainer.seed)."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Folder to look for data files in first."),
    data: Path = typer.Option(None, "--data", help="Train on your own CSV of molecules instead (with a molecular "
                              "recipe such as esol)."),
    smiles_column: str = typer.Option(None, "--smiles-column", help="SMILES column of --data."),
    target_column: str = typer.Option(None, "--target-column", help="Target column of --data."),
    date_column: str = typer.Option(None, "--date-column", help="Date column of a --data series (forecasting)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a recipe and write a run directory with weights, metrics, plots and report.html.

    Example: neuralab train digits-mlp --set trainer.epochs=20 --seed 1
    Example: neuralab train esol --data mols.csv --smiles-column smiles --target-column logS
    Example: neuralab train airline-lstm --data sales.csv --date-column month --target-column sales
    """
    from neuralab.recipes import load_recipe
    from neuralab.runs import train_recipe
    from neuralab.train import ProgressBar

    overrides = list(set_)
    if device is not None:
        overrides.append(f"trainer.device={device}")
    if seed is not None:
        overrides.append(f"trainer.seed={seed}")
    if data_dir is not None:
        overrides.append(f"data.data_dir={data_dir}")
    if data is not None:
        overrides += ["data.name=csv", f"data.path={data}", "data.split=random"]
    if smiles_column is not None:
        overrides.append(f"data.smiles_column={smiles_column}")
    if target_column is not None:
        overrides.append(f"data.target_column={target_column}")
    if date_column is not None:
        overrides.append(f"data.date_column={date_column}")
    from neuralab.train.distributed import is_main_process

    main_process = is_main_process()  # under torchrun, only rank 0 shows progress and prints
    callbacks = [] if quiet or not main_process else [ProgressBar(console=err_console)]
    if resume is not None:
        if overrides:
            raise NeuralabError("--resume continues a run with its own config; drop --set/--seed/--device")
        run = train_recipe(resume=resume, callbacks=callbacks)
    else:
        if recipe is None:
            raise NeuralabError("give a recipe name or file (see `neuralab recipes`), or --resume RUN_DIR")
        run = train_recipe(load_recipe(recipe, overrides), out_dir=out, callbacks=callbacks)
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

    Example: neuralab cv digits-mlp --folds 5 --set trainer.epochs=20
    """
    from datetime import datetime

    from neuralab.recipes import load_recipe
    from neuralab.runs.cv import cross_validate
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
    table = Table("fold", *names, box=None)
    for fold in result["folds"]:
        table.add_row(str(fold["fold"]), *(f"{fold['val'][n]:.4g}" for n in names))
    console.print(table)
    summary = Table("validation metric", "mean ± std", f"{level:.0%} interval of the mean", box=None)
    for name, s in result["summary"].items():
        summary.add_row(name, f"{s['mean']:.4g} ± {s['std']:.2g}", escape(f"[{s['low']:.4g}, {s['high']:.4g}]"))
    console.print(summary)
    console.print(f"folds:  {escape(str(out))}")


def evaluate(
    run: Path = typer.Argument(..., help="A run directory."),
    split: str = typer.Option("test", help="train, val or test."),
) -> None:
    """Recompute the loss and metrics of a trained run on one split of its data.

    Example: neuralab evaluate runs/digits-mlp-20261123-120000 --split test
    """
    from neuralab.runs import Run

    result = Run.load(run).evaluate(split)
    _print_metrics({split: result})


def predict(
    run: Path = typer.Argument(..., help="A run directory."),
    inputs: list[str] = typer.Argument(None, help="Feature files (.csv/.npy), or SMILES strings for a molecular run."),
    input_file: Path = typer.Option(None, "--input", "-i", help="A CSV of molecules (molecular runs), or the "
                                    "history to forecast from (forecasting runs)."),
    smiles_column: str = typer.Option("smiles", "--smiles-column", help="The SMILES column of --input."),
    output: Path = typer.Option(None, "--output", "-o", help="Write predictions to this CSV instead of printing."),
    level: float = typer.Option(0.9, "--level", help="Nominal coverage of the interval (molecular and "
                                "forecasting runs)."),
    method: str = typer.Option("conformal", "--method", help="Interval: conformal, normal (the course's) or ensemble."),
) -> None:
    """Predict with a trained run.

    Example: neuralab predict runs/solubility-20261123-120000 "CCO" "c1ccccc1O"
    Example: neuralab predict runs/digits-mlp-20261123-120000 samples.csv --output preds.csv
    Example: neuralab predict runs/mnist-cnn-20261123-120000 digit.png
    Example: neuralab predict runs/airline-lstm-20261123-120000 --input recent.csv
    """
    from neuralab.runs import MOLECULAR, Run

    model = Run.load(run)
    if model.task == "forecasting":  # before the molecular check: a user's series is data.name=csv too
        if len(inputs or []) > 1 or (inputs and input_file is not None):
            raise NeuralabError("a forecasting run takes one history CSV (--input series.csv), or none to forecast "
                                "after the end of its own series")
        _predict_forecast(model, input_file or (Path(inputs[0]) if inputs else None), output, level)
        return
    if model.recipe.data.name in MOLECULAR:
        _predict_molecules(model, inputs or [], input_file, smiles_column, output, level, method)
        return
    if not inputs:
        raise NeuralabError("give one or more input files (.csv with one row of features per sample, or .npy)")
    from neuralab.data.prepared import ImageInputs

    images = isinstance(model.inputs, ImageInputs) and not all(p.endswith((".csv", ".npy")) for p in inputs)
    if model.task == "reconstruction":
        _predict_codes(model, inputs, images, output)
    elif images:
        _predict_images(model, inputs, output)
    else:
        _predict_table(model, inputs, output)


def _predict_forecast(model: Any, history_file: Path | None, output: Path | None, level: float) -> None:
    """The next ``horizon`` values with their conformal interval, after a history file or the run's own series."""
    history = None
    if history_file is not None:
        from neuralab.data.timeseries import load_series

        cfg = model.recipe.data
        history = load_series(history_file, date_column=cfg.date_column, fill=cfg.fill).values
    pred, low, high = model.forecast(history, level=level)
    rows = [[str(h), f"{p:.4g}", f"{lo:.4g}", f"{hi:.4g}"] for h, (p, lo, hi) in enumerate(zip(pred, low, high), 1)]
    if output is not None:
        _write_csv(output, ["step", "forecast", "low", "high"], rows)
        return
    after = escape(str(history_file)) if history_file is not None else "the run's own series"
    console.print(f"forecast after the end of {after}:")
    table = Table("step", "forecast", f"{level:.0%} interval", box=None)
    for step, p, lo, hi in rows:
        table.add_row(f"+{step}", p, escape(f"[{lo}, {hi}]"))
    console.print(table)


def _predict_codes(model: Any, inputs: list[str], images: bool, output: Path | None) -> None:
    """An autoencoder's anomaly score and code for each input (images or feature files)."""
    errors: dict[str, str] = {}
    if images:  # an unreadable image gets its error in its row; the others are still scored
        read, errors = _read_digit_images(inputs)
        names = [p for p in inputs if p not in errors]
        x = np.concatenate([read[p] for p in names])
    else:
        from neuralab.data.features import read_features

        x = np.concatenate([read_features(p) for p in inputs])
        names = [str(i) for i in range(len(x))]
    scores, codes = model.anomaly_score(x), model.transform(x)
    results = {name: (s, code) for name, s, code in zip(names, scores, codes)}
    order = inputs if images else names
    if output is not None:
        header = ["input", "anomaly_score", *(f"z{j}" for j in range(codes.shape[1])), "error"]
        rows = [[name, "", *([""] * codes.shape[1]), errors[name]] if name in errors else
                [name, f"{results[name][0]:.3f}", *(f"{v:.4f}" for v in results[name][1]), ""] for name in order]
        _write_csv(output, header, rows)
    else:
        table = Table("input", "anomaly score (nats)", "code", box=None)
        for name in order:
            if name in errors:
                table.add_row(escape(name), "-", f"[red]{escape(errors[name].removeprefix(f'{name}: '))}[/]")
                continue
            s, code = results[name]
            shown = " ".join(f"{v:+.2f}" for v in code[:6]) + (" ..." if len(code) > 6 else "")
            table.add_row(escape(name), f"{s:.2f}", shown)
        console.print(table)
    _report_unreadable(order, errors)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    console.print(f"wrote {len(rows)} rows to {escape(str(path))}")


def _read_digit_images(paths: list[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each readable path's MNIST-shaped image, and each unreadable path's error; fails only if none is readable."""
    from neuralab.data.digit_images import load_digit_images
    from neuralab.errors import DataError

    images, errors = {}, {}
    for path in paths:
        try:
            images[path] = load_digit_images([path])
        except DataError as err:
            errors[path] = str(err)
    if not images:
        n = len(errors) - 1
        more = f" (and {n} more unreadable file{'s' if n > 1 else ''})" if n else ""
        raise DataError(next(iter(errors.values())) + more)
    return images, errors


def _report_unreadable(paths: list[str], errors: dict[str, str]) -> None:
    if errors:
        failed = sum(path in errors for path in paths)  # a path given twice has two rows
        err_console.print(f"{failed} of {len(paths)} images could not be read (see their rows)")


def _predict_images(model: Any, paths: list[str], output: Path | None) -> None:
    """Digit images of any size or colours, prepared as MNIST was (crop, 20x20 box in 28x28, centred by mass).

    An unreadable file gets its error in its own row and the others are still predicted; only when no file can be
    read does the command fail.
    """
    images, errors = _read_digit_images(paths)
    proba = dict(zip(images, model.predict_proba(np.concatenate(list(images.values())))))
    classes = [str(c) for c in model.classes]
    if output is not None:
        rows = [[path, "", *([""] * len(classes)), errors[path]] if path in errors else
                [path, classes[int(np.argmax(proba[path]))], *(f"{v:.4f}" for v in proba[path]), ""] for path in paths]
        _write_csv(output, ["image", "prediction", *(f"p_{c}" for c in classes), "error"], rows)
    else:
        table = Table(box=None)
        table.add_column("image", overflow="fold")
        table.add_column("class")
        table.add_column("top 3", overflow="fold")
        for path in paths:
            if path in errors:  # the row names the file: the message need not repeat it
                table.add_row(escape(path), "-", f"[red]{escape(errors[path].removeprefix(f'{path}: '))}[/]")
                continue
            p = proba[path]
            top = np.argsort(p)[::-1][:3]
            table.add_row(escape(path), escape(classes[top[0]]), "  ".join(f"{classes[i]}: {p[i]:.1%}" for i in top))
        console.print(table)
    _report_unreadable(paths, errors)


def _predict_table(model: Any, inputs: list[str], output: Path | None) -> None:
    from neuralab.data.features import read_features

    x = np.concatenate([read_features(p) for p in inputs])
    pred = model.predict(x)
    header = ["prediction"]
    columns = [pred.astype(str)]
    if model.task == "classification":
        proba = model.predict_proba(x)
        header += [f"p_{c}" for c in model.classes]
        columns += [np.char.mod("%.4f", proba[:, j]) for j in range(proba.shape[1])]
    rows = [list(r) for r in zip(*columns)]
    if output is not None:
        _write_csv(output, header, rows)
        return
    table = Table("row", *header, box=None)
    for i, r in enumerate(rows):
        table.add_row(str(i), *r)
    console.print(table)


def _predict_molecules(run: Any, smiles: list[str], input_file: Path | None, smiles_column: str,
                       output: Path | None, level: float, method: str) -> None:
    from neuralab.chem.model import SolubilityModel, predict_csv

    model = SolubilityModel(run)
    if input_file is not None:
        if output is None:
            raise NeuralabError("--input needs --output FILE.csv for the predictions")
        rows, failed = predict_csv(model, input_file, smiles_column=smiles_column, output=output, level=level,
                                   method=method)
        if failed:
            err_console.print(f"{failed} of {rows} rows could not be parsed (see the error column)")
        console.print(f"wrote {rows} predictions to {escape(str(output))}")
        return
    if not smiles:
        raise NeuralabError("give SMILES strings, e.g. neuralab predict RUN \"CCO\", or --input mols.csv")
    preds = model.predict_table(smiles, level=level, method=method)
    if all(p.error for p in preds):
        raise NeuralabError(f"no SMILES could be parsed; {preds[0].smiles!r}: {preds[0].error}")
    table = Table("SMILES", "logS", f"{level:.0%} interval", "similarity", "note", box=None)
    for p in preds:  # SMILES and RDKit's messages are user text, not rich markup: '[nH]' or '[/]' must print as is
        if p.error:
            table.add_row(escape(p.smiles), "-", "-", "-", f"[red]{escape(p.error)}[/]")
        else:
            table.add_row(escape(p.smiles), f"{p.value:.2f}", escape(f"[{p.low:.2f}, {p.high:.2f}]"),
                          f"{p.similarity:.2f}", p.warning or "")
    console.print(table)


def report(run: Path = typer.Argument(..., help="A run directory.")) -> None:
    """(Re)write a run's plots and self-contained report.html.

    Example: neuralab report runs/digits-mlp-20261123-120000
    """
    from neuralab.report import write_report

    console.print(f"report: {escape(str(write_report(run)))}")


def _print_metrics(final: dict[str, dict[str, float]]) -> None:
    names = sorted({k for split in final.values() for k in split})
    table = Table("split", *names, box=None)
    for split, values in final.items():
        table.add_row(split, *(f"{values[k]:.4f}" if values.get(k) is not None else "-" for k in names))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add these commands to the app."""
    app.command()(recipes)
    app.command()(train)
    app.command()(cv)
    app.command()(evaluate)
    app.command()(predict)
    app.command()(report)
