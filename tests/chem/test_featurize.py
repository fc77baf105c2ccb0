"""Featurisation: shapes and names, determinism, counts vs bits, robust descriptors, and the disk cache."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from neuralab.chem import (
    DESCRIPTOR_NAMES,
    FeaturizerConfig,
    MoleculeError,
    feature_names,
    featurize,
)
from neuralab.errors import DataError

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "ClC(Cl)(Cl)Cl", "C"]
# The package exports the function `featurize`, which hides the module of the same name: import it by path.
featurize_module = importlib.import_module("neuralab.chem.featurize")
ALL = FeaturizerConfig(kinds=["morgan", "morgan_counts", "rdkit2d", "maccs"], n_bits=256)
IPC_MAX_ATOMS = featurize_module.IPC_MAX_ATOMS


@pytest.mark.parametrize(("kinds", "width"), [
    (["morgan"], 256), (["morgan_counts"], 256), (["rdkit2d"], len(DESCRIPTOR_NAMES)), (["maccs"], 167),
    (["morgan", "morgan_counts", "rdkit2d", "maccs"], 256 + 256 + len(DESCRIPTOR_NAMES) + 167),
])
def test_shape_dtype_and_names_agree(kinds: list[str], width: int) -> None:
    config = FeaturizerConfig(kinds=kinds, n_bits=256)  # type: ignore[arg-type]
    x = featurize(SMILES, config)
    assert x.shape == (len(SMILES), width) and x.dtype == np.float32
    names = feature_names(config)
    assert len(names) == width and len(set(names)) == width


def test_default_is_2048_morgan_bits_of_radius_2() -> None:
    x = featurize(["CCO"])
    assert x.shape == (1, 2048) and set(np.unique(x)) <= {0.0, 1.0}
    assert feature_names()[:2] == ["morgan_0", "morgan_1"]


def test_blocks_are_concatenated_in_the_order_of_kinds() -> None:
    x = featurize(SMILES, ALL)
    names = feature_names(ALL)
    alone = featurize(SMILES, FeaturizerConfig(kinds=["maccs"]))
    np.testing.assert_array_equal(x[:, names.index("maccs_0"):], alone)
    mw = names.index("rdkit2d_MolWt")
    np.testing.assert_allclose(x[0, mw], 46.069, atol=1e-2)


def test_featurize_is_deterministic_and_smiles_equal_standardised_mols() -> None:
    from neuralab.chem import standardize

    a = featurize(SMILES, ALL)
    b = featurize(list(reversed(SMILES)), ALL)[::-1]
    c = featurize([standardize(s) for s in SMILES], ALL)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_counts_are_at_least_the_bits() -> None:
    bits = featurize(SMILES, FeaturizerConfig(kinds=["morgan"], n_bits=512))
    counts = featurize(SMILES, FeaturizerConfig(kinds=["morgan_counts"], n_bits=512))
    assert np.all(counts >= bits)
    np.testing.assert_array_equal(counts > 0, bits > 0)
    assert counts.max() > 1  # ethanol's CH3 and benzene's aromatic CH repeat


def test_chirality_changes_morgan_only_when_asked() -> None:
    pair = ["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"]
    plain = featurize(pair, FeaturizerConfig(n_bits=1024))
    chiral = featurize(pair, FeaturizerConfig(n_bits=1024, use_chirality=True))
    np.testing.assert_array_equal(plain[0], plain[1])
    assert not np.array_equal(chiral[0], chiral[1])


@pytest.mark.parametrize("smiles", ["[H][H]", "*C", "[Na+]", "C[Hg]C", "O=[Os](=O)(=O)=O"])
def test_descriptors_of_weird_molecules_are_nan_never_inf_or_a_crash(smiles: str) -> None:
    x = featurize([smiles, "CCO"], FeaturizerConfig(kinds=["rdkit2d"]))
    assert not np.isinf(x).any()
    assert np.isfinite(x[1]).all()
    assert np.isfinite(x[0]).sum() > len(DESCRIPTOR_NAMES) // 2  # only a few descriptors fail


def test_a_descriptor_that_raises_becomes_nan() -> None:
    x = featurize(["[H][H]"], FeaturizerConfig(kinds=["rdkit2d"]))  # SPS divides by zero heavy atoms
    assert np.isnan(x[0, DESCRIPTOR_NAMES.index("SPS")])


def test_bad_rows_and_single_strings_are_errors() -> None:
    with pytest.raises(MoleculeError, match=r"^row 1: invalid SMILES 'C1CC': SMILES Parse Error: unclosed ring"):
        featurize(["CCO", "C1CC"])
    with pytest.raises(MoleculeError, match=r"^row 0: no molecule \(None\)"):
        featurize([None])  # type: ignore[list-item]
    with pytest.raises(DataError, match=r"expects a sequence of molecules or SMILES; got one str: wrap it in a list"):
        featurize("CCO")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [{"kinds": []}, {"kinds": ["morgan", "morgan"]}, {"kinds": ["ecfp"]},
                                 {"radius": -1}, {"n_bits": 0}, {"nbits": 1024}])
def test_config_rejects_bad_values_and_unknown_keys(bad: dict) -> None:
    with pytest.raises(ValidationError):
        FeaturizerConfig(**bad)


def test_cache_hit_returns_the_identical_array_without_computing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first = featurize(SMILES, ALL, cache_dir=tmp_path)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(list(folder.glob("*.npz"))) == 1 and (folder / "config.json").is_file()
    monkeypatch.setattr(featurize_module, "_compute", _must_not_compute)
    again = featurize(SMILES + ["OCC"], ALL, cache_dir=tmp_path)  # OCC is ethanol again: a hit too
    np.testing.assert_array_equal(again[:-1], first)  # NaN-aware, bit for bit
    np.testing.assert_array_equal(again[-1], first[0])


def test_cache_computes_only_missing_molecules_and_separates_configs(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    featurize(SMILES[:3], ALL, cache_dir=tmp_path)
    computed: list[int] = []
    real = featurize_module._compute

    def counting(mols, config, width):  # type: ignore[no-untyped-def]
        computed.append(len(mols))
        return real(mols, config, width)

    monkeypatch.setattr(featurize_module, "_compute", counting)
    both = featurize(SMILES, ALL, cache_dir=tmp_path)
    np.testing.assert_array_equal(both, featurize(SMILES, ALL))
    featurize(SMILES, FeaturizerConfig(kinds=["maccs"]), cache_dir=tmp_path)
    assert computed == [3, len(SMILES), len(SMILES)]  # the new rows, the uncached check, the other config
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_corrupt_cache_shard_is_deleted_and_recomputed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = featurize(SMILES, ALL, cache_dir=tmp_path)
    (shard,) = tmp_path.glob("*/*.npz")
    shard.write_bytes(b"not a zip file at all")
    with caplog.at_level(logging.WARNING, logger="neuralab.chem.featurize"):
        again = featurize(SMILES, ALL, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, first)
    assert "unreadable" in caplog.text
    assert not shard.exists() and len(list(tmp_path.glob("*/*.npz"))) == 1


def test_cache_shard_of_the_wrong_shape_is_recomputed(tmp_path: Path) -> None:
    config = FeaturizerConfig(kinds=["maccs"])
    first = featurize(SMILES, config, cache_dir=tmp_path)
    (shard,) = tmp_path.glob("*/*.npz")
    np.savez(shard, keys=np.array([b"0" * 32], dtype="S32"), x=np.zeros((1, 5), dtype=np.float32))
    np.testing.assert_array_equal(featurize(SMILES, config, cache_dir=tmp_path), first)


def test_many_shards_are_merged_into_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(featurize_module, "MAX_SHARDS", 2)
    config = FeaturizerConfig(kinds=["maccs"])
    for smiles in SMILES[:3]:
        featurize([smiles], config, cache_dir=tmp_path)  # one shard each
    assert len(list(tmp_path.glob("*/*.npz"))) == 3
    x = featurize(SMILES[:3], config, cache_dir=tmp_path)  # all cached: reads 3 > 2 shards and merges them
    assert len(list(tmp_path.glob("*/*.npz"))) == 1
    np.testing.assert_array_equal(x, featurize(SMILES[:3], config))
    np.testing.assert_array_equal(featurize(SMILES[:3], config, cache_dir=tmp_path), x)


def test_unwritable_cache_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    x = featurize(["CCO"], FeaturizerConfig(kinds=["maccs"]), cache_dir=blocker)
    assert x.shape == (1, 167)


def test_concurrent_calls_share_one_cache_safely(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    config = FeaturizerConfig(kinds=["morgan", "maccs"], n_bits=64)
    expected = featurize(SMILES, config)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda k: featurize(SMILES[k:] + SMILES[:k], config, cache_dir=tmp_path), range(6)))
    for k, x in enumerate(results):
        np.testing.assert_array_equal(x, np.roll(expected, -k, axis=0))
    np.testing.assert_array_equal(featurize(SMILES, config, cache_dir=tmp_path), expected)
    assert not list(tmp_path.glob("*/.*.tmp"))  # no temporary file left behind


def test_no_molecules_gives_an_empty_matrix() -> None:
    assert featurize([], FeaturizerConfig(kinds=["maccs"])).shape == (0, 167)


def _must_not_compute(*args: object) -> np.ndarray:
    raise AssertionError("a cached row was recomputed")


def test_ipc_is_skipped_above_ipc_max_atoms(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ipc took 187 s on a 1,000-atom molecule; above the cut-off it is not even called.
    called: list[int] = []
    j = DESCRIPTOR_NAMES.index("Ipc")
    spied = list(featurize_module._DESCRIPTORS)
    real = spied[j]
    spied[j] = lambda mol: called.append(mol.GetNumAtoms()) or real(mol)
    monkeypatch.setattr(featurize_module, "_DESCRIPTORS", spied)
    at, above = "C" * IPC_MAX_ATOMS, "C" * (IPC_MAX_ATOMS + 1)
    x = featurize([at, above], FeaturizerConfig(kinds=["rdkit2d"]))
    assert called == [IPC_MAX_ATOMS]
    ipc = [DESCRIPTOR_NAMES.index("Ipc"), DESCRIPTOR_NAMES.index("AvgIpc")]
    assert np.isfinite(x[0, ipc]).all() and np.isnan(x[1, ipc]).all()
    others = np.delete(x[1], ipc)
    assert np.isfinite(others).sum() == np.isfinite(np.delete(x[0], ipc)).sum()  # nothing else is skipped
