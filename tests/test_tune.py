"""neuralab tune: the search-space syntax, a study on the digits that never touches the test split, resumes from
its SQLite file, writes the best recipe and its report, and refuses bad input in one line."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from neuralab.cli.main import main
from neuralab.errors import ConfigError
from neuralab.recipes import load_recipe
from neuralab.tasks.classification import Classification
from neuralab.tune import parse_param, tune

FAST = ["trainer.epochs=3"]


@pytest.mark.parametrize("text, kind, low, high, step, choices", [
    ("optimizer.lr=log:1e-4:1e-1", "log", 1e-4, 0.1, None, ()),
    ("model.dropout=float:0:0.5:0.1", "float", 0.0, 0.5, 0.1, ()),
    ("trainer.batch_size=int:16:256:16", "int", 16, 256, 16, ()),
    ("model.hidden_sizes=choice:[64]|[128, 64]", "choice", None, None, None, ([64], [128, 64])),
])
def test_the_search_space_syntax(text, kind, low, high, step, choices):
    param = parse_param(text)
    assert (param.kind, param.low, param.high, param.step, param.choices) == (kind, low, high, step, choices)


@pytest.mark.parametrize("text, message", [
    ("lr=log:1e-4:1e-1", "KEY=KIND:ARGS"),
    ("optimizer.lr=exp:1:2", "unknown kind 'exp'"),
    ("optimizer.lr=log:0:1", "a log scale needs LOW > 0"),
    ("optimizer.lr=float:1:0.5", "LOW must be below HIGH"),
    ("model.width=int:1.5:8", "int bounds must be whole numbers"),
    ("model.act=choice:relu", "at least two values"),
    ("optimizer.lr=float:a:b", "LOW:HIGH"),
])
def test_bad_search_spaces_are_one_line_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_param(text)


def test_grid_values_come_from_steps_and_choices():
    assert parse_param("trainer.batch_size=int:16:64:16").grid() == [16, 32, 48, 64]
    assert parse_param("model.dropout=float:0:0.2:0.1").grid() == pytest.approx([0.0, 0.1, 0.2])
    with pytest.raises(ConfigError, match="needs a finite set"):
        parse_param("optimizer.lr=log:1e-3:1e-1").grid()


def test_a_study_never_scores_the_test_split(tmp_path, monkeypatch):
    """Spy on every scoring: the digits' test split has 360 rows, and none of them is ever scored or predicted."""
    scored = []
    original = Classification.score

    def spy(self, run, split, targets):
        scored.append(len(targets))
        return original(self, run, split, targets)

    monkeypatch.setattr(Classification, "score", spy)
    summary = tune("digits-mlp", ["optimizer.lr=log:1e-3:1e-1"], trials=3, overrides=FAST, out_dir=tmp_path,
                   pruner="none")
    assert summary["complete"] == 3 and scored and 360 not in scored, scored
    for trial in (tmp_path / "trials").iterdir():
        assert "test" not in json.loads((trial / "metrics.json").read_text())["final"]


def test_a_study_writes_the_best_recipe_results_and_report_and_resumes(tmp_path):
    summary = tune("digits-mlp", ["optimizer.lr=log:1e-3:1e-1", "model.hidden_sizes=choice:[32]|[64, 32]"],
                   trials=3, overrides=FAST, out_dir=tmp_path, seed=1)
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert len(rows) == 3 and {"trial", "state", "value", "optimizer.lr", "model.hidden_sizes"} <= set(rows[0])
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert best["optimizer"]["lr"] == pytest.approx(summary["best_values"]["optimizer.lr"])
    assert best["model"]["hidden_sizes"] in ([32], [64, 32]) and best["name"] == "digits-mlp-tuned"
    assert load_recipe(tmp_path / "best.yaml").trainer.epochs == 3, "best.yaml is a recipe that validates"
    values = [float(r["value"]) for r in rows if r["state"] == "complete"]
    assert summary["best_value"] == min(values) and summary["metric"] == "val_loss"
    assert "Tuning digits-mlp" in (tmp_path / "report.html").read_text()
    assert "history" in json.loads((tmp_path / "figures.json").read_text())
    again = tune("digits-mlp", ["optimizer.lr=log:1e-3:1e-1", "model.hidden_sizes=choice:[32]|[64, 32]"],
                 trials=3, overrides=FAST, out_dir=tmp_path, seed=1)
    assert again["trials"] == 3, "a finished study is not trained again"
    more = tune("digits-mlp", ["optimizer.lr=log:1e-3:1e-1", "model.hidden_sizes=choice:[32]|[64, 32]"],
                trials=4, overrides=FAST, out_dir=tmp_path, seed=1)
    assert more["trials"] == 4 and [r["trial"] for r in more["rows"]][:3] == [0, 1, 2], "it goes on from the file"


def test_a_maximised_metric_and_the_grid_sampler(tmp_path):
    summary = tune("digits-mlp", ["model.dropout=float:0:0.2:0.2"], trials=2, overrides=FAST, out_dir=tmp_path,
                   metric="val.accuracy", sampler="grid", pruner="none")
    assert summary["direction"] == "maximize" and summary["metric"] == "val_accuracy"
    assert sorted(r["model.dropout"] for r in summary["rows"]) == pytest.approx([0.0, 0.2])


def test_cross_validation_scores_each_trial_by_its_folds(tmp_path):
    summary = tune("digits-mlp", ["optimizer.lr=log:1e-3:1e-1"], trials=1, overrides=FAST, out_dir=tmp_path,
                   cv=2, metric="val_accuracy")
    folds = json.loads((tmp_path / "trials" / "trial-0000" / "cv.json").read_text())
    assert summary["rows"][0]["value"] == pytest.approx(folds["summary"]["accuracy"]["mean"])
    assert all("test" not in json.loads((tmp_path / "trials" / "trial-0000" / f"fold-{k}" / "metrics.json")
                                        .read_text())["final"] for k in (0, 1))


@pytest.mark.parametrize("args, message", [
    (["--param", "model.hiden_sizes=choice:[8]|[16]"], "model.hiden_sizes: unknown key"),
    (["--param", "optimizer.lr=log:1e-3:1e-1", "--sampler", "bayes"], "--sampler is one of tpe, random, grid"),
    (["--param", "optimizer.lr=log:1e-3:1e-1", "--metric", "val.rsme"], "the runs log no val_rsme"),
    (["--param", "optimizer.lr=log:1e-3:1e-1", "--trials", "0"], "--trials must be a positive int"),
])
def test_bad_tuning_requests_are_one_line_errors(tmp_path, capsys, args, message):
    assert main(["tune", "digits-mlp", *args, "--set", "trainer.epochs=3", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
