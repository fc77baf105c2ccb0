"""Agent commands: ``play`` runs a trained agent's deterministic policy for some episodes and prints the returns,
and can save an episode as an animated GIF.

They turn flags into :class:`~neuralab.runs.Run` calls and print the answers; the episodes are the task's.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from neuralab.cli._console import console
from neuralab.cli._console import table as new_table


def play(
    run: Path = typer.Argument(..., help="A run directory of an agent (e.g. cartpole-dqn)."),
    episodes: int = typer.Option(10, "--episodes", "-n", help="How many episodes."),
    seed: int = typer.Option(None, "--seed", help="Seed of the first episode (default: the run's evaluation seeds)."),
    render: str = typer.Option(None, "--render", help="gif: save the first episode as an animated GIF."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the GIF (default RUN/episode-SEED.gif)."),
) -> None:
    """Play a trained agent's deterministic policy and print each episode's return.

    \b
    Example: neuralab play runs/cartpole-dqn-20261206-120000 --episodes 10
    Example: neuralab play runs/frozenlake-q-20261206-120000 --render gif -o lake.gif
    """
    from neuralab.tasks import load_run

    result = load_run(run).play(episodes, seed=seed, render=render, output=output)
    table = new_table("episode", "seed", "return", "steps")
    first = result["seeds"][0]
    for n, (ret, steps) in enumerate(zip(result["returns"], result["lengths"])):
        table.add_row(str(n + 1), str(first + n), f"{ret:.2f}", str(steps))
    console.print(table)
    console.print(f"mean return {result['mean']:.2f} ± {result['std']:.2f} over {len(result['returns'])} episodes")
    if "gif" in result:
        console.print(f"wrote {escape(result['gif'])}")


def register(app: typer.Typer) -> None:
    """Add the agent commands to the app."""
    app.command()(play)
