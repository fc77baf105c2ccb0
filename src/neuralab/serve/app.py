"""The model server: trained runs behind a REST API (FastAPI), with a page to try each one in a browser.

Endpoints: ``GET /health``; ``GET /models`` (name, task, inputs, test metrics); ``POST /models/{name}/predict``
with JSON ``{"inputs": [...]}`` (feature rows, SMILES, ``USER:ITEM`` pairs: what ``neuralab predict`` takes on the
command line, decoded by the same task code) or a multipart upload of one file (an image, a CSV); ``GET /metrics``
(Prometheus); ``/docs`` (OpenAPI); ``GET /`` and ``GET /models/{name}/page``, plain HTML, with nothing fetched from
elsewhere (the digits page has a canvas to draw on).

Every model is loaded once, at start, and predicts under ``torch.inference_mode()``. Limits answer bad requests
before any work: a body over ``max_body`` bytes is a 413, more than ``max_rows`` inputs or a malformed body a 422
with the reason, a file path in JSON (the server never reads its own files for a client) a 422. An API key, when
set, is compared in constant time. Each request logs one line with its latency.
"""

from __future__ import annotations

import hmac
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from neuralab import __version__
from neuralab.errors import NeuralabError
from neuralab.runs.run import Run
from neuralab.serve.pages import index_page, model_page
from neuralab.tasks import load_run

__all__ = ["create_app", "MAX_BODY", "MAX_ROWS"]

logger = logging.getLogger("neuralab.serve")
MAX_BODY = 10 * 1024 * 1024  # bytes
MAX_ROWS = 1000
MAX_TEXT = 1000  # characters of one string input (a SMILES, a pair)


class _BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 before it is read in full."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _too_large(self.limit, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(self.limit, send)


class _TooLarge(Exception):
    pass


async def _too_large(limit: int, send: Callable) -> None:
    body = f'{{"detail": "the request body is larger than {limit:,} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _name(path: Path) -> str:
    return path.resolve().name


def _summary(name: str, run: Run) -> dict[str, Any]:
    metrics = run.metrics() if (run.path / "metrics.json").is_file() else {}
    test = (metrics.get("final") or {}).get("test") or {}
    options = run.recipe.model.options
    return {"name": name, "task": run.task.name, "recipe": run.recipe.name, "model": run.recipe.model.name,
            "inputs": run.recipe.data.name, "in_features": options.get("in_features"),
            "image_size": options.get("image_size"),
            "classes": [str(c) for c in run.classes][:100], "test": test}


def _check_inputs(inputs: Any, max_rows: int) -> list[Any]:
    """JSON inputs as the task's ``predict`` takes them, or an HTTP 422 that says what is wrong."""
    if not isinstance(inputs, list) or not inputs:
        raise HTTPException(422, 'give {"inputs": [...]}: a non-empty list of feature rows or strings')
    if len(inputs) > max_rows:
        raise HTTPException(422, f"at most {max_rows:,} inputs per request; got {len(inputs):,}")
    out = []
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            if len(item) > MAX_TEXT:
                raise HTTPException(422, f"input {i} is longer than {MAX_TEXT:,} characters")
            if Path(item).exists():
                raise HTTPException(422, f"input {i}: file paths are not read over HTTP; upload the file instead")
            out.append(item)
        elif isinstance(item, list):
            try:
                row = np.asarray(item, dtype=np.float64)
            except (TypeError, ValueError):
                raise HTTPException(422, f"input {i}: a feature row must hold numbers only") from None
            if row.ndim != 1:
                raise HTTPException(422, f"input {i}: a feature row must be a flat list of numbers")
            out.append(row)
        else:
            raise HTTPException(422, f"input {i}: expected a list of numbers or a string; got {type(item).__name__}")
    strings = [isinstance(x, str) for x in out]
    if any(strings) and not all(strings):
        raise HTTPException(422, "give either feature rows or strings, not both")
    if all(strings):
        return out
    lengths = sorted({len(x) for x in out})
    if len(lengths) > 1:
        raise HTTPException(422, f"feature rows must all have the same length; got {lengths}")
    return [np.stack(out)]  # one table of rows, as a .npy file would give


def _predict(run: Run, inputs: Sequence[Any]) -> dict[str, Any]:
    with torch.inference_mode():
        result = run.task.predict(run, list(inputs))
    rows = [{k: (v if not isinstance(v, (np.floating, np.integer)) else v.item()) for k, v in row.items()}
            for row in result.rows]
    return {"columns": result.columns, "rows": rows, "failed": result.failed}


def create_app(runs: Sequence[str | Path], *, api_key: str | None = None, max_body: int = MAX_BODY,
               max_rows: int = MAX_ROWS, threads: int | None = None) -> Any:
    """The ASGI app serving ``runs`` (run directories, each loaded once, named by its folder)."""
    if threads is not None:
        torch.set_num_threads(int(threads))
    loaded: dict[str, Run] = {}
    for path in runs:
        name = _name(Path(path))
        if name in loaded:
            raise NeuralabError(f"two runs are named {name!r}; serve runs from folders with different names")
        loaded[name] = load_run(path)
    registry = CollectorRegistry()
    requests = Counter("neuralab_requests", "HTTP requests", ["route", "status"], registry=registry)
    latency = Histogram("neuralab_request_seconds", "Request latency", ["route"], registry=registry,
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
    predictions = Counter("neuralab_predictions", "Inputs predicted", ["model"], registry=registry)
    app = FastAPI(title="neuralab", version=__version__,
                  description="Trained neuralab runs: their predictions over HTTP.")

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable) -> Response:
        start = time.perf_counter()
        route = request.url.path if request.url.path in ("/", "/health", "/models", "/metrics") else \
            "/models/{name}/" + request.url.path.rsplit("/", 1)[-1] if request.url.path.startswith("/models/") \
            else "other"
        if api_key is not None and request.url.path not in ("/health", "/docs", "/openapi.json"):
            given = request.headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                response: Response = JSONResponse({"detail": "a valid X-API-Key header is required"}, 401)
            else:
                response = await call_next(request)
        else:
            response = await call_next(request)
        seconds = time.perf_counter() - start
        requests.labels(route, str(response.status_code)).inc()
        latency.labels(route).observe(seconds)
        logger.info("%s %s %d %.1f ms", request.method, request.url.path, response.status_code, seconds * 1000)
        return response

    def model(name: str) -> Run:
        if name not in loaded:
            raise HTTPException(404, f"no model named {name[:60]!r}; GET /models lists them")
        return loaded[name]

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "models": len(loaded), "version": __version__}

    @app.get("/models")
    def models() -> list[dict[str, Any]]:
        return [_summary(name, run) for name, run in loaded.items()]

    @app.post("/models/{name}/predict")
    async def predict(name: str, request: Request) -> dict[str, Any]:
        run = model(name)
        kind = request.headers.get("content-type", "")
        try:
            if kind.startswith("multipart/form-data"):
                form = await request.form()
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise HTTPException(422, "upload one file in the form field 'file'")
                suffix = Path(upload.filename or "input").suffix.lower()[:10]
                with tempfile.TemporaryDirectory() as folder:
                    path = Path(folder) / f"upload{suffix}"
                    path.write_bytes(await upload.read())
                    result = _predict(run, [str(path)])
                for row in result["rows"]:  # the client's name for its file, not ours
                    for key in ("input", "file"):
                        if isinstance(row.get(key), str) and row[key].endswith(path.name):
                            row[key] = upload.filename
            else:
                try:
                    body = await request.json()
                except ValueError:
                    raise HTTPException(422, 'the body is not JSON; send {"inputs": [...]}') from None
                if not isinstance(body, dict) or "inputs" not in body:
                    raise HTTPException(422, 'send {"inputs": [...]}')
                result = _predict(run, _check_inputs(body["inputs"], max_rows))
        except NeuralabError as exc:
            raise HTTPException(422, str(exc)) from None
        predictions.labels(name).inc(len(result["rows"]))
        return result

    @app.get("/metrics")
    def metrics() -> Response:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return index_page([_summary(name, run) for name, run in loaded.items()])

    @app.get("/models/{name}/page", response_class=HTMLResponse)
    def page(name: str) -> str:
        return model_page(_summary(name, model(name)))

    return _BodyLimit(app, max_body)
