"""The CLI's consoles and tables: nothing it prints is ever cut, in a terminal or in a log."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

__all__ = ["console", "err_console", "table"]

console = Console()
err_console = Console(stderr=True)


def table(*headers: str, box: bool = False) -> Table:
    """A table whose cells wrap rather than end in "…" when the line is narrow (80 columns without a terminal):
    a number or a SMILES is never truncated."""
    out = Table(box=None) if not box else Table()
    for header in headers:
        out.add_column(header, overflow="fold")
    return out
