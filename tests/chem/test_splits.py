"""Scaffold splits and duplicate groups, on toy molecules and on ESOL."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.chem import (
    MoleculeDataset,
    MoleculeError,
    duplicate_groups,
    scaffold_split,
    scaffolds,
)
from neuralab.data import split_indices
from neuralab.errors import DataError

# Four scaffold families of different sizes, plus acyclic molecules (the empty scaffold).
TOY = (["c1ccccc1C", "c1ccccc1CC", "c1ccccc1O", "c1ccccc1N", "c1ccccc1Cl", "c1ccccc1F"]  # benzene x6
       + ["C1CCCCC1C", "C1CCCCC1O", "C1CCCCC1N"]  # cyclohexane x3
       + ["c1ccncc1C", "c1ccncc1O"]  # pyridine x2
       + ["c1ccc2ccccc2c1"]  # naphthalene
       + ["CCO", "CCCC", "CC(=O)O", "CCN"])  # acyclic x4


def _sides(split) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return [split.train, split.val, split.test]


def test_scaffolds_of_rings_and_chains() -> None:
    assert scaffolds(["Cc1ccccc1", "CCO", "OC1CCC(c2ccccc2)CC1", "CCO.[Na+]"]) == \
        ["c1ccccc1", "", "c1ccc(C2CCCCC2)cc1", ""]


@pytest.mark.parametrize("balanced", [True, False])
def test_scaffold_split_never_puts_a_scaffold_on_two_sides(balanced: bool) -> None:
    split = scaffold_split(TOY, val=0.2, test=0.2, seed=3, balanced=balanced)
    sides = _sides(split)
    assert sorted(np.concatenate(sides).tolist()) == list(range(len(TOY)))
    names = scaffolds(TOY)
    seen = [{names[i] for i in side} for side in sides]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert all(side.dtype == np.int64 and np.all(np.diff(side) > 0) for side in sides if len(side))


def test_scaffold_split_is_deterministic_for_a_seed() -> None:
    a, b = scaffold_split(TOY, seed=7, val=0.2, test=0.2), scaffold_split(TOY, seed=7, val=0.2, test=0.2)
    for x, y in zip(_sides(a), _sides(b)):
        np.testing.assert_array_equal(x, y)


def test_unbalanced_split_puts_the_biggest_scaffolds_in_train() -> None:
    split = scaffold_split(TOY, val=0.2, test=0.2, balanced=False)
    assert set(range(6)) <= set(split.train.tolist())  # the six benzenes


def test_scaffold_split_validates_its_arguments() -> None:
    with pytest.raises(DataError, match=r"test must be a fraction in \[0, 1\); got 1.5"):
        scaffold_split(TOY, test=1.5)
    with pytest.raises(DataError, match=r"val \+ test must be below 1"):
        scaffold_split(TOY, val=0.5, test=0.5)
    with pytest.raises(DataError, match=r"seed must be a non-negative int; got -1"):
        scaffold_split(TOY, seed=-1)
    with pytest.raises(DataError, match="at least one molecule"):
        scaffold_split([])
    with pytest.raises(MoleculeError, match=r"^row 1: invalid SMILES 'C1CC'"):
        scaffold_split(["CCO", "C1CC"])


def test_duplicate_groups_follow_standardised_canonical_smiles() -> None:
    groups = duplicate_groups(["CCO", "OCC ", "c1ccccc1", "CCO.[Na+].[Cl-]", "C1CC", "C1CC ", "bad"])
    assert groups.tolist() == [0, 0, 1, 0, 2, 2, 3]
    assert groups.dtype == np.int64


def test_esol_scaffold_split_is_disjoint_and_varies_with_the_seed(esol: MoleculeDataset) -> None:
    names = scaffolds(esol.mols)
    split = scaffold_split(esol.mols, val=0.1, test=0.1, seed=0)
    seen = [{names[i] for i in side} for side in _sides(split)]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert len(split.train) + len(split.val) + len(split.test) == len(esol)
    assert abs(len(split.test) - 113) < 30 and abs(len(split.val) - 113) < 30
    other = scaffold_split(esol.mols, val=0.1, test=0.1, seed=1)
    assert not np.array_equal(split.test, other.test)


def test_esol_duplicates_stay_on_one_side_of_a_group_split(esol: MoleculeDataset) -> None:
    groups = duplicate_groups(esol.smiles)
    assert len(np.unique(groups)) == 1117  # 11 duplicate pairs among 1128 rows
    assert np.bincount(groups).max() == 2 and (np.bincount(groups) == 2).sum() == 11
    split = split_indices(len(esol), method="group", groups=groups, seed=0)
    sides = [set(groups[side].tolist()) for side in _sides(split)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
