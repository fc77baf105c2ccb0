"""Tests of the scikit-learn MLP estimators.

scikit-learn's generic estimator checks run in ``tests/estimators/test_sweep.py``, with every other estimator.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuralab.estimators import MLPClassifier, MLPRegressor

FAST = dict(hidden_sizes=(16,), epochs=10, lr=0.01)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return train_test_split(x[:500], y[:500], test_size=0.3, random_state=0, stratify=y[:500])


def _regression(n=300, outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 3))
    y = 1000 + 50 * np.sin(x[:, 0]) + 30 * x[:, 1] * x[:, 2]  # a large offset: the target scaling must be undone
    y = np.column_stack([y, -3 * y][:outputs]) if outputs > 1 else y
    return x, y + rng.normal(0, 2, y.shape)


def test_classifier_reaches_high_accuracy_on_digits_in_a_scaled_pipeline(digits):
    x_train, x_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_sizes=(64,), epochs=20, lr=0.01, random_state=0))
    pipe.fit(x_train, y_train)
    assert pipe.score(x_test, y_test) > 0.9
    proba = pipe.predict_proba(x_test)
    assert proba.shape == (len(x_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_grid_search_over_a_pipeline_picks_parameters_and_refits(digits):
    x_train, x_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(epochs=10, lr=0.01, random_state=0))
    grid = {"mlpclassifier__hidden_sizes": [(8,), (64,)], "mlpclassifier__lr": [0.01]}
    search = GridSearchCV(pipe, grid, cv=2).fit(x_train, y_train)
    assert search.best_params_["mlpclassifier__hidden_sizes"] in [(8,), (64,)]
    assert search.best_estimator_[-1].n_iter_ == 10
    assert search.score(x_test, y_test) > 0.85


def test_regressor_fits_a_nonlinear_target_with_large_offset():
    x, y = _regression()
    reg = MLPRegressor(hidden_sizes=(32,), epochs=30, lr=0.01, random_state=0).fit(x[:200], y[:200])
    pred = reg.predict(x[200:])
    assert pred.shape == (100,) and pred.dtype == np.float64
    assert reg.score(x[200:], y[200:]) > 0.8


def test_regressor_predicts_several_outputs_in_their_own_units():
    x, y = _regression(outputs=2)
    reg = MLPRegressor(hidden_sizes=(32,), epochs=30, lr=0.01, random_state=0).fit(x[:200], y[:200])
    pred = reg.predict(x[200:])
    assert pred.shape == (100, 2)
    assert reg.score(x[200:], y[200:]) > 0.8
    assert abs(pred[:, 1].mean() / pred[:, 0].mean() + 3) < 0.1


def test_regressor_keeps_a_column_target_two_dimensional():
    x, y = _regression(n=64)
    reg = MLPRegressor(**FAST, random_state=0).fit(x, y[:, None])
    assert reg.predict(x).shape == (64, 1)


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_same_random_state_gives_identical_predictions_and_another_differs(make):
    x, y = _regression(n=128)
    y = (y > np.median(y)).astype(int) if make is MLPClassifier else y
    runs = [make(**FAST, dropout=0.2, random_state=seed).fit(x, y) for seed in (7, 7, 8)]
    out = [r.predict_proba(x) if make is MLPClassifier else r.predict(x) for r in runs]
    np.testing.assert_array_equal(out[0], out[1])
    assert not np.array_equal(out[0], out[2])


def test_fit_leaves_global_random_state_untouched():
    x, y = _regression(n=64)
    np.random.seed(123)
    torch.manual_seed(123)
    expected = np.random.rand(), torch.rand(1)
    np.random.seed(123)
    torch.manual_seed(123)
    MLPRegressor(**FAST, random_state=5).fit(x, y)
    assert (np.random.rand(), torch.rand(1)) == expected


def test_string_labels_round_trip_through_fit_and_predict():
    x, y = _regression(n=120)
    labels = np.array(["low", "mid", "high"], dtype=object)[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]
    clf = MLPClassifier(**FAST, random_state=0).fit(x, labels)
    assert list(clf.classes_) == ["high", "low", "mid"]
    pred = clf.predict(x)
    assert set(pred) <= {"low", "mid", "high"}
    assert clf.score(x, labels) > 0.7
    assert list(clf.classes_[clf.predict_proba(x).argmax(axis=1)]) == list(pred)


def test_binary_classifier_uses_two_probability_columns():
    x, y = _regression(n=120)
    clf = MLPClassifier(**FAST, random_state=0).fit(x, np.where(y > np.median(y), 5, -1))
    assert list(clf.classes_) == [-1, 5]
    assert clf.predict_proba(x).shape == (120, 2)
    assert clf.score(x, np.where(y > np.median(y), 5, -1)) > 0.8


def test_dataframe_sets_feature_names_and_training_attributes():
    x, y = _regression(n=96)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    reg = MLPRegressor(**FAST, random_state=0).fit(frame, y)
    assert list(reg.feature_names_in_) == ["a", "b", "c"] and reg.n_features_in_ == 3
    assert reg.n_iter_ == 10 == len(reg.loss_curve_) == len(reg.history_)
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]
    assert isinstance(reg.model_, torch.nn.Module)


def test_early_stopping_stops_before_the_last_epoch_and_logs_validation_loss():
    x, y = _regression(n=200)
    reg = MLPRegressor(hidden_sizes=(16,), lr=0.05, epochs=300, early_stopping=True, patience=2,
                       validation_fraction=0.2, random_state=0).fit(x, y)
    assert reg.n_iter_ < 300
    assert all("val_loss" in logs for logs in reg.history_)


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_predict_before_fit_raises_not_fitted(make):
    with pytest.raises(NotFittedError):
        make().predict(np.zeros((2, 3)))


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_predict_with_wrong_feature_count_names_both_counts(make):
    x, y = _regression(n=64)
    est = make(**FAST, random_state=0).fit(x, (y > np.median(y)).astype(int))
    with pytest.raises(ValueError, match=r"X has 5 features.*expecting 3 features"):
        est.predict(np.zeros((4, 5)))


@pytest.mark.parametrize(
    ("params", "match"),
    [({"lr": 0.0}, "'lr' parameter"), ({"activation": "relu6"}, "'activation' parameter"),
     ({"hidden_sizes": (16, 0)}, "hidden_sizes must be positive ints"), ({"device": "tpu"}, "device must be"),
     ({"loss": "hinge"}, "'loss' parameter")],
)
def test_invalid_parameters_raise_at_fit_with_the_parameter_named(params, match):
    x, y = _regression(n=16)
    with pytest.raises(ValueError, match=match):
        MLPRegressor(epochs=1, **params).fit(x, y)


def test_single_class_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="at least 2 classes in y; got 1 class: 'a'"):
        MLPClassifier(epochs=1).fit(np.zeros((4, 2)), ["a"] * 4)


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_params_round_trip_through_set_params_clone_and_pickle(make):
    est = make(hidden_sizes=(8, 4), random_state=3).set_params(lr=0.02, epochs=3)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert copy.get_params()["lr"] == 0.02 and copy.hidden_sizes == (8, 4)
    x, y = _regression(n=32)
    y = (y > np.median(y)).astype(int) if make is MLPClassifier else y
    fitted = est.fit(x, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict(x), fitted.predict(x))


def test_numpy_scalar_parameters_from_a_param_grid_are_accepted():
    x, y = _regression(n=40)
    reg = MLPRegressor(hidden_sizes=np.array([8, 4]), epochs=np.int64(3), batch_size=np.int64(8),
                       lr=np.float32(0.01), random_state=np.int64(1)).fit(x, y)
    assert reg.n_iter_ == 3
