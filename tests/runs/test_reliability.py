"""Runs under bad input and faults: damaged files, two writers, failed starts, NaN rows, odd output paths.

Each defect found by the bad-input and fault review has its test here; every user error is one line, exit code 2.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.datasets import load_digits

from neuralab.cli.main import main
from neuralab.errors import NeuralabError
from neuralab.runs.store import lock_run
from neuralab.tasks import load_run

TINY = ["--set", "trainer.epochs=2", "--set", "model.hidden_sizes=[16]", "--set", "scheduler.warmup_epochs=0",
        "--quiet"]


def one_line_error(capsys: pytest.CaptureFixture[str], *args: object) -> str:
    """Run the CLI; assert exit code 2 and a one-line error without a traceback; return the error."""
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", "digits-mlp", *TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture()
def copy(digits_run: Path, tmp_path: Path) -> Path:
    """A copy of the run to damage."""
    target = tmp_path / "run"
    target.mkdir()
    for name in ("config.yaml", "model.safetensors", "metrics.json"):
        (target / name).write_bytes((digits_run / name).read_bytes())
    return target


# ----------------------------------------------------------------------------------- 1, 2: damaged or tampered files

@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_damaged_weights_are_a_one_line_error_naming_the_file(capsys, copy, damage):
    weights = copy / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"garbage": b"\x00not safetensors" * 10, "truncated": data[: len(data) // 2],
                         "empty": b""}[damage])
    err = one_line_error(capsys, "evaluate", copy)
    assert "model.safetensors" in err and "damaged" in err


@pytest.mark.parametrize("text, expected", [
    ("data: [unclosed\n", "config.yaml is damaged"),
    ("- just\n- a list\n", "config.yaml is damaged"),
    ("name: x\ntask: classification\ndata: {name: digits}\nmodel: {name: mlp, in_features: 64, out_features: 10, "
     "hidden_sizes: [32]}\n", "does not match"),
    ("task: classification\ndata: {name: digits}\n", "config.yaml is damaged: name: Field required"),
    ("task: teleportation\ndata: {name: digits}\n", "unknown task 'teleportation'"),
])
def test_a_damaged_config_is_a_one_line_error(capsys, copy, text, expected):
    (copy / "config.yaml").write_text(text)
    err = one_line_error(capsys, "evaluate", copy)
    assert expected in err


@pytest.mark.parametrize("key, value", [("classes", "{not json"), ("classes", '{"a": 1}'), ("members", "two"),
                                        ("members", "3")])
def test_tampered_weights_metadata_is_a_one_line_error(capsys, copy, key, value):
    weights = copy / "model.safetensors"
    with safe_open(weights, framework="pt") as f:
        tensors, meta = {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())
    save_file(tensors, weights, metadata={**meta, key: value})
    err = one_line_error(capsys, "predict", copy, "x.csv")
    assert "model.safetensors" in err and ("metadata" in err or "member" in err)


# ---------------------------------------------------------------------------------- 3: a failed start, then resume

def test_a_start_that_fails_leaves_no_run_folder(capsys, tmp_path):
    out = tmp_path / "run"
    one_line_error(capsys, "train", "esol-mlp", "--data", tmp_path / "missing.csv", "--target-column", "y",
                   "--out", out)
    assert not out.exists()


def test_resume_of_a_run_that_stopped_before_its_first_checkpoint_starts_it_again(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    recipe = yaml.safe_load(Path(load_run.__globals__["__file__"]).parents[1].joinpath(
        "recipes", "digits-mlp.yaml").read_text())
    recipe.update(name="digits-mlp", task="classification")
    recipe["trainer"]["epochs"], recipe["scheduler"]["warmup_epochs"] = 1, 0
    (out / "config.yaml").write_text(yaml.safe_dump(recipe))  # what a start killed in its first epoch leaves
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert (out / "model.safetensors").is_file() and (out / "checkpoints" / "last.ckpt").is_file()


# ------------------------------------------------------------------------------------------------ 4: two writers

def test_a_second_writer_of_a_run_folder_gets_a_one_line_error_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "run"
    with lock_run(out):  # another process is training into it
        err = one_line_error(capsys, "train", "digits-mlp", *TINY, "--out", out)
    assert "being written by another neuralab process" in err
    assert sorted(p.name for p in out.iterdir()) == [".lock"], "nothing of the second run was written"


def test_two_processes_with_the_same_out_never_mix_their_files(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "neuralab.cli.main", "train", "digits-mlp", *TINY, "--out", str(out)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "another neuralab process" in loser or "already holds a run" in loser
    assert set(load_run(out).evaluate("test")) == {"loss", "accuracy", "nll"}


# ------------------------------------------------------------------------------------- 7, 8, 10: prediction input

def test_a_nan_feature_row_is_flagged_and_the_others_are_predicted(capsys, digits_run, tmp_path):
    x = load_digits().data[:3].astype(np.float32)
    x[1, 5] = np.nan
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    assert main(["predict", str(digits_run), str(tmp_path / "x.csv"), "--output", str(tmp_path / "p.csv")]) == 0
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert "1 of 3 rows could not be predicted" in capsys.readouterr().err
    assert "nan" not in (tmp_path / "p.csv").read_text().lower().replace("missing", "")
    assert rows[2].startswith("1,,") and rows[2].endswith("missing or infinite value in column 6")
    assert rows[1].split(",")[1] != "" and rows[3].split(",")[1] != ""
    assert main(["predict", str(digits_run), str(tmp_path / "x.csv")]) == 0
    assert "missing or infinite" in capsys.readouterr().out
    np.savetxt(tmp_path / "nan.csv", np.full((2, 64), np.nan), delimiter=",")
    assert "no row can be predicted" in one_line_error(capsys, "predict", digits_run, tmp_path / "nan.csv")


def test_an_empty_npy_file_is_a_one_line_error(capsys, digits_run, tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"")
    assert "empty.npy" in one_line_error(capsys, "predict", digits_run, tmp_path / "empty.npy")


def test_an_output_that_is_a_folder_is_a_one_line_error_before_any_work(capsys, digits_run, tmp_path):
    np.savetxt(tmp_path / "x.csv", load_digits().data[:2], delimiter=",")
    err = one_line_error(capsys, "predict", digits_run, tmp_path / "x.csv", "-o", tmp_path)
    assert "cannot write the predictions" in err and "folder" in err


# ------------------------------------------------------------------------------------------------- 11: the minor ones

def test_an_invalid_yaml_recipe_is_one_line_with_its_position(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: classification\ndata:\n  name: digits\n   split: random\n")
    err = one_line_error(capsys, "train", bad)
    assert "not valid YAML at line 4" in err


def test_files_a_run_writes_have_the_usual_mode(digits_run):
    mask = os.umask(0o022)
    os.umask(mask)
    expected = 0o666 & ~mask
    for name in ("config.yaml", "metrics.json", "environment.json", "model.safetensors", "checkpoints/last.ckpt",
                 "checkpoints/best.ckpt", "figures.json"):
        assert stat.S_IMODE((digits_run / name).stat().st_mode) == expected, name


def test_resume_removes_the_temporary_files_a_killed_writer_left(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "digits-mlp", *TINY, "--out", str(out)]) == 0
    stale = [out / ".metrics.json.abc123.tmp", out / "checkpoints" / ".last.ckpt.xyz.tmp"]
    for path in stale:
        path.write_bytes(b"half written")
    metrics = json.loads((out / "metrics.json").read_text())
    (out / "model.safetensors").unlink()  # as if killed before the end
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert not any(path.exists() for path in stale)
    assert json.loads((out / "metrics.json").read_text())["final"] == metrics["final"]


def test_a_damaged_config_cannot_be_resumed_either(capsys, copy):
    (copy / "config.yaml").write_text("{{{")
    assert "config.yaml is damaged" in one_line_error(capsys, "train", "--resume", copy)
    with pytest.raises(NeuralabError, match="config.yaml is damaged"):
        load_run(copy)


def test_a_run_saved_before_tasks_had_their_own_data_keys_still_loads(capsys, copy):
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["data"].update(path=None, smiles_column="smiles", window=24, horizon=1, block_size=128, min_count=5,
                          target_scaling="standard", fill="none")  # what 3a11cf5 wrote for every task
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    assert "accuracy" in load_run(copy).evaluate("test")
    assert main(["evaluate", str(copy)]) == 0


def test_resume_never_deletes_files_it_did_not_write(tmp_path):
    out = tmp_path / "project"
    (out / "notes").mkdir(parents=True)
    mine = [out / "notes" / ".draft.tmp", out / ".index.tmp", out / "checkpoints-old.tmp"]
    for path in mine:
        path.write_text("keep me")
    assert main(["train", "digits-mlp", *TINY, "--out", str(out)]) == 0
    assert all(path.read_text() == "keep me" for path in mine)


def test_resume_of_a_finished_run_whose_checkpoints_were_deleted_is_refused(capsys, tmp_path):
    import shutil

    out = tmp_path / "run"
    assert main(["train", "digits-mlp", *TINY, "--out", str(out)]) == 0
    shutil.rmtree(out / "checkpoints")
    before = (out / "model.safetensors").read_bytes()
    assert "it has finished" in one_line_error(capsys, "train", "--resume", out)
    assert (out / "model.safetensors").read_bytes() == before


def test_solubility_model_says_which_runs_it_takes(digits_run):
    from neuralab.tasks.regression import SolubilityModel

    with pytest.raises(NeuralabError, match="is not a molecular regression run \\(its task is 'classification'\\)"):
        SolubilityModel.load(digits_run)
    from neuralab.runs import Run

    with pytest.raises(NeuralabError, match="use neuralab.tasks.load_run"):
        Run.load(digits_run)
