"""Experiment commands: ``vanishing`` trains Elman RNN, LSTM and GRU on a long-range task over increasing lengths.

They turn flags into library calls and print the results; the experiments live in :mod:`neuralab.experiments`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from neuralab.cli._console import console
from neuralab.errors import NeuralabError


def _split(values: list[str]) -> list[str]:
    """``["10,25", "50 100"]`` → ``["10", "25", "50", "100"]``: comma or space separated, flags repeatable."""
    return [item for value in values for item in re.split(r"[,\s]+", value.strip()) if item]


def _lengths(values: list[str]) -> list[int]:
    """The ``--lengths`` values as ints, or a one-line error."""
    try:
        return [int(v) for v in _split(values)]
    except ValueError:
        raise NeuralabError(f"--lengths must be integers >= 2, e.g. --lengths 10,25,50; got {' '.join(values)!r}") \
            from None


def vanishing(
    task: str = typer.Option("adding", "--task", help="adding (MSE) or copy (accuracy)."),
    lengths: list[str] = typer.Option(["10,25,50,100"], "--lengths",
                                      help="Sequence lengths, comma separated or repeated: --lengths 10,25,50."),
    cells: list[str] = typer.Option(["rnn,lstm,gru"], "--cells", help="Cells, comma separated or repeated."),
    epochs: int = typer.Option(10, "--epochs", help="Epochs over the training sequences of each length."),
    hidden_size: int = typer.Option(64, "--hidden-size", help="Width of the hidden state."),
    n_train: int = typer.Option(8192, "--n-train", help="Training sequences per length."),
    batch_size: int = typer.Option(64, "--batch-size", help="Batch size."),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate (default 1e-2 for adding, 3e-3 for copy)."),
    forget_bias: float = typer.Option(1.0, "--forget-bias", help="Added to the LSTM's forget-gate bias; 0: torch's."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data and the initial weights."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    threads: int = typer.Option(1, "--threads", help="Torch CPU threads; 1 is fastest for these small networks."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default runs/vanishing-TASK)."),
) -> None:
    """Train an Elman RNN, an LSTM and a GRU on a long-range task at increasing lengths; plot score and gradients.

    Writes score_vs_length.png, gradient_norms.png and results.json. The defaults take a few minutes on 2 cores.

    \b
    Example: neuralab vanishing --task adding --lengths 10,25,50,100 --cells rnn,lstm,gru --epochs 10 --out runs/v
    """
    import torch

    from neuralab.experiments import plot_vanishing, run_vanishing

    if threads < 1:
        raise NeuralabError(f"--threads must be a positive int; got {threads}")
    # A step of a 64-unit RNN is far too small to split: with 2 threads OpenMP's spin-waits cost more than they
    # save, by 5-80x on a shared 2-core machine.
    torch.set_num_threads(threads)
    folder = out or Path("runs") / f"vanishing-{task}"
    metric = "test MSE" if task == "adding" else "test accuracy"

    def show(record: dict) -> None:
        value = record.get("test_mse", record.get("test_accuracy"))
        console.print(f"{record['cell']:>4}  T={record['length']:<4} {metric} {value:.4f}  "
                      f"{'solved' if record['solved'] else 'not solved'}  ({record['time_s']:.1f} s)", highlight=False)

    results = run_vanishing(task=task, lengths=_lengths(lengths), cells=_split(cells), hidden_size=hidden_size,
                            epochs=epochs, n_train=n_train, batch_size=batch_size, lr=lr, forget_bias=forget_bias,
                            seed=seed, device=device, progress=show)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    paths = plot_vanishing(results, folder)
    adding = task == "adding"
    console.print(f"{task} task, {metric} (* solved: "
                  f"{'below' if adding else 'at least'} {results['solved_threshold']:.4g}; "
                  f"{'predicting 1.0 scores' if adding else 'chance is'} {results['baseline']:.4g})", highlight=False)
    console.print(_table(results))
    for path in [folder / "results.json", *paths]:
        console.print(f"wrote {escape(str(path))}", highlight=False)


def _table(results: dict) -> Table:
    """One row per cell, one column per length: the score, starred when solved."""
    metric = results["metric"]
    table = Table()
    table.add_column("cell")
    for length in results["lengths"]:
        table.add_column(f"T={length}", justify="right")
    for cell in results["cells"]:
        by_length = {r["length"]: r for r in results["runs"] if r["cell"] == cell}
        table.add_row(cell, *(f"{by_length[t][metric]:.4f}{'*' if by_length[t]['solved'] else ''}"
                              for t in results["lengths"]))
    return table


LAB = ("perceptron", "activations", "universal", "backprop", "descent", "batch", "capacity", "intervals")


def lab(
    experiment: str = typer.Argument(..., help="perceptron, activations, universal, backprop, descent, batch, "
                                     "capacity or intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data and the initial weights."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default runs/lab-EXPERIMENT)."),
) -> None:
    """Run one of the foundations lab's experiments: figures and a page (index.html) with the formula and what to
    look for, in under a minute on a CPU.

    \b
    Example: neuralab lab perceptron      # Rosenblatt's rule: separable data, XOR, and an MLP that solves XOR
    Example: neuralab lab activations     # every activation and its derivative
    Example: neuralab lab descent         # SGD, momentum, Nesterov, Adagrad, RMSprop, Adam, Quickprop on 2-D surfaces
    Example: neuralab lab backprop        # the course's formulas without autograd, a 2-2-1 example to check by hand
    Example: neuralab lab universal       # one hidden layer of 1, 3, 10, 50 units fits sin, |x| and a step
    Example: neuralab lab capacity        # under- and over-fitting by width, early stopping, L1, L2 and dropout
    Example: neuralab lab batch           # full batch, mini-batch and online learning, by epoch and by second
    Example: neuralab lab intervals       # the course's ŷ ± z·√MSE_val against conformal and ensemble intervals
    """
    from neuralab.errors import did_you_mean
    from neuralab.experiments.backprop import run_backprop
    from neuralab.experiments.capacity import run_capacity, run_universal
    from neuralab.experiments.descent import run_activations, run_descent
    from neuralab.experiments.perceptron import run_perceptron
    from neuralab.experiments.training import run_batch_size, run_intervals

    if experiment not in LAB:
        raise NeuralabError(f"unknown experiment {experiment[:40]!r}{did_you_mean(experiment, LAB)}; choose from "
                            f"{', '.join(LAB)}")
    folder = Path(out or Path("runs") / f"lab-{experiment}")
    run = {"perceptron": run_perceptron, "activations": run_activations, "descent": run_descent,
           "backprop": run_backprop, "universal": run_universal, "capacity": run_capacity, "batch": run_batch_size,
           "intervals": run_intervals}[experiment]
    result = run(folder, seed=seed)
    for line in result.get("lines", []):  # the worked example, to follow with a calculator
        console.print(escape(line), soft_wrap=True)
    console.print(f"page:    {escape(str(folder / 'index.html'))}", soft_wrap=True)  # a path to copy, unbroken


def register(app: typer.Typer) -> None:
    """Add the experiment commands to the app."""
    app.command()(vanishing)
    app.command()(lab)
