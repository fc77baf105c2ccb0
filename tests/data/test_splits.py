"""Tests for neuralab.data.splits: sizes, disjointness, coverage, determinism, stratification and groups."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab.data.splits import Split, cv_fold, kfold, split_indices
from neuralab.errors import DataError


def _check_partition(split: Split, n: int) -> None:
    parts = (split.train, split.val, split.test)
    assert all(p.dtype == np.int64 for p in parts)
    assert all(np.array_equal(p, np.sort(p)) for p in parts)
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))  # disjoint and covering


def _labels(n: int) -> np.ndarray:
    return np.array([0] * (n * 6 // 10) + [1] * (n * 3 // 10) + [2] * (n - n * 6 // 10 - n * 3 // 10))


def _groups(n: int) -> np.ndarray:
    return np.random.default_rng(1).integers(0, n // 4, size=n)


# ----------------------------------------------------------------------------------------------------- split_indices


def test_random_split_sizes() -> None:
    split = split_indices(100, val=0.1, test=0.2, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (70, 10, 20)


@pytest.mark.parametrize("method", ["random", "stratified", "group"])
def test_every_method_partitions_the_indices(method: str) -> None:
    n = 200
    y = _labels(n) if method == "stratified" else None
    groups = _groups(n) if method == "group" else None
    split = split_indices(n, method=method, val=0.15, test=0.2, y=y, groups=groups)  # type: ignore[arg-type]
    _check_partition(split, n)


@pytest.mark.parametrize("method", ["random", "stratified", "group"])
def test_same_seed_same_split_other_seed_other_split(method: str) -> None:
    n = 200
    kw = {"y": _labels(n)} if method == "stratified" else {"groups": _groups(n)} if method == "group" else {}
    a = split_indices(n, method=method, seed=3, **kw)  # type: ignore[arg-type]
    b = split_indices(n, method=method, seed=3, **kw)  # type: ignore[arg-type]
    c = split_indices(n, method=method, seed=4, **kw)  # type: ignore[arg-type]
    assert all(np.array_equal(getattr(a, s), getattr(b, s)) for s in ("train", "val", "test"))
    assert not np.array_equal(a.test, c.test)


def test_zero_test_fraction_gives_empty_test() -> None:
    split = split_indices(50, val=0.2, test=0.0)
    assert split.test.shape == (0,) and split.test.dtype == np.int64
    assert (len(split.train), len(split.val)) == (40, 10)
    _check_partition(split, 50)


def test_small_nonzero_fraction_still_gets_one_sample() -> None:
    split = split_indices(5, val=0.05, test=0.05)
    assert (len(split.train), len(split.val), len(split.test)) == (3, 1, 1)


def test_stratified_split_keeps_class_proportions() -> None:
    y = _labels(1000)
    split = split_indices(1000, method="stratified", val=0.1, test=0.2, y=y, seed=5)
    for part in (split.train, split.val, split.test):
        proportions = np.bincount(y[part], minlength=3) / len(part)
        np.testing.assert_allclose(proportions, [0.6, 0.3, 0.1], atol=1.5 / len(part))


def test_stratified_split_accepts_string_labels() -> None:
    y = np.array(["cat", "dog"] * 20)
    split = split_indices(40, method="stratified", val=0.25, test=0.25, y=y)
    assert sorted(y[split.test]) == ["cat"] * 5 + ["dog"] * 5


def test_group_split_never_puts_a_group_on_two_sides() -> None:
    groups = _groups(400)
    split = split_indices(400, method="group", val=0.1, test=0.2, groups=groups, seed=2)
    sides = [set(groups[p]) for p in (split.train, split.val, split.test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    n_groups = len(np.unique(groups))
    assert (len(sides[1]), len(sides[2])) == (round(0.1 * n_groups), round(0.2 * n_groups))  # fractions of groups


@settings(max_examples=60, deadline=None)
@given(
    groups=st.lists(st.integers(0, 12), min_size=1, max_size=80),
    val=st.floats(0.0, 0.45),
    test=st.floats(0.0, 0.45),
    seed=st.integers(0, 2**40),
)
def test_group_split_property_groups_never_cross(groups: list[int], val: float, test: float, seed: int) -> None:
    g = np.array(groups)
    try:
        split = split_indices(len(g), method="group", val=val, test=test, seed=seed, groups=g)
    except DataError as e:
        assert "leave none for training" in str(e)
        return
    _check_partition(split, len(g))
    train, val_, test_ = (set(g[p]) for p in (split.train, split.val, split.test))
    assert not (train & val_) and not (train & test_) and not (val_ & test_)
    assert train  # there is always something to train on


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"val": -0.1}, r"val must be a fraction in \[0, 1\); got -0.1"),
    ({"test": 1.0}, r"test must be a fraction in \[0, 1\); got 1.0"),
    ({"val": 0.6, "test": 0.5}, r"val \+ test must be below 1 .*got val=0.6 \+ test=0.5"),
    ({"method": "stratify"}, r"unknown split method 'stratify' \(did you mean 'stratified'\?\)"),
    ({"method": "stratified"}, r"method='stratified' needs the class labels y"),
    ({"method": "group"}, r"method='group' needs groups"),
    ({"method": "group", "groups": [0, 1]}, r"groups must have shape \(10,\), one label per sample; got shape \(2,\)"),
    ({"method": "stratified", "y": np.zeros((10, 2))}, r"y must have shape \(10,\).*got shape \(10, 2\)"),
    ({"groups": list(range(10))}, r"groups is only used by method='group'; got method='random'"),
    ({"seed": -1}, r"seed must be a non-negative int; got -1"),
    ({"method": "stratified", "y": [0] * 9 + [1]}, r"cannot make a stratified split: .*least populated class"),
    ({"method": "group", "groups": [0] * 5 + [1] * 5}, r"of 2 groups leave none for training"),
])
def test_bad_arguments_raise_one_line_data_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=match) as caught:
        split_indices(10, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_bad_n_raises() -> None:
    with pytest.raises(DataError, match=r"n must be an int >= 1; got 0"):
        split_indices(0)


# ------------------------------------------------------------------------------------------------------------- kfold


def _check_folds(folds: list[tuple[np.ndarray, np.ndarray]], n: int, k: int) -> None:
    assert len(folds) == k
    seen = np.concatenate([val for _, val in folds])
    assert np.array_equal(np.sort(seen), np.arange(n))  # every index is validation exactly once
    for train, val in folds:
        assert train.dtype == val.dtype == np.int64
        assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == n


@pytest.mark.parametrize("mode", ["plain", "stratified", "group", "stratified-group"])
def test_kfold_covers_every_index_once_as_validation(mode: str) -> None:
    n, k = 120, 4
    y = _labels(n) if "stratified" in mode else None
    groups = _groups(n) if "group" in mode else None
    folds = kfold(n, k, y=y, groups=groups, seed=1)
    _check_folds(folds, n, k)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, kfold(n, k, y=y, groups=groups, seed=1)))
    if groups is not None:
        for train, val in folds:
            assert not set(groups[train]) & set(groups[val])


def test_stratified_kfold_keeps_class_proportions() -> None:
    y = _labels(300)
    for _, val in kfold(300, 5, y=y, seed=0):
        np.testing.assert_allclose(np.bincount(y[val], minlength=3) / len(val), [0.6, 0.3, 0.1], atol=0.02)


def test_group_kfold_balances_fold_sizes() -> None:
    groups = np.repeat(np.arange(40), 3)  # 40 groups of 3
    assert [len(val) for _, val in kfold(120, 4, groups=groups)] == [30, 30, 30, 30]


def test_kfold_without_shuffle_is_contiguous_and_seed_free() -> None:
    folds = kfold(10, 5, shuffle=False, seed=123)
    assert [list(val) for _, val in folds] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]


def test_kfold_seed_changes_folds() -> None:
    assert not np.array_equal(kfold(50, 5, seed=0)[0][1], kfold(50, 5, seed=1)[0][1])


@settings(max_examples=40, deadline=None)
@given(groups=st.lists(st.integers(0, 15), min_size=3, max_size=60), k=st.integers(2, 4), seed=st.integers(0, 99))
def test_group_kfold_property_groups_never_cross(groups: list[int], k: int, seed: int) -> None:
    g = np.array(groups)
    if len(np.unique(g)) < k:
        with pytest.raises(DataError, match=rf"k={k} folds need at least {k} (distinct groups|samples)"):
            kfold(len(g), k, groups=g, seed=seed)
        return
    folds = kfold(len(g), k, groups=g, seed=seed)
    _check_folds(folds, len(g), k)
    for train, val in folds:
        assert len(val) > 0 and not set(g[train]) & set(g[val])


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    ((10, 1), {}, r"k must be an int >= 2; got 1"),
    ((3, 5), {}, r"k=5 folds need at least 5 samples; got n=3"),
    ((10, 3), {"y": [0] * 9 + [1] * 1, "shuffle": False}, None),  # sklearn only warns here; it must still work
    ((10, 3), {"y": [0] * 10 + [1]}, r"y must have shape \(10,\)"),
    ((6, 5), {"y": [0, 0, 1, 1, 2, 2]}, r"cannot make 5 stratified folds of y: .*lower k"),
])
def test_kfold_bad_arguments(args: tuple[int, int], kwargs: dict[str, object], match: str | None) -> None:
    if match is None:
        with pytest.warns(UserWarning):
            _check_folds(kfold(*args, **kwargs), args[0], args[1])  # type: ignore[arg-type]
        return
    with pytest.raises(DataError, match=match):
        kfold(*args, **kwargs)  # type: ignore[arg-type]


def test_cv_folds_partition_train_and_val_and_leave_test_alone():
    base = split_indices(100, val=0.1, test=0.2, seed=0)
    pool = np.sort(np.concatenate([base.train, base.val]))
    vals = []
    for fold in range(4):
        s = cv_fold(base, 4, fold, seed=3)
        np.testing.assert_array_equal(s.test, base.test)
        np.testing.assert_array_equal(np.sort(np.concatenate([s.train, s.val])), pool)
        assert not set(s.train) & set(s.val)
        vals.append(s.val)
    np.testing.assert_array_equal(np.sort(np.concatenate(vals)), pool)  # each pooled sample validated once
    np.testing.assert_array_equal(cv_fold(base, 4, 1, seed=3).val, vals[1])  # the same seed deals the same folds


def test_cv_folds_are_stratified_and_keep_groups_whole():
    y = np.repeat([0, 1], [80, 20])
    base = Split(np.arange(100), np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    for fold in range(5):
        assert np.bincount(y[cv_fold(base, 5, fold, y=y).val]).tolist() == [16, 4]
    groups = np.arange(100) // 4
    for fold in range(5):
        s = cv_fold(base, 5, fold, groups=groups)
        assert not set(groups[s.train]) & set(groups[s.val])


def test_cv_fold_out_of_range_is_refused():
    base = split_indices(20, val=0.1, test=0.1)
    with pytest.raises(DataError, match="fold must be in 0..2 for k=3 folds; got 3"):
        cv_fold(base, 3, 3)
