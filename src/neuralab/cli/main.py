"""Entry point of the ``neuralab`` command: the app, ``--version``/``--debug``, and one-line user errors.

A :class:`~neuralab.errors.NeuralabError` is the user's to fix: it is printed as one line on stderr and the exit
code is 2. ``--debug`` shows the traceback instead. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.markup import escape

import neuralab
from neuralab.cli import control as control_commands
from neuralab.cli import experiments as experiment_commands
from neuralab.cli import generate as generate_commands
from neuralab.cli import inspect as inspect_commands
from neuralab.cli import recommend as recommend_commands
from neuralab.cli import run as run_commands
from neuralab.cli import sequences as sequence_commands
from neuralab.cli import serve as serve_commands
from neuralab.cli import tune as tune_commands
from neuralab.cli._console import err_console
from neuralab.errors import NeuralabError
from neuralab.i18n import set_language

app = typer.Typer(
    name="neuralab",
    help="neuralab: train, inspect, report and predict with deep-learning models.\n\n"
         "Example: neuralab train digits-mlp --set trainer.epochs=5",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"neuralab {neuralab.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    lang: str = typer.Option(None, "--lang", envvar="NEURALAB_LANG", help="en (English, the default) or pt "
                             "(Português do Brasil) for the lab's pages and figures; also NEURALAB_LANG=pt_BR."),
) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    set_language(lang)


run_commands.register(app)
inspect_commands.register(app)
generate_commands.register(app)
experiment_commands.register(app)
sequence_commands.register(app)
recommend_commands.register(app)
control_commands.register(app)
tune_commands.register(app)
serve_commands.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 user error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="neuralab")  # typer handles usage errors itself (exit code 2)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except NeuralabError as exc:
        if "--debug" in args:
            raise
        err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    return 0


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
