import math

from neuralab.report import plot_learning_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(path):
    return path.read_bytes()[:8] == PNG_MAGIC


def synthetic(n=8, *, lr_decay=True):
    return [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "val_loss": 1.2 / (i + 1) + 0.01 * i,
             "train_accuracy": 0.5 + 0.05 * i, "val_accuracy": 0.45 + 0.05 * i, "val_nll": 1.1 / (i + 1),
             "lr": 0.1 * 0.5 ** i if lr_decay else 0.1, "time": 0.4} for i in range(n)]


def test_writes_learning_curves_and_metrics_pngs(tmp_path):
    paths = plot_learning_curves(synthetic(), tmp_path, best_epoch=5)
    assert [p.name for p in paths] == ["learning_curves.png", "metrics.png"]
    assert all(p.parent == tmp_path and is_png(p) for p in paths)


def test_empty_history_writes_nothing(tmp_path):
    assert plot_learning_curves([], tmp_path / "out") == []
    assert not (tmp_path / "out").exists()


def test_loss_only_with_constant_lr_has_no_metrics_png(tmp_path):
    history = [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "lr": 0.01, "time": 0.1} for i in range(3)]
    paths = plot_learning_curves(history, tmp_path)
    assert [p.name for p in paths] == ["learning_curves.png"]
    assert not (tmp_path / "metrics.png").exists()


def test_nan_none_and_log_scale_are_handled(tmp_path):
    history = [{"epoch": i + 1, "train_loss": 10.0 ** -i, "val_loss": None} for i in range(6)]
    history[3]["train_loss"] = math.nan
    history[4]["train_loss"] = math.inf
    history[2]["val_accuracy"] = math.nan  # a metric with no finite value gets no panel
    paths = plot_learning_curves(history, tmp_path, best_epoch=2)
    assert [p.name for p in paths] == ["learning_curves.png"]
    assert is_png(paths[0])


def test_all_nan_losses_still_plot(tmp_path):
    history = [{"epoch": 1, "train_loss": math.nan}, {"epoch": 2, "train_loss": math.nan}]
    paths = plot_learning_curves(history, tmp_path)
    assert is_png(paths[0])


def test_many_metrics_and_varying_lr_share_one_figure(tmp_path):
    history = synthetic(40)
    for i, logs in enumerate(history):
        logs.update({"val_rmse": 1.0 / (i + 1), "val_r2": i / 40, "train_kl": 0.1 * i, "beta": i / 40})
    paths = plot_learning_curves(history, tmp_path / "new")
    assert [p.name for p in paths] == ["learning_curves.png", "metrics.png"]
    assert all(is_png(p) for p in paths)
