"""Molecules made ready for a model: features for an MLP, graphs for an MPNN, and the applicability reference.

:class:`MoleculeInputs` is the input pipeline of a molecular run (see :mod:`neuralab.data.prepared`). It is fitted
on the training molecules only: the feature scaler learns their statistics, and their Morgan fingerprints are kept
(packed, in the weights file) so that a prediction can say how similar a new molecule is to anything seen in
training. :func:`prepare_molecules` loads a molecular data set and splits it without letting duplicates or (for
the scaffold split) scaffolds cross sides.

The pipeline also remembers the size of its largest training molecule, and refuses at prediction time a molecule
far larger (:attr:`MoleculeInputs.max_atoms`): such a molecule is outside what the model learnt, and some RDKit
descriptors take minutes on very large ones. Training data get the absolute cap of
:data:`~neuralab.chem.standardize.MAX_HEAVY_ATOMS` heavy atoms: larger rows are left out like unparsable ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import torch
from torch.utils.data import Dataset

from neuralab.chem.datasets import load_esol, load_molecule_csv, load_solubility
from neuralab.chem.featurize import FeaturizerConfig, featurize
from neuralab.chem.graphs import ATOM_FDIM, BOND_FDIM, collate_graphs, mol_to_graph
from neuralab.chem.splits import duplicate_groups, scaffold_split, scaffolds
from neuralab.chem.standardize import MAX_HEAVY_ATOMS, heavy_atoms, standardize_many
from neuralab.data.prepared import PreparedData
from neuralab.data.registry import search_dirs
from neuralab.data.scaling import make_scaler
from neuralab.data.splits import Split, cv_fold, split_indices
from neuralab.errors import DataError

__all__ = ["ATOM_LIMIT_FACTOR", "ATOM_LIMIT_FLOOR", "GraphSplit", "MoleculeInputs", "prepare_molecules",
           "tanimoto_max"]

logger = logging.getLogger(__name__)

_REFERENCE = FeaturizerConfig(kinds=["morgan"], radius=2, n_bits=2048)
# The default size limit of prediction: twice the largest training molecule, and never under 100 heavy atoms, so that
# a model of small molecules (ESOL: at most 55) still takes any drug-sized one (its low similarity flags it instead).
ATOM_LIMIT_FACTOR = 2
ATOM_LIMIT_FLOOR = 100


class GraphSplit(Dataset):
    """Molecular graphs with optional per-molecule features and targets; batched by :meth:`collate`."""

    def __init__(self, graphs: list[Any], extra: torch.Tensor | None = None, y: torch.Tensor | None = None) -> None:
        self.graphs, self.extra, self.y = graphs, extra, y

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        item: tuple[Any, ...] = (self.graphs[i], None if self.extra is None else self.extra[i])
        return item if self.y is None else (*item, self.y[i])

    @staticmethod
    def collate(items: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        """``(GraphBatch,)`` or ``(GraphBatch, y)``; per-molecule features ride on ``GraphBatch.extra``."""
        batch = collate_graphs([it[0] for it in items])
        if items[0][1] is not None:
            batch.extra = torch.stack([it[1] for it in items])
        return (batch,) if len(items[0]) == 2 else (batch, torch.stack([it[2] for it in items]))


class MoleculeInputs:
    """The input pipeline of a molecular run.

    Parameters
    ----------
    features
        Fingerprints/descriptors to compute (for an MLP, or as extra inputs to an MPNN); ``None`` for none.
    graph
        Build molecular graphs (for an MPNN).
    scaling
        Scaler for the features: ``robust`` suits descriptors with heavy tails, ``none`` suits bit vectors.
    max_atoms
        The most heavy atoms (:func:`~neuralab.chem.standardize.heavy_atoms`) of a molecule to predict; ``None``
        derives the limit from the training molecules (see :attr:`max_atoms`).

    Attributes
    ----------
    train_max_atoms : int or None
        Heavy atoms of the largest training molecule, set by :meth:`fit`; None before, and for a pipeline loaded
        from a run saved before it was recorded.
    """

    def __init__(self, features: FeaturizerConfig | None, graph: bool, scaling: str = "none",
                 max_atoms: int | None = None) -> None:
        if features is None and not graph:
            raise DataError("a molecular model needs features (data.features) or graphs (model: mpnn)")
        if max_atoms is not None and (isinstance(max_atoms, bool) or not isinstance(max_atoms, int) or max_atoms < 1):
            raise DataError(f"max_atoms must be a positive int, or None to derive it from the training molecules; "
                            f"got {max_atoms!r}")
        self.features, self.graph = features, graph
        self.scaler = make_scaler(scaling) if features is not None else None
        self.reference: torch.Tensor | None = None
        self.train_max_atoms: int | None = None
        self._max_atoms = max_atoms

    @classmethod
    def from_recipe(cls, recipe: Any) -> MoleculeInputs:
        """Build from a recipe: graphs for ``model.name == "mpnn"``, features from ``data.features``, the size limit
        from ``data.max_atoms`` (None: from the training molecules)."""
        graph = recipe.model.name == "mpnn"
        cfg = recipe.data.features
        features = FeaturizerConfig(**cfg.model_dump()) if cfg is not None else (None if graph else _REFERENCE)
        return cls(features, graph, recipe.data.scaling, max_atoms=getattr(recipe.data, "max_atoms", None))

    @property
    def width(self) -> int:
        """Number of feature columns (0 without features)."""
        if self.features is None:
            return 0
        from neuralab.chem.featurize import feature_names

        return len(feature_names(self.features))

    @property
    def max_atoms(self) -> int:
        """The most heavy atoms a molecule may have to be predicted.

        The explicit ``max_atoms`` when one was given; else ``ATOM_LIMIT_FACTOR`` (2) times the largest training
        molecule, but at least ``ATOM_LIMIT_FLOOR`` (100); else, for a pipeline not fitted or saved before the
        training size was recorded, the absolute cap :data:`~neuralab.chem.standardize.MAX_HEAVY_ATOMS` (500).
        """
        if self._max_atoms is not None:
            return self._max_atoms
        if self.train_max_atoms is None:
            return MAX_HEAVY_ATOMS
        return max(ATOM_LIMIT_FACTOR * self.train_max_atoms, ATOM_LIMIT_FLOOR)

    def fit(self, mols: list[Any]) -> Self:
        if self.scaler is not None:
            self.scaler.fit(_features(mols, self.features))
        self.reference = torch.from_numpy(np.packbits(_features(mols, _REFERENCE) > 0, axis=1))
        self.train_max_atoms = max((heavy_atoms(m) for m in mols), default=None)
        return self

    def check(self, mols: Sequence[Any]) -> list[str | None]:
        """Why each molecule cannot be predicted: a one-line error for one over :attr:`max_atoms`, else None.

        Parameters
        ----------
        mols : sequence of rdkit.Chem.Mol or None
            Standardised molecules; None (a row that failed earlier) gives None, its own error being elsewhere.

        Returns
        -------
        list of str or None
            One entry per molecule.
        """
        limit = self.max_atoms
        errors: list[str | None] = []
        for mol in mols:
            n = None if mol is None else heavy_atoms(mol)
            errors.append(None if n is None or n <= limit else
                          f"molecule too large for this model: it has {n} heavy atoms, more than its limit of "
                          f"{limit} ({self._limit_reason()})")
        return errors

    def standardize(self, smiles: Sequence[Any]) -> tuple[list[Any], list[str | None]]:
        """Standardise SMILES for prediction, never raising for a bad row (as
        :func:`~neuralab.chem.standardize.standardize_many`), with this model's size limit.

        Returns
        -------
        mols : list of rdkit.Chem.Mol or None
            None where the row cannot be predicted.
        errors : list of str or None
            None where the row is fine, else why not: RDKit's reason, or the size and the limit (:meth:`check`).
        """
        mols, errors = standardize_many(smiles, max_atoms=max(self.max_atoms, MAX_HEAVY_ATOMS))
        for i, error in enumerate(self.check(mols)):
            if error is not None:
                mols[i], errors[i] = None, error
        return mols, errors

    def _limit_reason(self) -> str:
        """Where :attr:`max_atoms` comes from, for messages."""
        if self._max_atoms is not None:
            return "set explicitly"
        if self.train_max_atoms is None:
            return "the absolute cap; this model's training molecules were not measured"
        return (f"{ATOM_LIMIT_FACTOR} x its largest training molecule of {self.train_max_atoms} heavy atoms, at least "
                f"{ATOM_LIMIT_FLOOR}; larger molecules are far outside what it learnt")

    def transform(self, mols: list[Any], y: torch.Tensor | None = None) -> tuple[torch.Tensor, ...] | GraphSplit:
        extra = None
        if self.scaler is not None:
            extra = self.scaler.transform(torch.from_numpy(_features(mols, self.features)))
            extra = torch.nan_to_num(extra, nan=0.0)  # a descriptor RDKit could not compute: the median after scaling
        if self.graph:
            return GraphSplit([mol_to_graph(m) for m in mols], extra, y)
        return (extra,) if y is None else (extra, y)

    def similarity(self, mols: list[Any]) -> np.ndarray:
        """Maximum Tanimoto similarity (Morgan r=2, 2048 bits) of each molecule to the training molecules."""
        if self.reference is None:
            raise DataError("the input pipeline is not fitted: no training fingerprints to compare with")
        query = _features(mols, _REFERENCE) > 0
        return tanimoto_max(query, np.unpackbits(self.reference.numpy(), axis=1)[:, :query.shape[1]].astype(bool))

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {f"scaler.{k}": v for k, v in (self.scaler.state_dict() if self.scaler else {}).items()}
        if self.reference is not None:
            state["reference"] = self.reference
        if self.train_max_atoms is not None:
            state["train_max_atoms"] = torch.tensor([self.train_max_atoms], dtype=torch.int64)
        if self._max_atoms is not None:
            state["max_atoms"] = torch.tensor([self._max_atoms], dtype=torch.int64)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore a fitted pipeline; a state saved before the training size was recorded loads too (the limit is
        then the absolute cap). A saved explicit ``max_atoms`` applies unless this pipeline was given its own."""
        if self.scaler is not None:
            self.scaler.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("scaler.")})
        self.reference = state.get("reference")
        self.train_max_atoms = int(state["train_max_atoms"].reshape(-1)[0]) if "train_max_atoms" in state else None
        if self._max_atoms is None and "max_atoms" in state:
            self._max_atoms = int(state["max_atoms"].reshape(-1)[0])


def _features(mols: list[Any], config: FeaturizerConfig) -> np.ndarray:
    """Features through the on-disk cache (``$NEURALAB_CACHE/features``, by default ``~/.cache/neuralab``)."""
    return featurize(mols, config, cache_dir=search_dirs(folder="features")[-1])


def tanimoto_max(query: np.ndarray, reference: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """For each row of boolean ``query`` (N, D), the largest Tanimoto similarity to any row of ``reference`` (M, D)."""
    ref = reference.astype(np.float32)
    ref_counts = ref.sum(1)
    best = np.zeros(len(query), dtype=np.float64)
    for lo in range(0, len(query), chunk):
        q = query[lo:lo + chunk].astype(np.float32)
        inter = q @ ref.T  # (n, M) common bits
        union = q.sum(1, keepdims=True) + ref_counts[None, :] - inter
        sim = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        best[lo:lo + chunk] = sim.max(1) if sim.shape[1] else 0.0
    return best


def _load(cfg: Any) -> Any:
    if cfg.name == "esol":
        return load_esol(data_dir=cfg.data_dir)
    if cfg.name == "solubility":
        return load_solubility()
    if cfg.path is None:
        raise DataError("data.name csv needs data.path (the CLI's --data FILE)")
    if cfg.target_column is None:
        raise DataError("a CSV data set needs data.target_column (the CLI's --target-column NAME)")
    return load_molecule_csv(cfg.path, smiles_column=cfg.smiles_column, target_column=cfg.target_column)


def _split(ds: Any, mols: list[Any], smiles: list[str], cfg: Any, seed: int) -> Split:
    n = len(mols)
    if cfg.split == "scaffold":
        return scaffold_split(mols, val=cfg.val, test=cfg.test, seed=seed)
    groups = duplicate_groups(smiles)
    if cfg.split == "predefined":
        if ds.predefined_split is None:
            raise DataError(f"data set {cfg.name!r} has no predefined split; use random or scaffold")
        train_all = np.flatnonzero(ds.predefined_split == "train")
        test = np.flatnonzero(ds.predefined_split == "test")
        inner = split_indices(len(train_all), method="group", val=cfg.val, test=0.0, seed=seed,
                              groups=groups[train_all])
        return Split(train_all[inner.train], train_all[inner.val], test)
    if cfg.split not in {"random", "group"}:
        raise DataError(f"data.split {cfg.split!r} is not for molecules; use random, scaffold or predefined")
    # Duplicated molecules (same canonical SMILES) are kept on one side: a random split by molecule, not by row.
    return split_indices(n, method="group", val=cfg.val, test=cfg.test, seed=seed, groups=groups)


def prepare_molecules(recipe: Any) -> PreparedData:
    """Load, split and featurise a molecular recipe's data (regression of one target)."""
    cfg = recipe.data
    ds = _load(cfg)
    if ds.y is None:
        raise DataError(f"data set {cfg.name!r} has no target column to learn")
    keep = ds.valid_mask
    if not keep.any():
        raise DataError(f"none of the {len(ds.mols)} rows of {cfg.name!r} has a parsable SMILES and a target")
    if not keep.all():
        first = next((e for e in ds.errors if e is not None), None)
        logger.warning("%d of %d rows have an unparsable or too large SMILES or no target and are left out of "
                       "training%s", (~keep).sum(), len(keep), f" (the first error: {first})" if first else "")
    idx_keep = np.flatnonzero(keep)
    mols = [ds.mols[i] for i in idx_keep]
    smiles = [ds.smiles[i] for i in idx_keep]
    y = np.asarray(ds.y, dtype=np.float32)[idx_keep]
    split = _split(ds, mols, smiles, cfg, recipe.trainer.seed)
    if cfg.folds is not None:  # cross-validation: folds never split a molecule's duplicates (or a scaffold)
        groups = np.unique(scaffolds(mols), return_inverse=True)[1] if cfg.split == "scaffold" \
            else duplicate_groups(smiles)
        split = cv_fold(split, cfg.folds, cfg.fold, seed=recipe.trainer.seed, groups=groups)
    if ds.predefined_split is not None:
        ds.predefined_split = ds.predefined_split[idx_keep]
    inputs = MoleculeInputs.from_recipe(recipe).fit([mols[i] for i in split.train])
    y_scaler = make_scaler("standard").fit(y[split.train].reshape(-1, 1)) if cfg.target_scaling == "standard" \
        else None
    splits, targets, raw = {}, {}, {}
    for name in ("train", "val", "test"):
        idx = getattr(split, name)
        if len(idx) == 0:
            continue
        t = torch.from_numpy(y[idx].reshape(-1, 1))
        splits[name] = inputs.transform([mols[i] for i in idx], y_scaler.transform(t) if y_scaler else t)
        targets[name] = y[idx]
        raw[name] = [smiles[i] for i in idx]
    model_args = {"in_features": inputs.width, "out_features": 1, "atom_fdim": ATOM_FDIM, "bond_fdim": BOND_FDIM,
                  "extra_features": inputs.width}
    extras: dict[str, Any] = {}
    baseline = getattr(ds, "baseline", None)
    if baseline is not None and "test" in targets:
        b = np.asarray(baseline, dtype=np.float64)[idx_keep][split.test]
        extras["metrics"] = {"baseline": {"name": "Delaney ESOL equation (reported, never a feature)",
                                          "test_rmse": float(np.sqrt(np.mean((b - targets["test"]) ** 2)))}}
    return PreparedData(splits, targets, inputs, y_scaler, "regression", model_args, [], dict(ds.files), raw, extras)
