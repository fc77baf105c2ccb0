"""Serving trained runs over HTTP (FastAPI), with pages to try them in a browser."""

from neuralab.serve.app import create_app

__all__ = ["create_app"]
