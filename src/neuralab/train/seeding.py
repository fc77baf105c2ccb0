"""Seeds, random-number-generator state and device choice.

A run is reproducible when every source of randomness is seeded and, for resuming, when every generator's state is
saved and restored: Python's ``random``, NumPy's global generator, torch's CPU (and CUDA) generators, and the
engine's own shuffling generator.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from neuralab.errors import NeuralabError

__all__ = ["seed_everything", "rng_state", "set_rng_state", "resolve_device"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a fresh generator for shuffling.

    Parameters
    ----------
    seed
        Any non-negative int.

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed``, used to draw batch permutations. Keeping it apart from the global
        generator means that dropout or initialisation never changes the order of the batches.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise NeuralabError(f"seed must be a non-negative int; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Capture every generator's state, for a checkpoint."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["shuffle"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "shuffle" in state:
        generator.set_state(state["shuffle"])


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a device, checking that it exists."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise NeuralabError(f"device {device!r} was asked for but CUDA is not available; use --device cpu or auto")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise NeuralabError(f"device must be auto, cpu, cuda or cuda:N; got {device!r}") from exc
