"""Expected calibration error, reliability bins and temperature scaling, on cases with known answers."""

import numpy as np
import pytest
import torch

from neuralab.errors import NeuralabError
from neuralab.train.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20_000, 5, generator=g) * 3
    y = torch.multinomial((logits / 2.5).softmax(-1), 1, generator=g).reshape(-1)  # labels drawn at T = 2.5
    assert fit_temperature(logits, y) == pytest.approx(2.5, rel=0.05)


def test_a_perfectly_classified_validation_set_stops_at_the_lower_bound_not_at_zero():
    """Every example right: the NLL falls forever as T shrinks; an unbounded fit would make later mistakes
    infinitely confident."""
    logits = torch.randn(200, 3, generator=torch.Generator().manual_seed(0)) * 3
    assert fit_temperature(logits, logits.argmax(1)) == pytest.approx(0.05, rel=1e-3)
    assert fit_temperature(logits, logits.argmax(1), bounds=(0.2, 5.0)) == pytest.approx(0.2, rel=1e-3)


def test_fit_temperature_never_changes_the_predicted_class():
    logits = torch.randn(100, 4, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 4, (100,), generator=torch.Generator().manual_seed(2))
    t = fit_temperature(logits, y)
    assert t > 0 and torch.equal((logits / t).argmax(1), logits.argmax(1))


def test_ece_is_the_weighted_gap_between_confidence_and_accuracy():
    # 4 predictions at confidence 0.9 of which 2 right, 4 at 0.6 of which 3 right: ECE = .5·|.5−.9| + .5·|.75−.6|
    proba = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 4)
    y = np.array([0, 0, 1, 1, 0, 0, 0, 1])
    assert expected_calibration_error(proba, y) == pytest.approx(0.5 * 0.4 + 0.5 * 0.15)
    table = reliability_bins(proba, y)
    assert sum(table["count"]) == 8 and table["accuracy"][13] == 0.5 and table["accuracy"][9] == 0.75


def test_ece_of_honest_probabilities_is_near_zero():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, 50_000)
    y = (rng.uniform(size=p.size) > p).astype(int)  # class 0 is right with probability p
    assert expected_calibration_error(np.stack([p, 1 - p], 1), y) < 0.01


def test_mismatched_shapes_are_a_clear_error():
    with pytest.raises(NeuralabError, match="probabilities"):
        expected_calibration_error(np.ones((3, 2)) / 2, np.array([0, 1]))
