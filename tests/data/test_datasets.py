"""Tests for neuralab.data.datasets: the embedded digits set and loading by name."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.data import ArrayDataset, load_dataset, load_digits
from neuralab.errors import DataError


def test_digits_has_the_documented_shape_types_and_ranges() -> None:
    ds = load_digits()
    assert ds.name == "digits" and ds.task == "classification"
    name = "sklearn/datasets/data/digits.csv.gz"
    assert list(ds.files) == [name] and len(ds.files[name]) == 64
    assert ds.x.shape == (1797, 64) and ds.x.dtype == np.float32
    assert ds.y is not None and ds.y.shape == (1797,) and ds.y.dtype == np.int64
    assert ds.x.min() == 0 and ds.x.max() == 16
    assert ds.classes == list(range(10)) and set(np.unique(ds.y)) == set(range(10))
    assert ds.feature_names is not None and len(ds.feature_names) == 64
    assert len(ds) == 1797


def test_load_dataset_dispatches_by_name() -> None:
    a, b = load_dataset("digits"), load_digits()
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)  # type: ignore[arg-type]


def test_unknown_dataset_suggests_the_closest_loadable_name() -> None:
    with pytest.raises(DataError, match=r"unknown dataset 'digit' \(did you mean 'digits'\?\); loadable: digits"):
        load_dataset("digit")


def test_registered_dataset_without_loader_points_to_fetch() -> None:
    with pytest.raises(DataError, match=r"dataset 'esol' has no loader yet \(fetch\('esol'\) gives its files\)"):
        load_dataset("esol")


def test_array_dataset_checks_lengths_and_task() -> None:
    with pytest.raises(DataError, match=r"toy: x has 3 samples but y has 2"):
        ArrayDataset(x=np.zeros((3, 2)), y=np.zeros(2), task="regression", name="toy")
    with pytest.raises(DataError, match=r"toy: task must be one of classification, regression, unsupervised; "
                                        r"got 'clustering'"):
        ArrayDataset(x=np.zeros((3, 2)), y=None, task="clustering", name="toy")  # type: ignore[arg-type]
