"""``neuralab serve``: trained runs behind a REST API and pages (see :mod:`neuralab.serve`)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from neuralab.cli._console import err_console
from neuralab.errors import NeuralabError


def serve(
    runs: list[Path] = typer.Argument(..., help="Run directories to serve, each named by its folder."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 127.0.0.1 keeps it to this machine."),
    port: int = typer.Option(8000, "--port", help="Port."),
    api_key: str = typer.Option(None, "--api-key", envvar="NEURALAB_API_KEY",
                                help="Require this key in an X-API-Key header (also NEURALAB_API_KEY)."),
    threads: int = typer.Option(None, "--threads", help="Torch CPU threads for inference."),
    max_body: int = typer.Option(10 * 1024 * 1024, "--max-body", help="Largest request body, in bytes."),
    max_rows: int = typer.Option(1000, "--max-rows", help="Most inputs in one request."),
) -> None:
    """Serve trained runs: a REST API (/docs), a page per model (/), and Prometheus metrics (/metrics).

    \\b
    Example: neuralab serve runs/digits-cnn-20261206-120000
    Example: neuralab serve runs/esol-... runs/mnist-cnn-... --port 8080 --api-key "$KEY"
    """
    import uvicorn

    from neuralab.serve import create_app

    if port < 1 or port > 65535:
        raise NeuralabError(f"--port must be from 1 to 65535; got {port}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"warning: listening on {host}: anyone who can reach this machine can use the models"
                          + ("" if api_key else "; consider --api-key"), highlight=False)
    app = create_app(runs, api_key=api_key, max_body=max_body, max_rows=max_rows, threads=threads)
    err_console.print(f"serving {len(runs)} model(s) on http://{host}:{port}/ (API docs at /docs)", highlight=False)
    logging.getLogger("neuralab.serve").setLevel(logging.INFO)  # one line per request, with its latency
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def register(app: typer.Typer) -> None:
    """Add the serving command to the app."""
    app.command()(serve)
