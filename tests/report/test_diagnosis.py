import math

import pytest

from neuralab.errors import NeuralabError
from neuralab.report import diagnose


def history(train, val=None, **extra):
    """Synthetic per-epoch logs from lists of train (and val) losses."""
    out = []
    for i, loss in enumerate(train):
        logs = {"epoch": i + 1, "train_loss": loss}
        if val is not None:
            logs["val_loss"] = val[i]
        for key, values in extra.items():
            logs[key] = values[i]
        out.append(logs)
    return out


TRAIN_CONVERGED = [1.0, 0.5, 0.3, 0.25, 0.24, 0.239]


def test_overfit_when_val_rises_after_best_while_train_falls():
    note = diagnose(history([1.0, 0.6, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1], [1.0, 0.7, 0.5, 0.45, 0.5, 0.55, 0.6, 0.7]))
    assert note.startswith("Overfitting")
    assert "epoch 4" in note


def test_overfit_when_final_generalisation_gap_is_large():
    note = diagnose(history([1.0, 0.5, 0.2, 0.1, 0.05, 0.04, 0.039], [1.0, 0.6, 0.5, 0.45, 0.44, 0.44, 0.44]))
    assert note.startswith("Overfitting")
    assert "above the train loss" in note


def test_overfit_uses_monitor_and_mode_max():
    acc = [0.5, 0.7, 0.9, 0.85, 0.8, 0.75]
    logs = history([1.0, 0.6, 0.4, 0.3, 0.25, 0.2], val_accuracy=acc)
    assert diagnose(logs, monitor="val_accuracy", mode="max").startswith("Overfitting: val_accuracy was best (0.9)")
    assert diagnose(logs, monitor="val_accuracy", mode="auto").startswith("Overfitting")


def test_underfit_when_train_loss_still_falling_steeply():
    note = diagnose(history([1.0, 0.8, 0.6, 0.45, 0.34, 0.26], [1.0, 0.8, 0.62, 0.48, 0.37, 0.29]))
    assert note.startswith("Underfitting")
    assert "more epochs" in note


def test_underfit_when_train_loss_barely_moved():
    note = diagnose(history([1.0, 0.99, 0.985, 0.98], [1.0, 0.99, 0.985, 0.98]))
    assert note.startswith("Underfitting")
    assert "barely moved" in note


def test_good_fit_when_converged_with_small_gap():
    note = diagnose(history(TRAIN_CONVERGED, [1.1, 0.56, 0.33, 0.28, 0.27, 0.268]))
    assert note.startswith("Good fit")
    assert "small gap" in note


def test_no_validation_set_is_noted():
    note = diagnose(history(TRAIN_CONVERGED))
    assert note.startswith("No validation set")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_diverged_when_loss_is_not_finite(bad):
    note = diagnose(history([1.0, 0.5, bad], [1.0, 0.6, 0.7]))
    assert note.startswith("Training diverged")
    assert "epoch 3" in note


def test_diverged_when_val_loss_is_not_finite():
    assert diagnose(history([1.0, 0.5, 0.4], [1.0, math.nan, 0.7])).startswith("Training diverged: val_loss")


def test_diverged_when_train_loss_explodes():
    assert diagnose(history([1.0, 3.0, 30.0])).startswith("Training diverged: train loss grew")


def test_unstable_when_train_and_val_both_worsen():
    note = diagnose(history([1.0, 0.5, 0.6, 0.8, 0.9, 1.0], [1.0, 0.6, 0.7, 0.85, 0.9, 1.0]))
    assert note.startswith("Unstable training")


def test_none_means_not_logged():
    logs = history(TRAIN_CONVERGED, [1.1, None, 0.33, None, 0.27, 0.268])
    assert diagnose(logs).startswith("Good fit")


def test_empty_and_single_epoch_histories():
    assert "nothing to diagnose" in diagnose([])
    assert diagnose(history([1.0], [1.0])).startswith("Too short")


def test_adversarial_training_is_not_judged_by_losses():
    assert diagnose(history(TRAIN_CONVERGED), adversarial=True).startswith("Adversarial training")


def test_diagnose_is_deterministic():
    logs = history([1.0, 0.6, 0.4, 0.3, 0.25, 0.2], [1.0, 0.7, 0.5, 0.45, 0.5, 0.55])
    assert diagnose(logs) == diagnose(list(logs))


def test_bad_mode_is_a_user_error():
    with pytest.raises(NeuralabError, match="mode must be one of 'min', 'max', 'auto'; got 'down'"):
        diagnose(history(TRAIN_CONVERGED), mode="down")


def test_a_model_without_a_training_loss_is_judged_by_its_free_energy_gap():
    growing = [{"epoch": e, "val_free_energy_gap": 0.1 * e} for e in range(1, 10)]
    assert diagnose(growing, monitor="val_pseudo_log_likelihood").startswith("Possible overfitting: this model logs "
                                                                             "no training loss")
    level = [{"epoch": e, "val_free_energy_gap": 0.5} for e in range(1, 10)]
    assert diagnose(level, monitor="val_pseudo_log_likelihood").startswith("No sign of overfitting")
    assert diagnose([{"epoch": 1, "val_reconstruction_error": 1.0}]).startswith("No training loss was logged")
