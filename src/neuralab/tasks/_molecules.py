"""Molecules as regression inputs: the ``data:`` schema of molecular recipes, and predicting from SMILES.

Each prediction carries an interval (split-conformal on the validation residuals by default, or the course's
ŷ ± z·√MSE_val, or the ensemble spread) and the largest Tanimoto similarity of the molecule to the training set.
A molecule unlike anything seen in training (similarity below ``SIMILARITY_WARNING``) gets a warning: its
prediction is an extrapolation and its interval is not to be trusted. A SMILES that cannot be parsed, or a molecule
far larger than the training molecules, keeps its row with the reason; the others are still predicted.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from neuralab.data.features import is_file
from neuralab.errors import DataError, NeuralabError
from neuralab.runs.recipe import FoldsConfig
from neuralab.tasks.base import Predictions
from neuralab.train.config import StrictModel

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["MOLECULAR", "SIMILARITY_WARNING", "FeaturesConfig", "MoleculeData", "MoleculePrediction",
           "predict_table", "predict"]

MOLECULAR = {"esol", "solubility", "csv"}
SIMILARITY_WARNING = 0.3
"""Below this maximum Tanimoto similarity (Morgan r=2) to the training set a molecule is flagged as unfamiliar."""


class FeaturesConfig(StrictModel):
    """Molecular features: fingerprints and descriptors (see :mod:`neuralab.chem.featurize`)."""

    kinds: list[Literal["morgan", "morgan_counts", "rdkit2d", "maccs"]] = ["morgan"]
    radius: int = Field(2, ge=0)
    n_bits: int = Field(2048, ge=8)
    use_chirality: bool = False


class MoleculeData(FoldsConfig):
    """Molecules with a measured value: ``esol``, ``solubility``, or ``csv`` (the user's file at ``path``).

    ``random`` and ``group`` splits keep duplicate molecules on one side, ``scaffold`` is the Bemis-Murcko split,
    and ``predefined`` uses the data set's own train/test split. ``features`` are the inputs of an MLP (an MPNN
    reads graphs, and features beside them when given). ``max_atoms`` caps the size of a molecule to predict; by
    default it is twice the largest training molecule (at least 100 heavy atoms).
    """

    path: str | None = None
    smiles_column: str = "smiles"
    target_column: str | None = None
    split: Literal["random", "group", "scaffold", "predefined"] = "random"
    scaling: Literal["standard", "minmax", "robust", "none"] = "standard"
    target_scaling: Literal["standard", "none"] = "standard"
    features: FeaturesConfig | None = None
    max_atoms: int | None = Field(None, ge=1)


@dataclass
class MoleculePrediction:
    """One row of output: the input, the prediction with its interval, and why it failed if it did."""

    smiles: str
    value: float | None
    low: float | None
    high: float | None
    similarity: float | None
    warning: str | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def predict_table(run: Run, smiles: Sequence[str], *, level: float = 0.9, method: str = "conformal"
                  ) -> list[MoleculePrediction]:
    """Predictions with ``level`` intervals by ``method`` (conformal, normal or ensemble), similarity and errors,
    one per input, in order. Invalid SMILES keep their row, with RDKit's reason in ``error``."""
    mols, errors = run.inputs.standardize(list(smiles))
    ok = [i for i, m in enumerate(mols) if m is not None]
    rows = [MoleculePrediction(str(s), None, None, None, None, None, errors[i] or "could not be parsed")
            for i, s in enumerate(smiles)]
    if not ok:
        return rows
    valid = [mols[i] for i in ok]
    pred, low, high = run.predict_interval(valid, method=method, level=level)
    sims = run.inputs.similarity(valid)
    for j, i in enumerate(ok):
        warning = (f"unlike the training set (max Tanimoto {sims[j]:.2f} < {SIMILARITY_WARNING}); "
                   "the prediction is an extrapolation") if sims[j] < SIMILARITY_WARNING else None
        rows[i] = MoleculePrediction(str(smiles[i]), float(pred[j]), float(low[j]), float(high[j]),
                                     float(sims[j]), warning, None)
    return rows


def read_molecule_csv(path: str | Path, smiles_column: str) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and rows of a CSV of molecules; every problem is a one-line DataError."""
    path = Path(path)
    try:
        if not is_file(path):
            raise DataError(f"input file {path} {'is a folder, not a file' if path.is_dir() else 'does not exist'}")
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path} is not a readable CSV file: {exc}") from None
    except OSError as exc:  # a name too long, no permission...: the user's path, not a bug
        raise DataError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    if not columns:
        raise DataError(f"{path} is empty")
    if smiles_column not in columns:
        raise DataError(f"{path} has no column {smiles_column!r}; its columns are: {', '.join(columns)} "
                        "(choose one with --smiles-column)")
    if not rows:
        raise DataError(f"{path} has a header but no rows")
    return columns, rows


def predict(run: Run, inputs: list[str], *, level: float, method: str, smiles_column: str,
            input_file: str | Path | None = None) -> Predictions:
    """Rows for SMILES strings, or for every row of a CSV of molecules (its columns kept, predictions added)."""
    if input_file is not None:
        if inputs:
            raise NeuralabError("give SMILES strings or --input FILE.csv, not both")
        return _predict_file(run, input_file, level=level, method=method, smiles_column=smiles_column)
    if not inputs:
        raise NeuralabError("give SMILES strings, e.g. neuralab predict RUN \"CCO\", or --input mols.csv")
    preds = predict_table(run, [str(s) for s in inputs], level=level, method=method)
    if all(p.error for p in preds):
        raise NeuralabError(f"no SMILES could be parsed; {preds[0].smiles!r}: {preds[0].error}")
    rows = [_row(p, level) for p in preds]
    return Predictions(["smiles", "logS", f"low_{level:g}", f"high_{level:g}", "similarity", "warning", "error"],
                       rows, _table(level), failed_note="{failed} of {total} SMILES could not be parsed")


def _row(p: MoleculePrediction, level: float, names: dict[str, str] | None = None) -> dict[str, Any]:
    names = names or {}
    values = {"logS": p.value, f"low_{level:g}": p.low, f"high_{level:g}": p.high, "similarity": p.similarity,
              "warning": p.warning, "error": p.error}
    return {"smiles": p.smiles, **{names.get(k, k): v for k, v in values.items()}}


def _table(level: float) -> list[tuple[str, Any]]:
    return [("SMILES", lambda r: r["smiles"]), ("logS", lambda r: f"{r['logS']:.2f}"),
            (f"{level:.0%} interval", lambda r: f"[{r[f'low_{level:g}']:.2f}, {r[f'high_{level:g}']:.2f}]"),
            ("similarity", lambda r: f"{r['similarity']:.2f}"), ("note", lambda r: r["warning"] or "")]


def _predict_file(run: Run, path: str | Path, *, level: float, method: str, smiles_column: str) -> Predictions:
    """Every row of a CSV, in order, with its columns; an added column whose name the input already uses (a
    measured ``logS``) is written as ``predicted_logS``."""
    columns, rows = read_molecule_csv(path, smiles_column)
    preds = predict_table(run, [r.get(smiles_column) or "" for r in rows], level=level, method=method)
    if all(p.error is not None for p in preds):
        raise DataError(f"none of the {len(preds)} SMILES in {path} could be parsed; the first error: "
                        f"{preds[0].error}")
    added = ["logS", f"low_{level:g}", f"high_{level:g}", "similarity", "warning", "error"]
    # A test file often holds the measured logS already: keep it, and name the prediction apart, so no column shifts.
    names = {c: c if c not in columns else f"predicted_{c}" for c in added}
    out = []
    for row, p in zip(rows, preds):
        predicted = _row(p, level, names)
        del predicted["smiles"]
        out.append({**{c: row.get(c, "") for c in columns}, **predicted})
    return Predictions(columns + [names[c] for c in added], out, [], file_only="--input needs --output FILE.csv "
                       "for the predictions", failed_note="{failed} of {total} rows could not be parsed (see the "
                       "error column)", error_column=names["error"])
