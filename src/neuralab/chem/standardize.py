"""Parsing and standardising molecules: SMILES in, one clean, canonical RDKit molecule out.

:func:`parse_smiles` turns a string into a sanitised RDKit ``Mol`` or raises a :class:`MoleculeError` whose one-line
message holds the SMILES and the reason RDKit gave ("Explicit valence for atom # 0 C, 5, is greater than permitted",
"SMILES Parse Error: unclosed ring ..."). RDKit writes those reasons to its own log; here they are captured, not
printed, so a bad row never litters stderr.

:func:`standardize` is the one recipe every molecule goes through before it is featurised, grouped or split:

1. parse and sanitise (strings; surrounding whitespace is stripped);
2. keep the largest fragment, so a salt or solvate ``CCO.[Na+].[Cl-]`` becomes its parent ``CCO``;
3. neutralise charges where a proton can do it (RDKit's ``Uncharger``: carboxylates, phenolates, protonated amines),
   while quaternary ammoniums and nitro groups keep their charges;
4. renumber atoms in canonical order (a round trip through canonical SMILES), so that the same molecule gives the
   same graph, features and cache key whatever the order of atoms it arrived in.

:func:`standardize_many` applies it to a column of SMILES and never raises for a bad row: it returns the reason
instead, so a loader can keep the row and report it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence

from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

from neuralab.errors import DataError

__all__ = ["MAX_HEAVY_ATOMS", "MAX_SMILES_LENGTH", "MoleculeError", "canonical_smiles", "heavy_atoms", "parse_smiles",
           "standardize", "standardize_many"]

log = logging.getLogger(__name__)

# RDKit's parser is fast, but sanitising some long strings is quadratic (100 000 'c' take minutes). Real SMILES,
# even of peptides, are far shorter; a limit keeps any input string bounded in time.
MAX_SMILES_LENGTH = 10_000
# Ten times ESOL's largest molecule (55 heavy atoms), room for macrocycles and peptides of about 40 residues. At 500
# heavy atoms every RDKit 2D descriptor together takes about a second (the Ipc pair is skipped above
# featurize.IPC_MAX_ATOMS); at 1,000 they take six, and Ipc alone minutes.
MAX_HEAVY_ATOMS = 500

_TIMESTAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s?")
_POSITION = re.compile(r"check for mistakes around position (\d+)")
_SHOWN = 80  # characters of a SMILES shown in a message


class MoleculeError(DataError):
    """A SMILES or molecule that RDKit cannot parse, sanitise or standardise. The message is one line."""


def parse_smiles(smiles: str, *, max_length: int = MAX_SMILES_LENGTH, max_atoms: int = MAX_HEAVY_ATOMS) -> Chem.Mol:
    """Parse and sanitise one SMILES string.

    Parameters
    ----------
    smiles : str
        A SMILES string; leading and trailing whitespace is ignored.
    max_length : int, default MAX_SMILES_LENGTH
        The longest string accepted, checked before RDKit parses it.
    max_atoms : int, default MAX_HEAVY_ATOMS
        The most heavy atoms accepted (:func:`heavy_atoms`, all fragments counted), checked before sanitising.

    Returns
    -------
    rdkit.Chem.Mol
        The sanitised molecule, with at least one atom.

    Raises
    ------
    MoleculeError
        When ``smiles`` is not a string, is empty, is longer than ``max_length``, has more than ``max_atoms`` heavy
        atoms, cannot be encoded as UTF-8, or RDKit rejects it; the message shows the string and the reason.

    Examples
    --------
    >>> parse_smiles("CCO").GetNumAtoms()
    3
    >>> parse_smiles("C(C)(C)(C)(C)C")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    MoleculeError: invalid SMILES 'C(C)(C)(C)(C)C': Explicit valence for atom # 0 C, 5, is greater than permitted
    """
    _check_limits(max_length, max_atoms)
    if not isinstance(smiles, str):
        raise MoleculeError(f"SMILES must be a str; got {type(smiles).__name__} {_show(repr(smiles))}")
    text = smiles.strip()
    if not text:
        raise MoleculeError(f"invalid SMILES {_show(smiles)!r}: it is empty")
    if len(text) > max_length:
        raise MoleculeError(f"SMILES {_show(text)!r} is too long: it has {len(text)} characters, more than the "
                            f"{max_length} accepted; {_TOO_BIG}")
    # Parsing without sanitising is linear and fast; sanitising and everything after it are not, so the size is
    # checked in between. The second, full parse keeps RDKit's usual behaviour (explicit H removed, stereo assigned).
    for sanitize in (False, True):
        try:
            with _captured_log() as capture:
                mol = Chem.MolFromSmiles(text, sanitize=sanitize)
        except UnicodeError:  # lone surrogates and the like cannot cross into C++
            raise MoleculeError(f"invalid SMILES {_show(text)!r}: it is not valid UTF-8 text") from None
        if mol is None:
            raise MoleculeError(f"invalid SMILES {_show(text)!r}: {_reason(_messages(capture), text)}")
        if not sanitize:
            _check_size(mol, max_atoms, text)
    if mol.GetNumAtoms() == 0:
        raise MoleculeError(f"invalid SMILES {_show(text)!r}: it has no atoms")
    return mol


def heavy_atoms(mol: Chem.Mol) -> int:
    """The number of atoms other than hydrogen in ``mol``, every fragment counted; dummy atoms (``*``) count.

    This is the size that :data:`MAX_HEAVY_ATOMS` limits. Unlike RDKit's ``GetNumHeavyAtoms`` it counts dummy
    atoms, which cost the featurisers as much as carbon does.

    Examples
    --------
    >>> heavy_atoms(Chem.MolFromSmiles("[H]OC([2H])*"))
    3
    """
    return sum(atom.GetAtomicNum() != 1 for atom in mol.GetAtoms())


def standardize(mol_or_smiles: Chem.Mol | str, *, max_length: int = MAX_SMILES_LENGTH,
                max_atoms: int = MAX_HEAVY_ATOMS) -> Chem.Mol:
    """Return the standard form of a molecule: sanitised, largest fragment, neutralised, atoms in canonical order.

    Parameters
    ----------
    mol_or_smiles : rdkit.Chem.Mol or str
        A molecule, or a SMILES string parsed with :func:`parse_smiles`. A molecule is copied, never changed.
    max_length, max_atoms : int
        Size limits, as in :func:`parse_smiles`; ``max_atoms`` applies to a given molecule too, before anything
        else is done with it.

    Returns
    -------
    rdkit.Chem.Mol
        A new molecule.

    Raises
    ------
    MoleculeError
        For a bad SMILES, an object that is neither a string nor a molecule, a molecule with no atoms or over the
        size limits, or one that RDKit cannot sanitise or standardise.

    Examples
    --------
    >>> Chem.MolToSmiles(standardize("CC(=O)[O-].[Na+]"))
    'CC(=O)O'
    """
    given_mol = isinstance(mol_or_smiles, Chem.Mol)
    if isinstance(mol_or_smiles, str):
        mol = parse_smiles(mol_or_smiles, max_length=max_length, max_atoms=max_atoms)
    elif given_mol:
        _check_limits(max_length, max_atoms)
        _check_size(mol_or_smiles, max_atoms, None)
        mol = Chem.Mol(mol_or_smiles)
        if mol.GetNumAtoms() == 0:
            raise MoleculeError("cannot standardise a molecule with no atoms")
    else:
        raise MoleculeError(f"expected a SMILES str or an rdkit Mol; got {type(mol_or_smiles).__name__}")
    try:
        with _captured_log() as capture:
            if given_mol:  # a parsed SMILES is sanitised already; a Mol may come from an unsanitised reader
                Chem.SanitizeMol(mol)
            mol = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(mol)
            mol = rdMolStandardize.Uncharger(canonicalOrder=True).uncharge(mol)
            Chem.SanitizeMol(mol)
    except (RuntimeError, ValueError) as e:  # RDKit's MolSanitizeException derives from ValueError
        label = _smiles_or_unknown(mol) if given_mol else mol_or_smiles.strip()  # type: ignore[union-attr]
        reason = str(e).strip() or _reason(_messages(capture), label)
        raise MoleculeError(f"cannot standardise {_show(label)!r}: {_one_line(reason)}") from None
    return _canonical_order(mol)


def canonical_smiles(mol_or_smiles: Chem.Mol | str) -> str:
    """Return the canonical isomeric SMILES of the standardised molecule (see :func:`standardize`).

    Raises
    ------
    MoleculeError
        As :func:`standardize`.

    Examples
    --------
    >>> canonical_smiles(" OCC ")
    'CCO'
    """
    return Chem.MolToSmiles(standardize(mol_or_smiles))


def standardize_many(smiles: Sequence[str | Chem.Mol], *, max_length: int = MAX_SMILES_LENGTH,
                     max_atoms: int = MAX_HEAVY_ATOMS) -> tuple[list[Chem.Mol | None], list[str | None]]:
    """Standardise a column of SMILES, never raising for a bad row.

    Parameters
    ----------
    smiles : sequence of str or rdkit.Chem.Mol
        SMILES strings (or molecules); any other object in the sequence (None, NaN) is a bad row.
    max_length : int, default MAX_SMILES_LENGTH
        A longer string is a bad row, refused before RDKit parses it.
    max_atoms : int, default MAX_HEAVY_ATOMS
        A molecule with more heavy atoms (:func:`heavy_atoms`) is a bad row, refused before it is sanitised.

    Returns
    -------
    mols : list of rdkit.Chem.Mol or None
        The standardised molecule of each row, or None where it failed.
    errors : list of str or None
        None where the row worked, else the one-line reason (the :class:`MoleculeError` message).

    Raises
    ------
    DataError
        When ``max_length`` or ``max_atoms`` is not a positive int (never for a row).

    Examples
    --------
    >>> mols, errors = standardize_many(["CCO", "C1CC"])
    >>> mols[1] is None, errors[1]
    (True, "invalid SMILES 'C1CC': SMILES Parse Error: unclosed ring for input: 'C1CC'")
    """
    _check_limits(max_length, max_atoms)
    mols: list[Chem.Mol | None] = []
    errors: list[str | None] = []
    for item in smiles:
        try:
            mols.append(standardize(item, max_length=max_length, max_atoms=max_atoms))
            errors.append(None)
        except MoleculeError as e:
            mols.append(None)
            errors.append(str(e))
    return mols, errors


_TOO_BIG = "larger molecules are outside what the featurisers handle in reasonable time"


def _check_limits(max_length: int, max_atoms: int) -> None:
    """A DataError unless both size limits are positive ints."""
    for name, value in (("max_length", max_length), ("max_atoms", max_atoms)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataError(f"{name} must be a positive int; got {value!r}")


def _check_size(mol: Chem.Mol, max_atoms: int, text: str | None) -> None:
    """A MoleculeError when ``mol`` (parsed from ``text``, or given) has more than ``max_atoms`` heavy atoms."""
    n = heavy_atoms(mol)
    if n > max_atoms:
        label = text if text is not None else _smiles_or_unknown(mol)
        raise MoleculeError(f"molecule {_show(label)!r} is too large: it has {n} heavy atoms, more than the "
                            f"{max_atoms} accepted; {_TOO_BIG}")


class _NoCapture:
    """Stands in for ``rdBase.CaptureErrorLog`` (RDKit >= 2025) on older RDKit: no messages, logs blocked."""

    messages = ""


@contextlib.contextmanager
def _captured_log() -> Iterator[object]:
    """Capture RDKit's error log (its reasons for rejecting a molecule) and silence its other logs (warnings such as
    "not removing hydrogen atom without neighbors"), so nothing reaches stderr."""
    with rdBase.BlockLogs():  # outside: an inner CaptureErrorLog still receives the errors
        if hasattr(rdBase, "CaptureErrorLog"):
            with rdBase.CaptureErrorLog() as capture:
                yield capture
        else:  # pragma: no cover - older RDKit; the reason then comes from sanitising by hand
            yield _NoCapture()


def _canonical_order(mol: Chem.Mol) -> Chem.Mol:
    """``mol`` with atoms renumbered in canonical order, via its canonical SMILES; ``mol`` itself if that fails."""
    with rdBase.BlockLogs():
        smiles = Chem.MolToSmiles(mol)
        canonical = Chem.MolFromSmiles(smiles)
    if canonical is None or canonical.GetNumAtoms() != mol.GetNumAtoms():
        log.debug("canonical SMILES %r does not round-trip; keeping the original atom order", smiles)
        return mol
    return canonical


def _messages(capture: object) -> str:
    """The captured log text; empty when RDKit cut a message inside a multi-byte character (undecodable)."""
    try:
        return str(capture.messages)  # type: ignore[attr-defined]
    except UnicodeDecodeError:
        return ""


def _reason(messages: str, smiles: str) -> str:
    """RDKit's reason from its captured log: the first message, plus the position of a syntax error."""
    lines = [_TIMESTAMP.sub("", line).strip() for line in messages.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return _sanitize_reason(smiles)
    reason = lines[0]
    position = next((m.group(1) for line in lines if (m := _POSITION.search(line))), None)
    if position is not None and "position" not in reason:
        reason = f"{reason.rstrip(':')} (around position {position})"
    return _one_line(reason)


def _sanitize_reason(smiles: str) -> str:
    """The reason from sanitising by hand, for an RDKit build that logged nothing."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is None:
            return "RDKit could not parse it"
        try:
            Chem.SanitizeMol(mol)
        except (RuntimeError, ValueError) as e:
            return _one_line(str(e)) or type(e).__name__
    return "RDKit rejected it"


def _smiles_or_unknown(mol: Chem.Mol) -> str:
    """A SMILES for messages about a molecule that may not be sanitised."""
    try:
        with rdBase.BlockLogs():
            return Chem.MolToSmiles(mol, canonical=False)
    except (RuntimeError, ValueError):
        return "<molecule>"


def _one_line(text: str) -> str:
    """Collapse whitespace, so a message stays on one line."""
    return " ".join(text.split())


def _show(text: str) -> str:
    """``text`` shortened to :data:`_SHOWN` characters for messages, on one line."""
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}...[{len(text)} characters]"
