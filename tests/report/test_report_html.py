import json
import re

import pytest
import yaml

from neuralab.errors import NeuralabError
from neuralab.report import write_report
from neuralab.report.plots import plot_learning_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def overfitting_history():
    train = [1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1]
    val = [1.0, 0.7, 0.5, 0.45, 0.5, 0.55, 0.6, 0.7]
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v, "val_accuracy": 0.6 + 0.01 * i, "val_nll": v,
             "lr": 0.001 * 0.9 ** i, "time": 0.42} for i, (t, v) in enumerate(zip(train, val))]


def make_run(path, *, history=None, description="A tiny <script>alert('x')</script> run", environment=True):
    """Write a synthetic finished run: config.yaml, metrics.json and (optionally) environment.json."""
    path.mkdir(parents=True, exist_ok=True)
    config = {"name": "iris-mlp", "description": description, "task": "classification",
              "data": {"name": "iris", "url": "https://example.org/iris.csv"},
              "model": {"name": "mlp", "hidden_sizes": [16, 16]}, "optimizer": {"name": "adam", "lr": 0.001},
              "trainer": {"epochs": 8, "batch_size": 32}, "metrics": ["accuracy", "nll"]}
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    history = overfitting_history() if history is None else history
    metrics = {"task": "classification", "monitor": "val_loss", "mode": "min", "best_epoch": 4 if history else None,
               "stopped_early": False, "history": history,
               "final": {"train": {"loss": 0.1, "accuracy": 0.987654321},
                         "val": {"loss": 0.45, "accuracy": 0.912345},
                         "test": {"loss": 0.5123456, "accuracy": 0.9, "nll": 0.000123456}}}
    (path / "metrics.json").write_text(json.dumps(metrics))
    if environment:
        env = {"neuralab": "0.1.0", "python": "3.11.2", "torch": "2.13.0", "numpy": "2.0.0",
               "platform": "Linux-x86_64", "device": "cpu", "seed": 0, "git_commit": None,
               "data_files": {"iris.csv": "ab" * 32}, "started": "2025-01-01T00:00:00", "duration_s": 12.3}
        (path / "environment.json").write_text(json.dumps(env))
    return path


def png_bytes(tmp_path, name):
    """A small valid PNG, drawn by our own plotting code."""
    out = tmp_path / f"_{name}"
    plot_learning_curves([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}], out)
    return (out / "learning_curves.png").read_bytes()


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "run")


def test_report_is_written_and_self_contained(run):
    path = write_report(run)
    assert path == run / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") >= 2
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.IGNORECASE)
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()


def test_report_contains_name_metrics_diagnosis_history_config_environment(run):
    text = write_report(run).read_text(encoding="utf-8")
    assert "<h1>iris-mlp</h1>" in text
    for cell in ("0.9877", "0.9123", "0.5123", "0.0001235"):
        assert f"<td>{cell}</td>" in text
    assert "Overfitting: val_loss was best (0.45) at epoch 4" in text
    assert "<details>" in text and "Per-epoch history (8 epochs)" in text
    assert 'class="best"' in text
    assert "hidden_sizes:" in text
    assert "iris.csv: " + "ab" * 32 in text
    assert "2.13.0" in text


def test_user_text_is_escaped(run):
    text = write_report(run).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "<script>" not in text


def test_learning_curve_pngs_are_valid(run):
    write_report(run)
    for name in ("learning_curves.png", "metrics.png"):
        assert (run / name).read_bytes()[:8] == PNG_MAGIC


def test_extra_figures_follow_figures_json_then_the_rest(run, tmp_path):
    data = png_bytes(tmp_path, "fig")
    for name in ("confusion.png", "a_filters.png", "z_samples.png"):
        (run / name).write_bytes(data)
    figures = [{"file": "confusion.png", "title": "Confusion <matrix>", "caption": "rows are true labels"},
               {"file": "missing.png", "title": "Missing"}, {"file": "../outside.png", "title": "Outside"}]
    (run / "figures.json").write_text(json.dumps(figures))
    text = write_report(run).read_text(encoding="utf-8")
    order = [text.index(s) for s in ("Confusion &lt;matrix&gt;", "rows are true labels", "A filters", "Z samples")]
    assert order == sorted(order)
    assert "Missing" not in text and "Outside" not in text
    assert text.count("data:image/png;base64,") == 5  # two curves + three extras, each once


def test_empty_history_still_reports(tmp_path):
    run = make_run(tmp_path / "run", history=[])
    text = write_report(run).read_text(encoding="utf-8")
    assert "No epochs were recorded" in text
    assert not (run / "learning_curves.png").exists()
    assert "<td>0.9877</td>" in text


def test_no_validation_and_nan_history(tmp_path):
    history = [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "lr": 0.01, "time": 0.1} for i in range(5)]
    history[-1]["train_loss"] = float("nan")
    run = make_run(tmp_path / "run", history=history, environment=False)
    text = write_report(run).read_text(encoding="utf-8")
    assert "Training diverged" in text
    assert "<td>nan</td>" in text
    assert "<h2>Environment</h2>" not in text


@pytest.mark.parametrize("missing", ["metrics.json", "config.yaml"])
def test_missing_required_file_is_a_user_error(run, missing):
    (run / missing).unlink()
    with pytest.raises(NeuralabError, match=f"run directory has no {missing}"):
        write_report(run)


def test_missing_run_dir_is_a_user_error(tmp_path):
    with pytest.raises(NeuralabError, match="run_dir must be a run directory"):
        write_report(tmp_path / "nope")


def test_malformed_metrics_json_is_a_user_error(run):
    (run / "metrics.json").write_text("{not json")
    with pytest.raises(NeuralabError, match="metrics.json is not valid JSON"):
        write_report(run)
