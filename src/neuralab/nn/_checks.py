"""Name lookup, keyword and value checks shared by the factories of :mod:`neuralab.nn`."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from neuralab.errors import NeuralabError, did_you_mean

T = TypeVar("T")


def lookup(kind: str, name: str, table: Mapping[str, T]) -> T:
    """Return ``table[name]``, or raise a one-line NeuralabError listing the valid names."""
    if not isinstance(name, str):
        raise NeuralabError(f"{kind} name must be a str; got {type(name).__name__} {name!r}")
    if name not in table:
        raise NeuralabError(
            f"unknown {kind} {name!r}{did_you_mean(name, table)}; expected one of: {', '.join(table)}"
        )
    return table[name]


def init_keywords(cls: type, exclude: Iterable[str] = ()) -> list[str]:
    """Named keyword parameters of ``cls.__init__`` (no ``self``, ``*args`` or ``**kwargs``), minus ``exclude``."""
    skipped = {"self", *exclude}
    return [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in skipped
    ]


def check_keywords(owner: str, kwargs: Mapping[str, Any], valid: Iterable[str]) -> None:
    """Raise a NeuralabError naming the closest valid keyword for the first unknown key in ``kwargs``."""
    valid = list(valid)
    for key in kwargs:
        if key not in valid:
            options = f"valid keywords: {', '.join(valid)}" if valid else "it takes no keywords"
            raise NeuralabError(f"unknown keyword {key!r} for {owner}{did_you_mean(key, valid)}; {options}")


def check_float(name: str, value: float, *, positive: bool) -> float:
    """Return ``value`` as a float if it is a finite number > 0 (``positive``) or >= 0, else raise."""
    bound = "> 0" if positive else ">= 0"
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise NeuralabError(f"{name} must be a finite float {bound}; got {value!r}")
    return float(value)
