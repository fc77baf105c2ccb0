"""The ``neuralab`` command line (typer)."""
