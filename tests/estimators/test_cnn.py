"""Tests of :class:`neuralab.estimators.CNNClassifier` on scikit-learn's 8×8 digits, on 1×n strips and on tiny images.

scikit-learn's generic estimator checks run in ``tests/estimators/test_sweep.py``, with every other estimator; their
1-, 2- and 3-feature tables are laid out as a 1×1 image or 1×n strips.
"""

import logging
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split

from neuralab.estimators import CNNClassifier

SMALL = dict(conv_channels=(8, 16), hidden_sizes=(32,), epochs=8, lr=3e-3, batch_size=32)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return train_test_split(x[:600], y[:600], test_size=0.3, random_state=0, stratify=y[:600])


@pytest.fixture(scope="module")
def fitted(digits):
    x_train, _, y_train, _ = digits
    return CNNClassifier(**SMALL, random_state=0).fit(x_train, y_train)


def test_learns_digits_from_raw_pixel_rows(digits, fitted):
    _, x_test, _, y_test = digits
    assert fitted.image_shape_ == (1, 8, 8)
    assert fitted.n_features_in_ == 64
    assert fitted.model_[1].feature_shape == (16, 2, 2)  # plain 2×2 pools: 8 → 4 → 2
    assert fitted.score(x_test, y_test) > 0.9
    assert len(fitted.loss_curve_) == fitted.n_iter_ == 8
    assert fitted.loss_curve_[-1] < fitted.loss_curve_[0]


def test_probabilities_are_a_distribution_over_sorted_classes(digits, fitted):
    _, x_test, _, _ = digits
    proba = fitted.predict_proba(x_test)
    assert proba.shape == (len(x_test), 10)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(fitted.predict(x_test), fitted.classes_[proba.argmax(1)])


def test_image_arrays_and_pixel_rows_give_the_same_model(digits):
    x_train, x_test, y_train, _ = digits
    rows = CNNClassifier(**{**SMALL, "epochs": 1}, random_state=0).fit(x_train, y_train)
    images = CNNClassifier(**{**SMALL, "epochs": 1}, random_state=0).fit(x_train.reshape(-1, 8, 8), y_train)
    assert images.image_shape_ == (1, 8, 8)
    np.testing.assert_allclose(images.predict_proba(x_test.reshape(-1, 1, 8, 8)), rows.predict_proba(x_test),
                               atol=1e-6)


def test_pixel_scale_does_not_matter(digits):
    """One global standardisation: 0–16 pixels and the same images on 0–255 train the same network."""
    x_train, x_test, y_train, _ = digits
    a = CNNClassifier(**{**SMALL, "epochs": 1}, random_state=0).fit(x_train, y_train)
    b = CNNClassifier(**{**SMALL, "epochs": 1}, random_state=0).fit(x_train * (255 / 16), y_train)
    # float32 rounding
    np.testing.assert_allclose(b.predict_proba(x_test * (255 / 16)), a.predict_proba(x_test), atol=2e-3)


def test_several_channels_with_an_explicit_shape():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    x = rng.normal(0, 1, (80, 3, 6, 6))
    x[:, 2] += 2.0 * y[:, None, None]  # the class is in the third channel only
    clf = CNNClassifier(image_shape=(3, 6, 6), conv_channels=(4,), hidden_sizes=(8,), epochs=15, lr=1e-2,
                        batch_size=16, random_state=0).fit(x.reshape(80, -1), y)
    assert clf.image_shape_ == (3, 6, 6)
    assert clf.score(x.reshape(80, -1), y) > 0.9


def test_rows_that_are_not_a_square_are_laid_out_as_a_strip(caplog):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    x = rng.normal(0, 1, (80, 10))
    x[:, 3:6] += 2.0 * y[:, None]  # a bump in the middle of the strip
    with caplog.at_level(logging.INFO, logger="neuralab.estimators.cnn"):
        clf = CNNClassifier(conv_channels=(4, 8), hidden_sizes=(8,), epochs=15, lr=1e-2, batch_size=16,
                            random_state=0).fit(x, y)
    assert clf.image_shape_ == (1, 1, 10)
    assert clf.model_[1].feature_shape == (8, 1, 2)  # pools of 1×2 only: 10 → 5 → 2
    assert "10 features are not a square: laid out as a 1×10 strip" in caplog.text
    assert clf.score(x, y) > 0.9
    assert CNNClassifier(image_shape=(2, 5), **{**SMALL, "epochs": 1}).fit(x, y).image_shape_ == (1, 2, 5)


@pytest.mark.parametrize("n_features, image_shape, feature_shape", [
    (1, (1, 1, 1), (4, 1, 1)),  # one pixel: no pool at all
    (4, (1, 2, 2), (4, 1, 1)),  # 2×2 → 1×1, then the second and third pools are left out
    (3, (1, 1, 3), (4, 1, 1)),  # 1×3 → 1×1
])
def test_tiny_images_keep_every_convolution_and_drop_the_pools_that_do_not_fit(n_features, image_shape,
                                                                               feature_shape):
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, (20, n_features)), np.arange(20) % 2
    clf = CNNClassifier(conv_channels=(4, 4, 4), hidden_sizes=(8,), epochs=1, random_state=0).fit(x, y)
    assert clf.image_shape_ == image_shape
    assert clf.model_[1].feature_shape == feature_shape
    assert sum(isinstance(m, torch.nn.Conv2d) for m in clf.model_[1].features) == 3
    assert clf.predict_proba(x).shape == (20, 2)


@pytest.mark.parametrize("x, params, match", [
    (np.zeros((10, 64)), {"image_shape": (7, 7)}, r"image_shape \(1, 7, 7\) has 49 pixels but X has 64"),
    (np.zeros((10, 64)), {"image_shape": (8,)}, "image_shape must be"),
    (np.zeros((10, 64)), {"image_shape": (1, 0, 64)}, "image_shape must be"),
    (np.zeros((10, 64)), {"conv_channels": (2.7,)}, "conv_channels must be positive ints"),
    (np.zeros((10, 8, 8)), {"image_shape": (4, 16)}, r"contradicts the shape of the images in X, \(1, 8, 8\)"),
    (np.zeros((10, 8, 8, 3)), {}, "looks channels-last"),
])
def test_bad_layouts_are_refused_with_the_reason(x, params, match):
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match=match):
        CNNClassifier(**{**SMALL, "epochs": 1, **params}).fit(x, y)


def test_predict_checks_fitted_and_pixel_count(fitted):
    with pytest.raises(NotFittedError):
        CNNClassifier().predict(np.zeros((2, 64)))
    with pytest.raises(ValueError, match="49 features"):
        fitted.predict(np.zeros((2, 49)))
    with pytest.raises(ValueError, match=r"images of shape \(1, 4, 16\).*fitted on \(1, 8, 8\)"):
        fitted.predict(np.zeros((2, 4, 16)))  # the same 64 pixels, but not the fitted layout
    assert fitted.predict(torch.zeros(2, 8, 8, requires_grad=True)).shape == (2,)


def test_same_seed_same_predictions_and_clone_pickle_grid_search(digits, fitted):
    x_train, x_test, y_train, y_test = digits
    again = clone(fitted).fit(x_train, y_train)
    np.testing.assert_array_equal(again.predict_proba(x_test), fitted.predict_proba(x_test))
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(x_test), fitted.predict_proba(x_test))
    search = GridSearchCV(CNNClassifier(**{**SMALL, "epochs": 2}, random_state=0),
                          {"conv_channels": [(4,), (8, 16)]}, cv=2).fit(x_train, y_train)
    assert search.best_params_["conv_channels"] in [(4,), (8, 16)]
    assert search.score(x_test, y_test) > 0.5


def test_pixel_statistics_come_from_the_training_rows_only(digits):
    from neuralab.estimators._common import _split

    x_train, _, y_train, _ = digits
    clf = CNNClassifier(**{**SMALL, "epochs": 1}, early_stopping=True, validation_fraction=0.25,
                        random_state=0).fit(x_train, y_train)
    rows, held_out = _split(len(x_train), 0.25, 0)
    assert float(clf.model_[0].mean) == pytest.approx(x_train[rows].mean(), rel=1e-5)
    assert float(clf.model_[0].mean) != pytest.approx(x_train.mean(), rel=1e-5)
