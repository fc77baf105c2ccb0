"""Parsing and standardisation: RDKit's reasons in one-line errors, salts, charges, and no crash on any input."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from neuralab.chem import (
    MoleculeError,
    canonical_smiles,
    parse_smiles,
    standardize,
    standardize_many,
)
from neuralab.chem.standardize import MAX_HEAVY_ATOMS, MAX_SMILES_LENGTH, heavy_atoms
from neuralab.errors import DataError


@pytest.mark.parametrize(("smiles", "reason"), [
    ("C(C)(C)(C)(C)C", r"Explicit valence for atom # 0 C, 5, is greater than permitted"),
    ("C1CC", r"SMILES Parse Error: unclosed ring"),
    ("CC(", r"SMILES Parse Error: syntax error while parsing: CC\( \(around position 3\)"),
    ("c1cccc1", r"Can't kekulize mol"),
])
def test_parse_error_carries_the_smiles_and_rdkit_reason(smiles: str, reason: str,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MoleculeError, match=rf"^invalid SMILES '{re.escape(smiles)}': {reason}") as info:
        parse_smiles(smiles)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, DataError)
    assert capfd.readouterr().err == ""  # RDKit's own log is captured, not printed


@pytest.mark.parametrize(("value", "message"), [
    ("", r"invalid SMILES '': it is empty"),
    ("   ", r"it is empty"),
    (None, r"SMILES must be a str; got NoneType"),
    (float("nan"), r"SMILES must be a str; got float"),
    ("\ud800", r"it is not valid UTF-8 text"),
    ("C" * (MAX_SMILES_LENGTH + 1), rf"it has {MAX_SMILES_LENGTH + 1} characters, more than the {MAX_SMILES_LENGTH}"),
])
def test_parse_rejects_non_smiles_with_a_one_line_message(value: object, message: str) -> None:
    with pytest.raises(MoleculeError, match=message) as info:
        parse_smiles(value)  # type: ignore[arg-type]
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_parse_strips_whitespace() -> None:
    assert Chem.MolToSmiles(parse_smiles("  OCC \n")) == "CCO"


@pytest.mark.parametrize(("smiles", "expected"), [
    ("CCO.[Na+].[Cl-]", "CCO"),  # largest fragment
    ("CC(=O)[O-]", "CC(=O)O"),  # carboxylate neutralised
    ("CC(=O)[O-].[Na+]", "CC(=O)O"),
    ("C[NH3+].[Cl-]", "CN"),
    ("C[N+](C)(C)C.[Cl-]", "C[N+](C)(C)C"),  # a quaternary ammonium cannot be neutralised
    ("O=[N+]([O-])c1ccccc1", "O=[N+]([O-])c1ccccc1"),  # nitro keeps its charge separation
    ("C1=CC=CC=C1", "c1ccccc1"),
    (" OCC ", "CCO"),
])
def test_standardize(smiles: str, expected: str) -> None:
    assert canonical_smiles(smiles) == expected


def test_standardize_gives_the_same_atom_order_whatever_the_input_order() -> None:
    a, b = standardize("OCC"), standardize(Chem.MolFromSmiles("C(O)C"))
    assert [atom.GetSymbol() for atom in a.GetAtoms()] == [atom.GetSymbol() for atom in b.GetAtoms()]


def test_standardize_copies_a_molecule() -> None:
    mol = Chem.MolFromSmiles("CC(=O)[O-].[Na+]")
    standardize(mol)
    assert Chem.MolToSmiles(mol) == "CC(=O)[O-].[Na+]"


def test_standardize_rejects_other_objects_and_empty_molecules() -> None:
    with pytest.raises(MoleculeError, match=r"expected a SMILES str or an rdkit Mol; got int"):
        standardize(3)  # type: ignore[arg-type]
    with pytest.raises(MoleculeError, match=r"no atoms"):
        standardize(Chem.Mol())


def test_standardize_many_keeps_bad_rows_with_their_reason() -> None:
    mols, errors = standardize_many(["CCO", "C1CC", None, "", "CC(=O)[O-].[Na+]"])  # type: ignore[list-item]
    assert [m is None for m in mols] == [False, True, True, True, False]
    assert errors[0] is None and errors[4] is None
    assert "unclosed ring" in errors[1] and "NoneType" in errors[2] and "empty" in errors[3]
    assert Chem.MolToSmiles(mols[4]) == "CC(=O)O"


SMILES_ALPHABET = "CNOSPFIBrcnos()[]=#@+-.123456789%/\\H*: "
ANY_TEXT = st.one_of(st.text(max_size=200), st.text(alphabet=SMILES_ALPHABET, max_size=60))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_TEXT)
def test_parse_smiles_raises_only_molecule_error(text: str) -> None:
    try:
        mol = parse_smiles(text)
    except MoleculeError as e:
        assert "\n" not in str(e)
    else:
        assert mol.GetNumAtoms() > 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(ANY_TEXT, st.none(), st.floats(), st.integers(), st.binary(max_size=20)), max_size=8))
def test_standardize_many_never_raises(items: list[object]) -> None:
    mols, errors = standardize_many(items)  # type: ignore[arg-type]
    assert len(mols) == len(errors) == len(items)
    assert all((m is None) != (e is None) for m, e in zip(mols, errors))


def test_parse_survives_rdkit_cutting_a_message_inside_a_multibyte_character() -> None:
    # Found by hypothesis: RDKit shortens long inputs in its log by bytes, leaving half a UTF-8 character.
    with pytest.raises(MoleculeError, match=r"^invalid SMILES '00000000"):
        parse_smiles("00000000" + "\x80" * 9 + "\U00010000" * 4)


def test_rdkit_warnings_and_errors_do_not_reach_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    mols, errors = standardize_many(["[H]", "C1CC", "xyz", "c1cccc1", "CC(=O)[O-].[Na+]"])
    assert errors[0] is None and all(errors[1:4]) and errors[4] is None
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_unsanitisable_molecule_is_a_molecule_error() -> None:
    mol = Chem.MolFromSmiles("C(C)(C)(C)(C)C", sanitize=False)
    with pytest.raises(MoleculeError, match=r"^cannot standardise 'C\(C\)\(C\)\(C\)\(C\)C': Explicit valence"):
        standardize(mol)


def _parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Record the length of the string and the ``sanitize`` flag of every ``Chem.MolFromSmiles`` call from now on."""
    calls: list[tuple[int, bool]] = []
    real = Chem.MolFromSmiles

    def spy(text: str, sanitize: bool = True, **kwargs: object) -> Chem.Mol | None:
        calls.append((len(text), sanitize))
        return real(text, sanitize=sanitize, **kwargs)

    monkeypatch.setattr(Chem, "MolFromSmiles", spy)
    return calls


def test_a_string_over_max_length_never_reaches_rdkit(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _parse_calls(monkeypatch)
    mols, errors = standardize_many(["C" * 1_000_000, "CCO"])
    assert mols[0] is None and mols[1] is not None and {n for n, _ in calls} == {3}  # only CCO was parsed
    assert re.fullmatch(r"SMILES 'C{80}\.\.\.\[1000000 characters\]' is too long: it has 1000000 characters, more "
                        rf"than the {MAX_SMILES_LENGTH} accepted; .*", errors[0])
    _, errors = standardize_many(["CCCO"], max_length=3)
    assert "it has 4 characters, more than the 3 accepted" in errors[0]


def test_a_molecule_over_max_atoms_is_a_bad_row_refused_before_sanitising(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 10,000-character SMILES used to hang for minutes in the Ipc descriptor; now only the cheap parse runs.
    calls = _parse_calls(monkeypatch)
    mols, errors = standardize_many(["c" * 10_000, "CCO"])
    assert [sanitize for n, sanitize in calls if n == 10_000] == [False]
    assert mols[0] is None and mols[1] is not None and errors[1] is None
    assert re.fullmatch(rf"molecule 'c{{80}}\.\.\.\[10000 characters\]' is too large: it has 10000 heavy atoms, more "
                        rf"than the {MAX_HEAVY_ATOMS} accepted; .*", errors[0])


def test_max_atoms_counts_heavy_atoms_of_every_fragment() -> None:
    _, errors = standardize_many(["CCCO", "CCCCCO", "[H]C([H])([H])CCO", "CCO.CCO"], max_atoms=4)
    assert [e is None for e in errors] == [True, False, True, False]
    assert errors[1] == ("molecule 'CCCCCO' is too large: it has 6 heavy atoms, more than the 4 accepted; larger "
                         "molecules are outside what the featurisers handle in reasonable time")
    with pytest.raises(MoleculeError, match=r"^molecule 'CCCC' is too large: it has 4 heavy atoms, more than the 3"):
        parse_smiles("CCCC", max_atoms=3)


def test_max_atoms_applies_to_a_given_molecule() -> None:
    mol = Chem.MolFromSmiles("CCCCCC")
    with pytest.raises(MoleculeError, match=r"^molecule 'CCCCCC' is too large: it has 6 heavy atoms, more than the 5"):
        standardize(mol, max_atoms=5)
    assert Chem.MolToSmiles(standardize(mol, max_atoms=6)) == "CCCCCC"


def test_heavy_atoms_counts_dummies_but_not_hydrogen() -> None:
    assert heavy_atoms(Chem.MolFromSmiles("[H]OC([2H])*", sanitize=False)) == 3
    assert heavy_atoms(Chem.MolFromSmiles("*" * 20)) == 20


@pytest.mark.parametrize("limits", [{"max_atoms": 0}, {"max_length": -1}, {"max_atoms": 2.5}, {"max_length": True},
                                    {"max_atoms": None}])
def test_size_limits_must_be_positive_ints(limits: dict) -> None:
    with pytest.raises(DataError, match=r"^max_(atoms|length) must be a positive int; got "):
        standardize_many(["CCO"], **limits)
