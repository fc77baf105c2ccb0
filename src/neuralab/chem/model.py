"""Predicting solubility (logS) from SMILES with a trained run: values, intervals and an applicability flag.

>>> from neuralab.chem import SolubilityModel
>>> model = SolubilityModel.load("runs/solubility-20261123-120000")   # doctest: +SKIP
>>> model.predict(["CCO", "c1ccccc1O"])                                # doctest: +SKIP
array([ 0.9, -0.2])

Each prediction also carries an interval (split-conformal on the validation residuals by default, or the
course's ŷ ± z·√MSE_val, or the ensemble spread) and the largest Tanimoto similarity of the molecule to the training
set. A molecule unlike anything seen in training (similarity below ``SIMILARITY_WARNING``) gets a warning: its
prediction is an extrapolation and its interval is not to be trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuralab.chem.standardize import standardize_many
from neuralab.errors import NeuralabError

__all__ = ["SolubilityModel", "MoleculePrediction", "SIMILARITY_WARNING", "predict_csv"]

SIMILARITY_WARNING = 0.3
"""Below this maximum Tanimoto similarity (Morgan r=2) to the training set a molecule is flagged as unfamiliar."""


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


class SolubilityModel:
    """A molecular regression run used from Python: SMILES in, values with intervals out."""

    def __init__(self, run: Any) -> None:
        if run.task != "regression" or not hasattr(run.inputs, "similarity"):
            raise NeuralabError(f"{run.path} is not a molecular regression run")
        self.run = run

    @classmethod
    def load(cls, path: str | Path) -> SolubilityModel:
        """Load a run directory trained on molecules (``neuralab train solubility``)."""
        from neuralab.runs import Run  # the run layer sits above chem; imported only when a model is loaded

        return cls(Run.load(path))

    def predict(self, smiles: Sequence[str]) -> np.ndarray:
        """logS for each SMILES; NaN where the SMILES could not be parsed."""
        return np.array([np.nan if p.value is None else p.value for p in self.predict_table(smiles)])

    def predict_table(self, smiles: Sequence[str], *, level: float = 0.9, method: str = "conformal"
                      ) -> list[MoleculePrediction]:
        """Predictions with ``level`` intervals by ``method`` (conformal, normal or ensemble), similarity and
        errors, one per input, in order. Invalid SMILES keep their row, with RDKit's reason in ``error``."""
        mols, errors = standardize_many(list(smiles))
        ok = [i for i, m in enumerate(mols) if m is not None]
        rows = [MoleculePrediction(str(s), None, None, None, None, None, errors[i] or "could not be parsed")
                for i, s in enumerate(smiles)]
        if not ok:
            return rows
        valid = [mols[i] for i in ok]
        pred, low, high = self.run.predict_interval(valid, method=method, level=level)
        sims = self.run.inputs.similarity(valid)
        for j, i in enumerate(ok):
            warning = (f"unlike the training set (max Tanimoto {sims[j]:.2f} < {SIMILARITY_WARNING}); "
                       "the prediction is an extrapolation") if sims[j] < SIMILARITY_WARNING else None
            rows[i] = MoleculePrediction(str(smiles[i]), float(pred[j]), float(low[j]), float(high[j]),
                                         float(sims[j]), warning, None)
        return rows


def predict_csv(model: SolubilityModel, path: str | Path, *, smiles_column: str, output: str | Path,
                level: float = 0.9, method: str = "conformal") -> tuple[int, int]:
    """Predict every row of a CSV and write it to ``output`` with the prediction columns added.

    Every input row is kept, in order; a row whose SMILES cannot be parsed gets RDKit's reason in ``error``. An added
    column whose name the input already uses (a measured ``logS``) is written as ``predicted_logS``.

    Returns
    -------
    tuple of int
        ``(rows, failed)``.

    Raises
    ------
    DataError
        For an unreadable or empty file, a missing SMILES column (the message lists the columns), when no row
        at all could be parsed, or when ``output`` cannot be written.
    """
    import csv

    from neuralab.errors import DataError

    path = Path(path)
    try:
        if not path.is_file():
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
    preds = model.predict_table([r.get(smiles_column) or "" for r in rows], level=level, method=method)
    failed = sum(p.error is not None for p in preds)
    if failed == len(preds):
        raise DataError(f"none of the {len(preds)} SMILES in {path} could be parsed; the first error: "
                        f"{preds[0].error}")
    added = ["logS", f"low_{level:g}", f"high_{level:g}", "similarity", "warning", "error"]
    # A test file often holds the measured logS already: keep it, and name the prediction apart, so no column shifts.
    added = [c if c not in columns else f"predicted_{c}" for c in added]
    out = Path(output)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns + added)
            for row, p in zip(rows, preds):
                values = [p.value, p.low, p.high, p.similarity, p.warning, p.error]
                writer.writerow([row.get(c, "") for c in columns] + ["" if v is None else
                                                                       (f"{v:.4f}" if isinstance(v, float) else v)
                                                                       for v in values])
    except OSError as exc:
        raise DataError(f"cannot write the predictions to {out}: {exc.strerror or exc}") from None
    return len(preds), failed
