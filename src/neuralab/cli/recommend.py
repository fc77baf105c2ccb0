"""Recommender commands: ``recommend`` (a user's or a new user's top-k) and ``similar-items``.

They turn arguments into :class:`~neuralab.runs.Run` calls and print the answers; the maths is in the task and the
model.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from neuralab.cli._console import console
from neuralab.cli._console import table as new_table
from neuralab.errors import NeuralabError


def _parse_rating(text: str) -> tuple[str, float]:
    """``"Toy Story (1995)=5"`` → ``("Toy Story (1995)", 5.0)``: the last ``=`` splits, so titles may hold one."""
    title, sep, value = text.rpartition("=")
    if not sep or not title.strip():
        raise NeuralabError(f"--rate takes TITLE=RATING, e.g. --rate \"Toy Story (1995)=5\"; got {text[:80]!r}")
    try:
        return title.strip(), float(value)
    except ValueError:
        raise NeuralabError(f"--rate {text[:80]!r}: the rating {value.strip()[:20]!r} is not a number") from None


def recommend(
    run: Path = typer.Argument(..., help="A run directory of a recommender (e.g. movielens-rbm)."),
    user: str = typer.Option(None, "--user", "-u", help="A user id the run knows."),
    rate: list[str] = typer.Option(None, "--rate", help="A new user's rating, TITLE=RATING (repeat it); a title is "
                                   "as listed, e.g. \"Toy Story (1995)\", or id:N."),
    k: int = typer.Option(10, "-k", "--k", help="How many items."),
    min_ratings: int = typer.Option(10, "--min-ratings", help="Leave out items with fewer training ratings than this "
                                    "(0 keeps all): a rating predicted from two ratings tops lists by chance."),
) -> None:
    """The top-k items a user has not rated, with the ratings the model predicts.

    \b
    Example: neuralab recommend runs/movielens-rbm-20261206-120000 --user 42 -k 10
    Example: neuralab recommend runs/movielens-rbm-20261206-120000 --rate "Toy Story (1995)=5" --rate "Fargo (1996)=4"
    """
    from neuralab.tasks import load_run

    if user is None and not rate:
        raise NeuralabError("give --user ID, or a new user's ratings with --rate \"TITLE=RATING\" (repeatable)")
    if user is not None and rate:
        raise NeuralabError("give --user or --rate, not both")
    loaded = load_run(run)
    ratings = None
    if rate:
        ratings = {}
        for text in rate:
            title, value = _parse_rating(text)
            ratings[title] = value
    rows = loaded.recommend(user=user, ratings=ratings, k=k, min_ratings=min_ratings)
    who = f"user {user}" if user is not None else f"a new user with {len(rate)} rating{'s' if len(rate) > 1 else ''}"
    console.print(f"top {len(rows)} for {escape(who)}:")
    table = new_table("#", "title", "predicted rating", "genres")
    for n, row in enumerate(rows, start=1):
        table.add_row(str(n), escape(row["title"]), f"{row['predicted_rating']:.2f}",
                      escape(row["genres"].replace("|", ", ")))
    console.print(table)


def similar_items(
    run: Path = typer.Argument(..., help="A run directory of a recommender."),
    item: str = typer.Argument(..., help="A title as listed (\"Star Wars (1977)\") or id:N."),
    k: int = typer.Option(10, "-k", "--k", help="How many items."),
) -> None:
    """The items whose learned vectors are nearest to ITEM's (cosine similarity).

    \b
    Example: neuralab similar-items runs/movielens-rbm-20261206-120000 "Star Wars (1977)"
    """
    from neuralab.tasks import load_run

    pairs = load_run(run).similar_items(item, k=k)
    table = new_table("title", "cosine similarity")
    for title, score in pairs:
        table.add_row(escape(title), f"{score:.3f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the recommender commands to the app."""
    app.command()(recommend)
    app.command("similar-items")(similar_items)
