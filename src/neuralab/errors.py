"""Errors that reach the user.

A :class:`NeuralabError` is a mistake in what the user asked for (a bad path, key or value). Its message is one line
that names the culprit, says what was expected and what arrived, and gives the fix when there is an obvious one. The
CLI prints it on stderr and exits with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["NeuralabError", "DataError", "ConfigError", "TrainingError", "did_you_mean"]


class NeuralabError(ValueError):
    """A user error: bad input, configuration or data. The message is one line."""


class ConfigError(NeuralabError):
    """A recipe or override that does not validate."""


class DataError(NeuralabError):
    """A data file that is missing, corrupt or malformed."""


class TrainingError(NeuralabError):
    """Training cannot go on (for example a non-finite loss)."""


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest option, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""
