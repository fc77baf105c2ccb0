"""Generative commands: ``sample`` draws new data from a trained generative run.

They turn flags into library calls; the models do the sampling.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from neuralab.errors import NeuralabError

console = Console()


def sample(
    run: Path = typer.Argument(..., help="A run directory of a generative model (a VAE)."),
    n: int = typer.Option(64, "-n", help="How many samples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random draws: the same seed gives the same samples."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the grid (default RUN/samples-SEED.png)."),
) -> None:
    """Draw new samples from a trained generative model and save them as an image grid.

    Example: neuralab sample runs/mnist-vae-20261123-120000 -n 64 --output samples.png
    """
    from neuralab.runs import Run

    if n < 1:
        raise NeuralabError(f"-n must be a positive number of samples; got {n}")
    loaded = Run.load(run)
    if not hasattr(loaded.model, "sample"):
        raise NeuralabError(f"{run} holds a {type(loaded.model).__name__}, which cannot sample; train a VAE, e.g. "
                            "`neuralab train mnist-vae`")
    from neuralab.report.autoencoder import samples_grid

    path = samples_grid(loaded.model, output or Path(run) / f"samples-{seed}.png", n=n, seed=seed)
    console.print(f"wrote {n} samples to {escape(str(path))}")


def register(app: typer.Typer) -> None:
    """Add the generative commands to the app."""
    app.command()(sample)
