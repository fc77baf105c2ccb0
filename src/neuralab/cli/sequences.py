"""Word-embedding commands: ``similar`` and ``analogy`` on a trained word2vec run.

They turn arguments into :class:`~neuralab.runs.Run` calls and print the answers; the maths is in the model.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from neuralab.cli._console import console
from neuralab.cli._console import table as new_table


def _print_words(pairs: list[tuple[str, float]]) -> None:
    table = new_table("word", "cosine similarity")
    for word, score in pairs:
        table.add_row(escape(word), f"{score:.3f}")
    console.print(table)


def similar(
    run: Path = typer.Argument(..., help="A run directory of word embeddings (e.g. republic-word2vec)."),
    word: str = typer.Argument(..., help="The word to find neighbours of."),
    k: int = typer.Option(10, "-k", help="How many neighbours."),
) -> None:
    """The words whose vectors are nearest to WORD's, by cosine similarity.

    \b
    Example: neuralab similar runs/republic-word2vec-20261123-120000 justice -k 10
    """
    from neuralab.tasks import load_run

    _print_words(load_run(run).similar(word, k=k))  # a run of another task says which runs have it


def analogy(
    run: Path = typer.Argument(..., help="A run directory of word embeddings (e.g. republic-word2vec)."),
    a: str = typer.Argument(..., help="A word..."),
    b: str = typer.Argument(..., help="...is to this word..."),
    c: str = typer.Argument(..., help="...as this word is to the answer."),
    k: int = typer.Option(5, "-k", help="How many answers."),
) -> None:
    """Answer "A is to B as C is to ?" with the words nearest to B − A + C.

    \b
    Example: neuralab analogy runs/republic-word2vec-20261123-120000 man woman king
    """
    from neuralab.tasks import load_run

    answers = load_run(run).analogy(a, b, c, k=k)
    console.print(f"{escape(a)} is to {escape(b)} as {escape(c)} is to ...")
    _print_words(answers)


def register(app: typer.Typer) -> None:
    """Add the word-embedding commands to the app."""
    app.command()(similar)
    app.command()(analogy)
