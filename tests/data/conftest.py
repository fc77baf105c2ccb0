"""Fixtures for the data tests: an isolated environment and a tiny registered data set with a dead URL."""

from __future__ import annotations

import gzip
import hashlib
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from neuralab.data import registry
from neuralab.data.registry import DatasetInfo, RemoteFile

TEXT = b"alpha,beta\n1,2\n3,4\n"
PIXELS = bytes(range(256)) * 8


@dataclass
class Env:
    """The folders a test controls: the cache and $NEURALAB_DATA roots."""

    cache: Path
    data: Path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """An empty cache and no $NEURALAB_DATA (CI sets it to the shared mirror)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEURALAB_CACHE", str(cache))
    monkeypatch.delenv("NEURALAB_DATA", raising=False)
    return Env(cache=cache, data=tmp_path / "env-data")


@pytest.fixture
def dead_url() -> str:
    """An http URL on a local port that nothing listens on: connecting is refused at once, with no network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def toy_info(base_url: str, folder: str = "toy") -> DatasetInfo:
    """A two-file data set: a plain csv, and a .gz checked after decompression (like MNIST)."""
    return DatasetInfo(
        name="toy",
        description="a tiny test data set",
        folder=folder,
        files=(
            RemoteFile("table.csv", f"{base_url}/table.csv", sha(TEXT)),
            RemoteFile("pixels.gz", f"{base_url}/pixels.gz", sha(PIXELS), gunzipped_sha256=True),
        ),
        citation="none",
        license="none",
    )


@pytest.fixture
def toy(env: Env, dead_url: str, monkeypatch: pytest.MonkeyPatch) -> DatasetInfo:
    """Register the toy data set, whose URLs are dead, for the length of one test."""
    info = toy_info(dead_url)
    monkeypatch.setitem(registry.DATASETS, "toy", info)
    return info


def write_toy(folder: Path) -> None:
    """Write both good toy files into ``folder``."""
    write(folder / "table.csv", TEXT)
    write(folder / "pixels.gz", gzip.compress(PIXELS, mtime=0))
