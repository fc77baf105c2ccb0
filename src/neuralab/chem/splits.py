"""Molecule-aware splits: by Bemis-Murcko scaffold, and groups of duplicate molecules.

A random split of molecules flatters a model twice over: the same compound listed twice (ESOL has 11 such pairs)
lands in train and test, and close analogues share a core. :func:`duplicate_groups` gives one group id per distinct
standardised molecule, for ``split_indices(n, method="group", groups=...)``. :func:`scaffold_split` keeps every
Bemis-Murcko scaffold (Bemis and Murcko 1996, "The Properties of Known Drugs. 1. Molecular Frameworks", J. Med.
Chem. 39(15)) on one side, so the test set holds ring systems the model has not seen; it is chemprop's "balanced"
scaffold split (Yang et al. 2019).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from neuralab.chem.standardize import MoleculeError, canonical_smiles, standardize
from neuralab.data.splits import Split
from neuralab.errors import DataError

__all__ = ["duplicate_groups", "scaffold_split", "scaffolds"]


def scaffolds(smiles_or_mols: Sequence[Chem.Mol | str]) -> list[str]:
    """The Bemis-Murcko scaffold SMILES of each molecule; ``""`` for an acyclic one.

    SMILES are standardised first (so a salt's counter-ion does not count); molecules are used as given.

    Raises
    ------
    MoleculeError
        For a row that does not parse; the message gives the row.
    """
    out = []
    for row, item in enumerate(smiles_or_mols):
        try:
            mol = item if isinstance(item, Chem.Mol) else standardize(item)
            out.append(MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False))
        except MoleculeError as e:
            raise MoleculeError(f"row {row}: {e}") from None
    return out


def scaffold_split(smiles_or_mols: Sequence[Chem.Mol | str], *, val: float = 0.1, test: float = 0.1, seed: int = 0,
                   balanced: bool = True) -> Split:
    """Split molecules so that no Bemis-Murcko scaffold is on two sides.

    Scaffold sets are dealt out whole: to train while it has room for ``(1 - val - test) * n`` molecules, then to
    validation up to ``val * n``, and the rest to test. With ``balanced`` (chemprop's default), sets larger than half
    the validation or test size go first, in a seeded shuffle, and the smaller sets follow in a seeded shuffle too,
    so that big scaffold families (benzenes, the acyclic molecules, which share the empty scaffold) train the model
    and the test set mixes many small families. Without it the sets go largest first, with no randomness.

    Parameters
    ----------
    smiles_or_mols : sequence of rdkit.Chem.Mol or str
    val, test : float, default 0.1
        Target fractions of molecules; the realised sizes differ because scaffold sets are not split.
    seed : int, default 0
        Seed of the shuffles.
    balanced : bool, default True

    Returns
    -------
    neuralab.data.Split
        Sorted int64 indices; ``val`` or ``test`` may be empty when the scaffolds leave nothing for them.

    Raises
    ------
    DataError
        For bad fractions or seed, or no molecules.
    MoleculeError
        For a row that does not parse.
    """
    for arg, fraction in (("val", val), ("test", test)):
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction < 1:
            raise DataError(f"{arg} must be a fraction in [0, 1); got {fraction!r}")
    if val + test >= 1:
        raise DataError(f"val + test must be below 1 to leave molecules for training; got val={val} + test={test}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative int; got {seed!r}")
    n = len(smiles_or_mols)
    if n == 0:
        raise DataError("scaffold_split needs at least one molecule; got none")
    sets: dict[str, list[int]] = {}
    for i, scaffold in enumerate(scaffolds(smiles_or_mols)):
        sets.setdefault(scaffold, []).append(i)
    index_sets = list(sets.values())
    n_train, n_val, n_test = (1 - val - test) * n, val * n, test * n
    if balanced:
        rng = np.random.default_rng(seed)
        big = [s for s in index_sets if len(s) > n_val / 2 or len(s) > n_test / 2]
        small = [s for s in index_sets if not (len(s) > n_val / 2 or len(s) > n_test / 2)]
        index_sets = [big[i] for i in rng.permutation(len(big))] + [small[i] for i in rng.permutation(len(small))]
    else:
        index_sets.sort(key=len, reverse=True)  # stable: equal sizes keep first-seen order
    train: list[int] = []
    val_idx: list[int] = []
    test_idx: list[int] = []
    for index_set in index_sets:
        if len(train) + len(index_set) <= n_train:
            train += index_set
        elif len(val_idx) + len(index_set) <= n_val:
            val_idx += index_set
        else:
            test_idx += index_set
    return Split(*(np.sort(np.asarray(side, dtype=np.int64)) for side in (train, val_idx, test_idx)))


def duplicate_groups(smiles: Sequence[Chem.Mol | str]) -> np.ndarray:
    """Group id of each molecule: equal for equal standardised canonical SMILES, numbered by first appearance.

    A string that does not parse is grouped with identical strings only (after stripping whitespace), so invalid
    rows never merge with valid ones and never raise here.

    Examples
    --------
    >>> duplicate_groups(["CCO", "OCC ", "c1ccccc1", "CCO.[Na+].[Cl-]", "C1CC"]).tolist()
    [0, 0, 1, 0, 2]
    """
    ids: dict[str, int] = {}
    out = np.empty(len(smiles), dtype=np.int64)
    for i, item in enumerate(smiles):
        try:
            key = canonical_smiles(item)
        except MoleculeError:
            key = f"\0invalid\0{item.strip() if isinstance(item, str) else repr(item)}"
        out[i] = ids.setdefault(key, len(ids))
    return out
