"""Fixtures for the chemistry tests: the real data mirror (skipped when absent) and ESOL loaded once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from neuralab.chem import MoleculeDataset, load_esol


def _mirror() -> Path | None:
    """The real data mirror: $NEURALAB_DATA, else shared/data beside the repository; None when absent."""
    candidates = [os.environ.get("NEURALAB_DATA"), Path(__file__).resolve().parents[3] / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "esol" / "delaney-processed.csv").is_file():
            return Path(candidate)
    return None


MIRROR = _mirror()


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The real data mirror; the test is skipped when it is absent."""
    if MIRROR is None:
        pytest.skip("the real data mirror (shared/data or $NEURALAB_DATA) is absent")
    return MIRROR


@pytest.fixture(scope="session")
def esol(mirror: Path) -> MoleculeDataset:
    """ESOL from the mirror, loaded once per session."""
    return load_esol(data_dir=mirror)
