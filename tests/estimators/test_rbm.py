"""Tests of the scikit-learn RBM transformer, against scikit-learn's own BernoulliRBM where they share an API.

scikit-learn's generic estimator checks run in ``tests/estimators/test_sweep.py`` on Gaussian units: Bernoulli units
refuse the checks' data outside [0, 1], so the parts of the contract those checks cover (row independence,
idempotent fits, pickling, feature names) are tested here on [0, 1] data.
"""

import itertools
import logging
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler, minmax_scale

from neuralab.estimators import RBM
from neuralab.models.ais import exact_log_partition

FAST = dict(n_components=16, n_iter=2, learning_rate=0.05)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return train_test_split(minmax_scale(x), y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(digits):
    return RBM(n_components=32, n_iter=5, learning_rate=0.05, random_state=0).fit(digits[0])


def test_digits_pipeline_is_as_accurate_as_scikit_learns_bernoulli_rbm(digits):
    # scikit-learn's example "Restricted Boltzmann Machine features for digit classification", with the class
    # swapped, on the un-nudged digits and smaller settings (newton-cg: lbfgs needs hundreds of iterations here).
    x_train, x_test, y_train, y_test = digits
    scores = {}
    for cls in (BernoulliRBM, RBM):
        rbm = cls(n_components=64, learning_rate=0.06, n_iter=10, random_state=0)
        pipe = Pipeline([("rbm", rbm), ("logistic", LogisticRegression(C=100, solver="newton-cg", max_iter=1000))])
        scores[cls.__name__] = pipe.fit(x_train, y_train).score(x_test, y_test)
    assert scores["BernoulliRBM"] > 0.85  # the comparison is between working models (raw pixels: about 0.95)
    assert scores["RBM"] >= scores["BernoulliRBM"] - 0.02, scores


def test_attributes_mean_what_bernoulli_rbms_mean(fitted, digits):
    x = digits[0][:50]
    assert fitted.components_.shape == (32, 64) and fitted.n_features_in_ == 64
    assert fitted.intercept_hidden_.shape == (32,) and fitted.intercept_visible_.shape == (64,)
    sk = BernoulliRBM(n_components=32).fit(x[:2])  # then given our parameters
    sk.components_, sk.intercept_hidden_ = fitted.components_, fitted.intercept_hidden_
    sk.intercept_visible_ = fitted.intercept_visible_
    np.testing.assert_allclose(fitted.transform(x), sk.transform(x), rtol=1e-6)
    np.testing.assert_allclose(-fitted.model_.free_energy(torch.tensor(x)).detach().numpy(),
                               -sk._free_energy(x), rtol=1e-5)


def test_transform_gives_hidden_probabilities(fitted, digits):
    h = fitted.transform(digits[1])
    assert h.shape == (len(digits[1]), 32) and h.dtype == np.float64
    assert h.min() >= 0 and h.max() <= 1 and h.std() > 0.05
    assert list(fitted.get_feature_names_out()[:2]) == ["rbm0", "rbm1"]


def test_score_samples_is_higher_for_digits_than_for_noise(fitted, digits):
    real = fitted.score_samples(digits[1][:100])
    noise = fitted.score_samples(np.random.default_rng(0).uniform(size=(100, 64)))
    assert real.shape == (100,) and np.isfinite(real).all() and (real < 0).all()
    assert np.median(real) > np.median(noise) + 10


def test_score_samples_is_the_exact_pseudo_log_likelihood():
    rng = np.random.default_rng(0)
    x = (rng.uniform(size=(40, 4)) < [0.2, 0.5, 0.7, 0.9]).astype(float)
    rbm = RBM(n_components=3, n_iter=20, learning_rate=0.1, random_state=0).fit(x)
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)))
    log_p = -rbm.model_.free_energy(states).detach().double()  # unnormalised log p(v) of every state
    table = dict(zip(map(tuple, states.tolist()), log_p.tolist()))
    expected = []
    for v in x:  # Σ_i log p(v_i | v_−i), each conditional from the two states that differ in unit i
        total = 0.0
        for i in range(4):
            flipped = v.copy()
            flipped[i] = 1 - v[i]
            mine, other = table[tuple(v)], table[tuple(flipped)]
            total += mine - np.logaddexp(mine, other)
        expected.append(total)
    np.testing.assert_allclose(rbm.score_samples(x), expected, rtol=1e-5)
    # scikit-learn's one-unit estimate: right on average, noisy per row; ours is its expectation
    sk = BernoulliRBM(n_components=3, random_state=0).fit(x[:2])
    sk.components_, sk.intercept_hidden_, sk.intercept_visible_ = (rbm.components_, rbm.intercept_hidden_,
                                                                   rbm.intercept_visible_)
    draws = np.mean([sk.set_params(random_state=seed).score_samples(x) for seed in range(2000)], axis=0)
    np.testing.assert_allclose(draws, expected, atol=0.15)


def test_gibbs_gives_binary_samples_that_go_on_and_repeat_with_the_seed(digits):
    x = digits[0][:64]
    runs = [RBM(**FAST, random_state=3).fit(x) for _ in range(2)]
    first, second = runs[0].gibbs(x), runs[0].gibbs(x)
    assert first.shape == x.shape and set(np.unique(first)) <= {0.0, 1.0}
    assert not np.array_equal(first, second)  # each call draws anew
    np.testing.assert_array_equal(runs[1].gibbs(x), first)  # the same random_state: the same draws


def test_same_random_state_gives_identical_weights_and_another_differs(digits):
    x = digits[0][:200]
    runs = [RBM(**FAST, random_state=seed).fit(x) for seed in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0].components_, runs[1].components_)
    np.testing.assert_array_equal(runs[0].transform(x), runs[1].transform(x))
    assert not np.array_equal(runs[0].components_, runs[2].components_)


def test_training_and_sampling_leave_the_global_generators_alone(digits):
    x = digits[0][:64]
    numpy_keys, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()
    rbm = RBM(**FAST, random_state=5).fit(x)
    rbm.partial_fit(x)
    rbm.gibbs(x)  # draws from random_state_, not from NumPy's or torch's global generator
    assert np.array_equal(np.random.get_state()[1], numpy_keys) and torch.equal(torch.get_rng_state(), torch_state)


def test_gaussian_units_on_standardised_digits(digits):
    x_train, x_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), RBM(n_components=64, visible="gaussian", learning_rate=0.01, n_iter=10,
                                               random_state=0),
                         LogisticRegression(C=100, solver="newton-cg", max_iter=1000))
    assert pipe.fit(x_train, y_train).score(x_test, y_test) > 0.9  # about 0.95, Bernoulli units' about 0.91
    scaler, rbm = pipe[0], pipe[1]
    z = scaler.transform(x_test)
    h = rbm.transform(z)
    assert h.min() >= 0 and h.max() <= 1
    samples = rbm.gibbs(z[:20])
    assert samples.shape == (20, 64) and len(np.unique(samples)) > 100  # real values, not binary
    score = rbm.score_samples(z)
    np.testing.assert_allclose(score, -rbm.model_.free_energy(torch.tensor(z)).detach().numpy(), rtol=1e-5)
    noise = np.random.default_rng(0).normal(scale=3.0, size=z.shape)
    assert np.median(score) > np.median(rbm.score_samples(noise))
    assert np.isfinite(rbm.log_partition(runs=20, betas=200).log_z)


def test_log_partition_agrees_with_enumeration():
    x = (np.random.default_rng(0).uniform(size=(100, 10)) < 0.3).astype(float)
    rbm = RBM(n_components=6, n_iter=10, learning_rate=0.1, random_state=0).fit(x)
    result = rbm.log_partition(runs=100, betas=2000)
    assert result.log_z_low <= exact_log_partition(rbm.model_) <= result.log_z_high
    assert result.log_z == rbm.log_partition(runs=100, betas=2000).log_z  # seeded
    with pytest.raises(ValueError, match="runs must be a positive int; got 0"):
        rbm.log_partition(runs=0)


def test_partial_fit_goes_on_from_the_current_model(digits):
    x = digits[0][:300]
    rbm = RBM(n_components=32, learning_rate=0.05, random_state=0)
    before = None
    for chunk in np.array_split(x, 3):
        rbm.partial_fit(chunk)
        if before is None:
            before = rbm.score_samples(x).mean()
    assert len(rbm.history_) == 3 and rbm.n_features_in_ == 64
    for _ in range(5):
        rbm.partial_fit(x)
    assert rbm.score_samples(x).mean() > before
    with pytest.raises(ValueError, match=r"X has 5 features.*expecting 64 features"):
        rbm.partial_fit(np.zeros((4, 5)))


def test_weight_decay_shrinks_the_weights_and_momentum_changes_training(digits):
    x = digits[0][:300]
    plain = RBM(**FAST, random_state=0).fit(x)
    decayed = RBM(**FAST, weight_decay=0.5, random_state=0).fit(x)
    assert np.linalg.norm(decayed.components_) < 0.9 * np.linalg.norm(plain.components_)
    pushed = RBM(**FAST, momentum=0.9, random_state=0).fit(x)
    assert np.linalg.norm(pushed.components_) > np.linalg.norm(plain.components_)
    cd = RBM(**FAST, persistent=False, k=3, random_state=0).fit(x)
    assert not np.array_equal(cd.components_, plain.components_)


def test_n_iter_zero_keeps_the_initial_weights(digits):
    rbm = RBM(n_components=64, n_iter=0, random_state=0).fit(digits[0])
    assert abs(rbm.components_.std() - 0.01) < 0.001 and rbm.history_ == []
    np.testing.assert_array_equal(rbm.intercept_visible_, 0.0)  # as BernoulliRBM's
    np.testing.assert_array_equal(rbm.intercept_hidden_, 0.0)


def test_verbose_logs_each_iteration(digits, caplog):
    with caplog.at_level(logging.INFO, logger="neuralab.estimators.rbm"):
        RBM(**FAST, verbose=1, random_state=0).fit(digits[0][:50])
    lines = [r.getMessage() for r in caplog.records if r.name == "neuralab.estimators.rbm"]
    assert len(lines) == 2 and lines[0].startswith("[RBM] Iteration 1,") and "pseudo_log_likelihood" in lines[0]


def test_bernoulli_rows_are_scored_independently_of_the_rest(fitted, digits):
    # check_methods_subset_invariance and check_methods_sample_order_invariance, on [0, 1] data
    x = digits[1][:30]
    order = np.random.default_rng(0).permutation(30)
    for method in (fitted.transform, fitted.score_samples):
        full = method(x)
        np.testing.assert_allclose(method(x[order]), full[order], rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(np.concatenate([method(x[:7]), method(x[7:])]), full, rtol=1e-7, atol=1e-7)


def test_bernoulli_round_trips_through_clone_pickle_and_dataframes(digits):
    x = digits[0][:100]
    rbm = RBM(**FAST, random_state=0)
    assert clone(rbm).get_params() == rbm.get_params()
    a, b = clone(rbm).fit(x), clone(rbm).fit(x)  # fitting is idempotent
    np.testing.assert_array_equal(a.transform(x), b.transform(x))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.transform(x), a.transform(x))
    np.testing.assert_array_equal(restored.score_samples(x), a.score_samples(x))
    frame = pd.DataFrame(x[:, :3], columns=["a", "b", "c"])
    fitted = RBM(**FAST, random_state=0).fit(frame)
    assert list(fitted.feature_names_in_) == ["a", "b", "c"]
    assert fitted.set_output(transform="pandas").transform(frame).columns[0] == "rbm0"


def test_bernoulli_units_refuse_values_outside_the_unit_interval(fitted, digits):
    raw = digits[0] * 16
    with pytest.raises(ValueError, match=r"visible='bernoulli' needs X in \[0, 1\]; got values in \[0, 16\]. Scale "
                                         r"X with sklearn.preprocessing.MinMaxScaler, or use visible='gaussian'"):
        RBM(**FAST).fit(raw)
    for method in (fitted.transform, fitted.score_samples, fitted.gibbs, fitted.partial_fit):
        with pytest.raises(ValueError, match=r"needs X in \[0, 1\]; got values in \[-0.5, 0.5\]"):
            method(digits[1][:5] - 0.5)


def test_bad_inputs_raise_scikit_learn_errors(fitted):
    with pytest.raises(NotFittedError):
        RBM().transform(np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        RBM().components_  # noqa: B018
    with pytest.raises(ValueError, match=r"X has 5 features.*expecting 64 features"):
        fitted.transform(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        RBM(**FAST).fit(np.full((4, 3), np.nan))


@pytest.mark.parametrize(
    ("params", "match"),
    [({"n_components": 0}, "'n_components' parameter"), ({"learning_rate": 0.0}, "'learning_rate' parameter"),
     ({"visible": "poisson"}, "'visible' parameter"), ({"momentum": 1.0}, "'momentum' parameter"),
     ({"k": 0}, "'k' parameter"), ({"device": "tpu"}, "device must be")],
)
def test_invalid_parameters_raise_at_fit_with_the_parameter_named(params, match):
    with pytest.raises(ValueError, match=match):
        RBM(n_iter=1, **params).fit(np.zeros((8, 3)))
