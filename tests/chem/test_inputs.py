"""The molecular input pipeline: the size limit learnt from the training molecules, and training on a CSV with huge
molecules."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from rdkit import Chem

from neuralab.chem import FeaturizerConfig, standardize
from neuralab.chem.inputs import (
    ATOM_LIMIT_FACTOR,
    ATOM_LIMIT_FLOOR,
    MoleculeInputs,
    prepare_molecules,
)
from neuralab.chem.standardize import MAX_HEAVY_ATOMS
from neuralab.errors import DataError

SMALL = FeaturizerConfig(kinds=["morgan"], n_bits=64)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The feature cache goes to a temporary folder, not the user's."""
    monkeypatch.setenv("NEURALAB_CACHE", str(tmp_path / "cache"))


def _alkanes(*sizes: int) -> list[Chem.Mol]:
    return [standardize("C" * n, max_atoms=n) for n in sizes]


def test_fit_records_the_largest_training_molecule_and_derives_the_limit() -> None:
    inputs = MoleculeInputs(SMALL, graph=False)
    assert inputs.train_max_atoms is None and inputs.max_atoms == MAX_HEAVY_ATOMS  # not fitted: the absolute cap
    inputs.fit(_alkanes(3, 70, 12))
    assert inputs.train_max_atoms == 70 and inputs.max_atoms == ATOM_LIMIT_FACTOR * 70 == 140
    assert MoleculeInputs(SMALL, graph=False).fit(_alkanes(3, 20)).max_atoms == ATOM_LIMIT_FLOOR  # the floor


def test_an_explicit_limit_wins_and_bad_ones_are_refused() -> None:
    assert MoleculeInputs(SMALL, graph=False, max_atoms=8).fit(_alkanes(3, 70)).max_atoms == 8
    for bad in (0, -3, 2.5, True):
        with pytest.raises(DataError, match=r"^max_atoms must be a positive int, or None to derive it from the "):
            MoleculeInputs(SMALL, graph=False, max_atoms=bad)  # type: ignore[arg-type]


def test_check_flags_only_molecules_over_the_limit_and_says_why() -> None:
    inputs = MoleculeInputs(SMALL, graph=False).fit(_alkanes(60))
    errors = inputs.check([*_alkanes(120, 121), None])
    assert errors[0] is None and errors[2] is None
    assert errors[1] == ("molecule too large for this model: it has 121 heavy atoms, more than its limit of 120 "
                         "(2 x its largest training molecule of 60 heavy atoms, at least 100; larger molecules are "
                         "far outside what it learnt)")
    assert "(set explicitly)" in MoleculeInputs(SMALL, graph=False, max_atoms=5).check(_alkanes(6))[0]


def test_standardize_flags_too_large_and_unparsable_rows_and_keeps_the_rest() -> None:
    inputs = MoleculeInputs(SMALL, graph=False).fit(_alkanes(60))
    mols, errors = inputs.standardize(["CCO", "C" * 121, "C1CC", "c" * 10_000, "C" * 120])
    assert [m is None for m in mols] == [False, True, True, True, False]
    assert errors[0] is None and errors[4] is None
    assert "121 heavy atoms, more than its limit of 120" in errors[1]
    assert "unclosed ring" in errors[2]
    assert f"10000 heavy atoms, more than the {MAX_HEAVY_ATOMS} accepted" in errors[3]  # refused before sanitising
    big = MoleculeInputs(SMALL, graph=False, max_atoms=MAX_HEAVY_ATOMS + 100)  # above the absolute cap, on purpose
    assert big.standardize(["C" * (MAX_HEAVY_ATOMS + 1)])[1] == [None]


def test_the_limit_round_trips_through_the_state_dict() -> None:
    fitted = MoleculeInputs(SMALL, graph=False).fit(_alkanes(70))
    state = fitted.state_dict()
    assert state["train_max_atoms"].tolist() == [70] and "max_atoms" not in state
    loaded = MoleculeInputs(SMALL, graph=False)
    loaded.load_state_dict(state)
    assert loaded.train_max_atoms == 70 and loaded.max_atoms == 140
    explicit = MoleculeInputs(SMALL, graph=False, max_atoms=9).fit(_alkanes(70))
    again = MoleculeInputs(SMALL, graph=False)
    again.load_state_dict(explicit.state_dict())
    assert again.max_atoms == 9


def test_a_state_dict_saved_before_the_limit_existed_still_loads() -> None:
    old = {k: v for k, v in MoleculeInputs(SMALL, graph=False).fit(_alkanes(70)).state_dict().items()
           if k not in ("train_max_atoms", "max_atoms")}
    inputs = MoleculeInputs(SMALL, graph=False)
    inputs.load_state_dict(old)
    assert isinstance(inputs.reference, torch.Tensor)
    assert inputs.train_max_atoms is None and inputs.max_atoms == MAX_HEAVY_ATOMS
    assert "the absolute cap" in inputs.check(_alkanes(MAX_HEAVY_ATOMS + 1))[0]


def _csv_recipe(path: Path) -> SimpleNamespace:
    """The parts of a molecular recipe that prepare_molecules reads: a user CSV, Morgan bits, a random split."""
    data = SimpleNamespace(name="csv", path=str(path), smiles_column="smiles", target_column="y", split="random",
                           val=0.2, test=0.2, scaling="none", target_scaling="none", features=SMALL, data_dir=None,
                           folds=None, fold=0)
    return SimpleNamespace(data=data, model=SimpleNamespace(name="mlp"), trainer=SimpleNamespace(seed=0))


def test_training_on_a_csv_leaves_out_a_huge_molecule_instead_of_hanging(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    rows = [f"{'C' * n}O,{n / 10}" for n in range(1, 21)]
    rows.insert(7, f"{'C' * 10_000},1.0")  # 10,000 heavy atoms: minutes in the Ipc descriptor before
    path = tmp_path / "mols.csv"
    path.write_text("smiles,y\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="neuralab.chem.inputs"):
        prepared = prepare_molecules(_csv_recipe(path))
    assert sum(len(t) for t in prepared.targets.values()) == 20
    assert all(len(s) < 10_000 for side in prepared.raw.values() for s in side)
    assert prepared.inputs.train_max_atoms <= 21
    assert ("1 of 21 rows have an unparsable or too large SMILES or no target and are left out of training (the first "
            "error: molecule 'CCCC") in caplog.text and f"more than the {MAX_HEAVY_ATOMS} accepted" in caplog.text
