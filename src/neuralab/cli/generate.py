"""Generative commands: ``sample`` draws new data from a trained generative run (a VAE's images, a language
model's text).

They turn flags into library calls; the run's task does the sampling.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from neuralab.cli._console import console


def sample(
    run: Path = typer.Argument(..., help="A run directory of a generative model (a GAN, a VAE, an RBM or a language "
                               "model)."),
    n: int = typer.Option(None, "-n", help="How many samples (VAE; default 64)."),
    seed: int = typer.Option(None, "--seed", help="Seed of the random draws: the same seed gives the same samples."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the samples (default RUN/samples-SEED.png "
                                "for images; text is printed)."),
    prompt: str = typer.Option(None, "--prompt", help="Text to continue (language model; default a new line)."),
    temperature: float = typer.Option(None, "--temperature", help="Below 1 safer, above 1 wilder text (language "
                                      "model; default 1)."),
    length: int = typer.Option(None, "--length", help="Characters to generate (language model; default 500)."),
    steps: int = typer.Option(None, "--steps", help="Gibbs steps (RBM, DBN; default 1000)."),
    start: str = typer.Option(None, "--start", help="Where the Gibbs chains start: noise (default) or data, the "
                              "run's test images (RBM, DBN)."),
    label: int = typer.Option(None, "--label", help="The class to draw (conditional GAN)."),
) -> None:
    """Draw new samples from a trained generative model: an image grid from a VAE or an RBM (with a GIF of its
    Gibbs chains), text from a language model.

    \b
    Example: neuralab sample runs/mnist-vae-20261123-120000 -n 64 --output samples.png
    Example: neuralab sample runs/shakespeare-char-lstm-20261123-120000 --prompt "ROMEO:" --temperature 0.8
    Example: neuralab sample runs/digits-rbm-20261123-120000 --steps 2000 --start data
    Example: neuralab sample runs/mnist-cgan-20261206-120000 --label 7 -n 16
    """
    from neuralab.tasks import load_run

    loaded = load_run(run)
    options = {"n": n, "seed": seed, "prompt": prompt, "temperature": temperature, "length": length, "steps": steps,
               "start": start, "label": label}
    result = loaded.task.write_samples(loaded, output, **{k: v for k, v in options.items() if v is not None})
    if result.startswith("wrote "):
        console.print(escape(result))
    else:
        typer.echo(result)  # plain text: no rich markup in what the model wrote


def register(app: typer.Typer) -> None:
    """Add the generative commands to the app."""
    app.command()(sample)
