import math

import numpy as np
import pytest

from neuralab.errors import NeuralabError
from neuralab.train.intervals import (
    conformal_interval,
    conformal_quantile,
    coverage,
    ensemble_interval,
    error_rate_interval,
    normal_interval,
    z_value,
)


def test_z_values_match_the_normal_table():
    assert z_value(0.9) == pytest.approx(1.6449, abs=1e-4)
    assert z_value(0.95) == pytest.approx(1.9600, abs=1e-4)
    with pytest.raises(NeuralabError, match="level must be between 0 and 1"):
        z_value(95)


def test_normal_interval_is_prediction_plus_minus_z_root_mse():
    low, high = normal_interval(np.array([1.0, 2.0]), mse_val=0.25, level=0.95)
    assert np.allclose(high - low, 2 * 1.959964 * 0.5)
    assert np.allclose((low + high) / 2, [1.0, 2.0])


def test_normal_interval_covers_about_the_nominal_fraction_of_gaussian_noise():
    rng = np.random.default_rng(0)
    y = rng.normal(size=20000)
    low, high = normal_interval(np.zeros_like(y), mse_val=1.0, level=0.9)
    assert coverage(y, low, high) == pytest.approx(0.9, abs=0.01)


def test_conformal_quantile_is_the_ceil_n_plus_one_level_order_statistic():
    residuals = np.arange(1, 20)  # n = 19: ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(residuals, 0.9) == 18
    assert conformal_quantile(-residuals, 0.9) == 18, "absolute residuals"
    assert math.isinf(conformal_quantile([1.0, 2.0], 0.9)), "too few points for 90%"


def test_conformal_coverage_is_at_least_nominal_on_exchangeable_data():
    rng = np.random.default_rng(1)
    covered = []
    for _ in range(200):
        cal, test = rng.standard_t(3, size=100), rng.standard_t(3, size=100)  # heavy tails: the normal one fails
        low, high = conformal_interval(np.zeros(100), cal, level=0.9)
        covered.append(coverage(test, low, high))
    assert np.mean(covered) >= 0.89


def test_ensemble_interval_uses_member_spread():
    members = np.array([[0.0, 1.0], [2.0, 1.0]])
    mean, low, high = ensemble_interval(members, level=0.95)
    assert np.allclose(mean, [1.0, 1.0])
    assert np.allclose(high - low, [2 * 1.959964 * math.sqrt(2), 0.0])
    with pytest.raises(NeuralabError, match="members >= 2"):
        ensemble_interval(np.zeros((1, 3)))


def test_wilson_interval_contains_the_observed_rate_and_stays_in_unit_range():
    low, high = error_rate_interval(3, 100, 0.95)
    assert low < 0.03 < high and 0 <= low and high < 0.1
    assert error_rate_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert error_rate_interval(10, 10)[1] == 1.0
    with pytest.raises(NeuralabError, match="errors <= n"):
        error_rate_interval(5, 3)
