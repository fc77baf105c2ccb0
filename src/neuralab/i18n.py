"""Messages in English (the default) or Brazilian Portuguese, through gettext.

The catalogues are ``neuralab/locale/<language>/LC_MESSAGES/neuralab.po``, extracted from the source with Babel
(``pybabel extract``, every string marked ``_("...")``) and compiled to ``.mo`` (``pybabel compile``); see
``locale/README.md``. The language is chosen once, at the edge: the CLI's ``--lang`` or ``NEURALAB_LANG``
(``pt``, ``pt_BR``, ``pt_BR.UTF-8``...), or :func:`set_language` from Python.
"""

from __future__ import annotations

import gettext
from pathlib import Path

from neuralab.errors import ConfigError

__all__ = ["LANGUAGES", "set_language", "language", "_"]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "neuralab"
LANGUAGES = {"en": "en", "pt": "pt_BR", "pt_br": "pt_BR"}

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def set_language(name: str | None) -> str:
    """Use ``name`` (``en``, ``pt``, ``pt_BR``, ``pt-BR.UTF-8``...) for every message from now on; return the
    catalogue's code. ``None`` or an empty string is English."""
    global _translation, _language
    key = (name or "en").split(".")[0].replace("-", "_").lower()
    if key not in LANGUAGES:
        raise ConfigError(f"unknown language {str(name)[:20]!r}; use en (English) or pt (Português do Brasil)")
    code = LANGUAGES[key]
    _translation = gettext.NullTranslations() if code == "en" else gettext.translation(
        DOMAIN, LOCALE_DIR, languages=[code])
    _language = code
    return code


def language() -> str:
    """The language in use: ``en`` or ``pt_BR``."""
    return _language


def _(message: str) -> str:
    """``message`` in the language in use (itself in English, or when it has no translation)."""
    return _translation.gettext(message)
