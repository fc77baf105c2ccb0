"""Argument checks the model constructors share."""

from __future__ import annotations

from neuralab.errors import NeuralabError

__all__ = ["check_positive_ints"]


def check_positive_ints(**values: object) -> None:
    """A one-line NeuralabError for the first value that is not an int ≥ 1 (booleans are not ints here)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise NeuralabError(f"{name} must be a positive int; got {value!r}")
