"""Commands that show what a model is: ``summary``.

They turn flags into library calls and print results.
"""

from __future__ import annotations

from pathlib import Path

import typer

from neuralab.cli._console import console
from neuralab.errors import NeuralabError


def summary(
    target: str = typer.Argument(..., help="A recipe name or YAML file, or a run directory."),
    set_: list[str] = typer.Option([], "--set", help="Override a recipe value, e.g. --set model.conv_channels=[8,16]."),
) -> None:
    """Print each layer's output shape, parameters, receptive field and FLOPs per sample.

    \b
    Example: neuralab summary mnist-cnn
    """
    from neuralab.models import MODELS
    from neuralab.models.summary import format_summary, summarize
    from neuralab.recipes import load_recipe
    from neuralab.runs.store import read_config
    from neuralab.tasks import resolve_recipe, validate_saved

    if Path(target).is_dir():
        recipe = validate_saved(read_config(Path(target)))
    else:
        recipe = resolve_recipe(load_recipe(target, list(set_)))
    options = recipe.model.options
    if "image_size" in options:
        size = options["image_size"]
        hw = (size, size) if isinstance(size, int) else tuple(size)
        shape = (options.get("in_channels", 1), *hw)
    elif "in_features" in options:
        shape = (options["in_features"],)
    else:
        raise NeuralabError(f"summary works for models that take one tensor (mlp, cnn); {recipe.model.name!r} "
                            "takes graphs")
    model = MODELS[recipe.model.name](**options)
    console.print(format_summary(summarize(model, shape)), markup=False, highlight=False)


def filters(
    image: Path = typer.Argument(..., help="An image file (PNG, JPEG...)."),
    out: Path = typer.Option(None, "--out", "-o", help="Where to save the figure (default IMAGE-filters.png)."),
    kernel: list[str] = typer.Option([], "--kernel", "-k", help="Only these kernels (repeatable); default all."),
) -> None:
    """Apply the classic image kernels (identity, sharpen, edge detect, Sobel, blurs) and save a figure.

    \b
    Example: neuralab filters digit.png --out filters.png
    """
    from neuralab.report.filters import filter_figure

    target = out or image.with_name(f"{image.stem}-filters.png")
    console.print(f"wrote {filter_figure(image, target, kernels=list(kernel) or None)}")


def register(app: typer.Typer) -> None:
    """Add these commands to the app."""
    app.command()(summary)
    app.command()(filters)
