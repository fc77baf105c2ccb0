import os
import subprocess
import sys

import numpy as np
import pytest

import neuralab
from neuralab.cli.main import main

COMMANDS = ["recipes", "train", "cv", "evaluate", "predict", "report"]


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"neuralab {neuralab.__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(capsys, command):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0 and "Example: neuralab " + command in " ".join(out.split())


def test_recipes_lists_bundled_recipes(capsys):
    code, out, _ = run_cli(capsys, "recipes")
    assert code == 0 and "digits-mlp" in out and "digits" in out


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", "digits-mlp", "--set", "trainer.epochs=3", "--out", str(out), "--quiet"]) == 0
    return out


def test_train_writes_a_complete_run_directory(digits_run):
    for name in ("config.yaml", "model.safetensors", "metrics.json", "environment.json", "report.html",
                 "learning_curves.png", "checkpoints/last.ckpt", "checkpoints/best.ckpt"):
        assert (digits_run / name).is_file(), name
    config = (digits_run / "config.yaml").read_text()
    assert "in_features: 64" in config and "out_features: 10" in config


def test_evaluate_predict_and_report_on_a_run(capsys, digits_run, tmp_path):
    code, out, _ = run_cli(capsys, "evaluate", str(digits_run), "--split", "test")
    assert code == 0 and "accuracy" in out
    from sklearn.datasets import load_digits

    x = load_digits().data[:5]
    csv = tmp_path / "five.csv"
    np.savetxt(csv, x, delimiter=",", header=",".join(f"px{i}" for i in range(64)), comments="")
    code, out, _ = run_cli(capsys, "predict", str(digits_run), str(csv), "--output", str(tmp_path / "p.csv"))
    assert code == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].split(",")[:4] == ["row", "prediction", "p_0", "p_1"] and len(lines) == 6
    assert lines[0].split(",")[-1] == "error"
    assert all(abs(sum(map(float, ln.split(",")[2:-1])) - 1) < 1e-3 for ln in lines[1:])
    code, out, _ = run_cli(capsys, "report", str(digits_run))
    assert code == 0 and "report.html" in out


@pytest.mark.parametrize("args, message", [
    (["train", "digits-mlp", "--set", "trainer.epocs=3"], "did you mean 'epochs'"),
    (["train", "no-such-recipe"], "no recipe or file named 'no-such-recipe'"),
    (["evaluate", "/no/such/run"], "is not a finished run"),
    (["train", "digits-mlp", "--device", "tpu"], "auto, cpu, cuda"),
    (["cv", "airline-lstm", "-k", "3"], "cross-validation is not for forecasting recipes"),
])
def test_user_errors_are_one_line_with_exit_code_2(capsys, args, message):
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_predict_rejects_wrong_feature_count(capsys, digits_run, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("1,2,3\n")
    code, _, err = run_cli(capsys, "predict", str(digits_run), str(csv))
    assert code == 2 and "expects 64 features" in err


def test_debug_flag_shows_the_traceback():
    proc = subprocess.run([sys.executable, "-m", "neuralab.cli.main", "--debug", "train", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ConfigError" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "neuralab.cli.main", "train", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_cv_runs_one_fold_per_validation_part_and_summarises_them(capsys, tmp_path):
    import json

    code, out, _ = run_cli(capsys, "cv", "digits-mlp", "-k", "3", "--set", "trainer.epochs=3", "--quiet",
                           "--out", str(tmp_path / "cv"))
    assert code == 0 and "95% interval of the mean" in out
    result = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert [f["fold"] for f in result["folds"]] == [0, 1, 2]
    accuracy = [f["val"]["accuracy"] for f in result["folds"]]
    summary = result["summary"]["accuracy"]
    assert summary["mean"] == pytest.approx(np.mean(accuracy))
    assert summary["low"] < summary["mean"] < summary["high"]
    assert all((tmp_path / "cv" / f"fold-{i}" / "model.safetensors").is_file() for i in range(3))
    configs = [(tmp_path / "cv" / f"fold-{i}" / "config.yaml").read_text() for i in range(3)]
    assert all(f"fold: {i}" in c and "folds: 3" in c for i, c in enumerate(configs))


@pytest.mark.parametrize("command", COMMANDS + ["sample", "similar", "analogy", "summary", "filters", "vanishing",
                                                "tasks"])
def test_help_examples_stay_one_per_line(capsys, command):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    for line in out.splitlines():
        assert line.count("Example:") <= 1, line
        assert "Example:" not in line or line.strip().startswith("Example:"), line


def test_output_without_a_terminal_is_never_cut(digits_run, tmp_path):
    env = {**os.environ, "COLUMNS": "60"}
    cli = [sys.executable, "-m", "neuralab.cli.main"]
    done = subprocess.run([*cli, "evaluate", str(digits_run), "--split", "test"], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0 and "…" not in done.stdout and "accuracy" in done.stdout
    done = subprocess.run([*cli, "train", "digits-mlp", "--set", "trainer.epochs=2", "--set",
                           "scheduler.warmup_epochs=0", "--out", str(tmp_path / "r")], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 2 and "…" not in done.stderr and "val_accuracy" in lines[-1] and lines[-1].endswith("s)")
