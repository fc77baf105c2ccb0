"""Generative commands: ``sample`` draws new data from a trained generative run (a VAE's images, a language
model's text).

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
    run: Path = typer.Argument(..., help="A run directory of a generative model (a VAE or a language model)."),
    n: int = typer.Option(64, "-n", help="How many samples (VAE)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random draws: the same seed gives the same samples."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the grid (default RUN/samples-SEED.png)."),
    prompt: str = typer.Option(None, "--prompt", help="Text to continue (language model; default a new line)."),
    temperature: float = typer.Option(None, "--temperature", help="Below 1 safer, above 1 wilder text (language "
                                      "model; default 1)."),
    length: int = typer.Option(None, "--length", help="Characters to generate (language model; default 500)."),
) -> None:
    """Draw new samples from a trained generative model: an image grid from a VAE, text from a language model.

    Example: neuralab sample runs/mnist-vae-20261123-120000 -n 64 --output samples.png
    Example: neuralab sample runs/shakespeare-char-lstm-20261123-120000 --prompt "ROMEO:" --temperature 0.8
    """
    from neuralab.runs import Run

    loaded = Run.load(run)
    if loaded.task == "language_model":
        text = loaded.generate("\n" if prompt is None else prompt, length=500 if length is None else length,
                               temperature=1.0 if temperature is None else temperature, seed=seed)
        typer.echo(text)  # plain text: no rich markup in what the model wrote
        return
    if prompt is not None or temperature is not None or length is not None:
        raise NeuralabError(f"--prompt, --temperature and --length are for language-model runs; {run} is a "
                            f"{loaded.task} run")
    if n < 1:
        raise NeuralabError(f"-n must be a positive number of samples; got {n}")
    if not hasattr(loaded.model, "sample"):
        raise NeuralabError(f"{run} holds a {type(loaded.model).__name__}, which cannot sample; train a VAE, e.g. "
                            "`neuralab train mnist-vae`")
    from neuralab.report.images import samples_grid

    path = samples_grid(loaded.model, output or Path(run) / f"samples-{seed}.png", n=n, seed=seed)
    console.print(f"wrote {n} samples to {escape(str(path))}")


def register(app: typer.Typer) -> None:
    """Add the generative commands to the app."""
    app.command()(sample)
