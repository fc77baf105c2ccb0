"""English by default, Brazilian Portuguese on request: every marked message has a translation, the compiled
catalogue matches its source, and the lab's pages and figures come out in Portuguese."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import neuralab
from neuralab.cli.main import main
from neuralab.errors import ConfigError
from neuralab.i18n import _, language, set_language

LOCALE = Path(neuralab.__file__).parent / "locale"
PO = LOCALE / "pt_BR" / "LC_MESSAGES" / "neuralab.po"


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    set_language("en")


def marked_messages() -> set[str]:
    source = Path(neuralab.__file__).parent
    found = set()
    for folder in ("experiments",):
        for _file, _line, message, _comments, _context in extract_from_dir(source / folder, keywords={"_": None}):
            found.add(message)
    return found


def test_every_marked_message_has_a_portuguese_translation():
    catalogue = read_po(PO.open("rb"))
    translated = {m.id: m.string for m in catalogue if m.id}
    missing = sorted(m for m in marked_messages() if not translated.get(m))
    assert not missing, f"untranslated (see src/neuralab/locale/README.md): {missing[:5]}"
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy translations to review: {fuzzy[:5]}"


def test_the_compiled_catalogue_is_the_source_catalogue():
    source = {m.id: m.string for m in read_po(PO.open("rb")) if m.id}
    compiled = {m.id: m.string for m in read_mo(PO.with_suffix(".mo").open("rb")) if m.id}
    assert compiled == source, "run pybabel compile (src/neuralab/locale/README.md)"


def test_english_is_the_default_and_portuguese_is_asked_for():
    assert language() == "en" and _("The perceptron") == "The perceptron"
    for name in ("pt", "pt_BR", "pt-BR", "pt_BR.UTF-8"):
        assert set_language(name) == "pt_BR" and _("The perceptron") == "O perceptron"
    assert set_language(None) == "en" and _("Numbers") == "Numbers"
    with pytest.raises(ConfigError, match="unknown language 'fr'"):
        set_language("fr")


def test_the_lab_speaks_portuguese_with_lang_or_the_environment(tmp_path, monkeypatch, capsys):
    assert main(["--lang", "pt", "lab", "activations", "--out", str(tmp_path / "a")]) == 0
    page = (tmp_path / "a" / "index.html").read_text()
    assert 'lang="pt-BR"' in page and "O que observar" in page and "Ativações e suas derivadas" in page
    set_language("en")
    monkeypatch.setenv("NEURALAB_LANG", "pt_BR")
    assert main(["lab", "backprop", "--out", str(tmp_path / "b")]) == 0
    assert "Retropropagação, à mão" in (tmp_path / "b" / "index.html").read_text()
    monkeypatch.delenv("NEURALAB_LANG")
    assert main(["--lang", "xx", "lab", "activations"]) == 2
    assert "unknown language 'xx'" in capsys.readouterr().err
