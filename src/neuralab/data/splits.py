"""Train/validation/test splits and k-fold cross-validation, as index arrays.

Three methods, each on top of a scikit-learn splitter:

- ``random``: a shuffled split of the samples;
- ``stratified``: every side keeps the class proportions of ``y``;
- ``group``: all samples of a group (a molecule's canonical SMILES, a user, a patient) land on the same side, so a
  model is never tested on something it saw in training. Fractions then count groups, so sample counts are
  approximate.

Every function is deterministic for a given ``seed`` and returns sorted ``int64`` indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from neuralab.errors import DataError, did_you_mean

__all__ = ["Split", "cv_fold", "kfold", "split_indices"]

SplitMethod = Literal["random", "stratified", "group"]
_METHODS = ("random", "stratified", "group")


@dataclass
class Split:
    """Sorted ``int64`` sample indices of each side of a split; ``val`` and ``test`` may be empty."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_indices(n: int, *, method: SplitMethod = "random", val: float = 0.1, test: float = 0.1, seed: int = 0,
                  y: ArrayLike | None = None, groups: ArrayLike | None = None) -> Split:
    """Split ``range(n)`` into train, validation and test indices.

    Parameters
    ----------
    n : int
        Number of samples.
    method : {"random", "stratified", "group"}, default "random"
        ``stratified`` needs ``y``; ``group`` needs ``groups``.
    val, test : float, default 0.1
        Fractions of the samples (of the groups for ``method="group"``). Each side gets
        ``round(fraction * count)`` items, and at least one when its fraction is above zero; ``val + test`` must be
        below 1 and leave at least one item for training.
    seed : int, default 0
        Seed of the shuffle; the same seed gives the same split.
    y : array-like of shape (n,), optional
        Class labels, used by ``stratified`` and ignored otherwise.
    groups : array-like of shape (n,), optional
        Group labels, used by ``group``. Passing them with another method is an error, because that method would
        put one group on two sides.

    Returns
    -------
    Split

    Raises
    ------
    DataError
        For bad fractions, a missing or wrongly sized ``y``/``groups``, or too few samples, classes or groups.

    Examples
    --------
    >>> s = split_indices(100, val=0.1, test=0.2, seed=0)
    >>> len(s.train), len(s.val), len(s.test)
    (70, 10, 20)
    """
    _check_count("n", n, minimum=1)
    seed = _check_seed(seed)
    if method not in _METHODS:
        raise DataError(f"unknown split method {method!r}{did_you_mean(str(method), _METHODS)}; "
                        f"expected one of: {', '.join(_METHODS)}")
    for arg, fraction in (("val", val), ("test", test)):
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction < 1:
            raise DataError(f"{arg} must be a fraction in [0, 1); got {fraction!r}")
    if val + test >= 1:
        raise DataError(f"val + test must be below 1 to leave samples for training; got val={val} + test={test}")
    if groups is not None and method != "group":
        raise DataError(f"groups is only used by method='group'; got method={method!r}: pass method='group' so "
                        "that no group lands on two sides, or drop groups")
    labels = _labels("y", y, n) if method == "stratified" else None
    group_ids = _labels("groups", groups, n) if method == "group" else None
    if method == "stratified" and labels is None:
        raise DataError("method='stratified' needs the class labels y; pass y=... or use method='random'")
    if method == "group" and group_ids is None:
        raise DataError("method='group' needs groups (one label per sample); pass groups=... or use method='random'")

    units, unit = (len(np.unique(group_ids)), "groups") if group_ids is not None else (n, "samples")
    n_test, n_val = _share(test, units), _share(val, units)
    if units - n_test - n_val < 1:
        raise DataError(f"val={val} and test={test} of {units} {unit} leave none for training; lower val or test, "
                        "or use more data")
    rest, test_idx = _draw(np.arange(n), n_test, method, seed, labels, group_ids)
    train_idx, val_idx = _draw(rest, n_val, method, seed, labels, group_ids)
    return Split(*(np.sort(i).astype(np.int64) for i in (train_idx, val_idx, test_idx)))


def kfold(n: int, k: int = 5, *, seed: int = 0, y: ArrayLike | None = None, groups: ArrayLike | None = None,
          shuffle: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split ``range(n)`` into ``k`` folds; every index is in exactly one validation fold.

    Parameters
    ----------
    n : int
        Number of samples.
    k : int, default 5
        Number of folds, at least 2 and at most ``n`` (at most the number of groups when grouped).
    seed : int, default 0
        Seed of the shuffle; ignored when ``shuffle`` is False.
    y : array-like of shape (n,), optional
        Class labels: the folds keep the class proportions (stratified).
    groups : array-like of shape (n,), optional
        Group labels: a group is never split across folds. With ``y`` too, the folds are stratified and grouped.
    shuffle : bool, default True
        Shuffle before assigning folds; False keeps the sample (or group) order.

    Returns
    -------
    list of (train, val) tuples
        ``k`` pairs of sorted ``int64`` index arrays.

    Raises
    ------
    DataError
        For a bad ``k``, wrongly sized ``y``/``groups``, or too few samples, members of a class or groups.
    """
    _check_count("n", n, minimum=1)
    _check_count("k", k, minimum=2)
    seed = _check_seed(seed)
    if k > n:
        raise DataError(f"k={k} folds need at least {k} samples; got n={n}: lower k")
    labels, group_ids = _labels("y", y, n), _labels("groups", groups, n)
    if group_ids is not None and (n_groups := len(np.unique(group_ids))) < k:
        raise DataError(f"k={k} folds need at least {k} distinct groups; got {n_groups}: lower k")
    # Imported here: sklearn.model_selection takes about a second to import, which every CLI start would pay.
    from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

    random_state = seed if shuffle else None
    if group_ids is not None and labels is None:
        folds = _group_folds(group_ids, k, np.random.default_rng(seed) if shuffle else None)
        pairs = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in range(k)]
    else:
        if labels is None:
            splitter = KFold(k, shuffle=shuffle, random_state=random_state)
        elif group_ids is None:
            splitter = StratifiedKFold(k, shuffle=shuffle, random_state=random_state)
        else:
            splitter = StratifiedGroupKFold(k, shuffle=shuffle, random_state=random_state)
        try:
            pairs = list(splitter.split(np.zeros((n, 1)), labels, group_ids))
        except ValueError as e:
            raise DataError(f"cannot make {k} stratified folds of y: {e}; lower k or merge rare classes") from None
    return [(np.sort(tr).astype(np.int64), np.sort(va).astype(np.int64)) for tr, va in pairs]


def _group_folds(groups: np.ndarray, k: int, rng: np.random.Generator | None) -> np.ndarray:
    """Fold of each sample: groups, largest first, each go to the currently smallest fold (sklearn's GroupKFold)."""
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = rng.permutation(len(sizes)) if rng is not None else np.arange(len(sizes))
    order = order[np.argsort(-sizes[order], kind="stable")]  # equal sizes keep the shuffled order
    fold_of_group = np.empty(len(sizes), dtype=np.int64)
    fold_sizes = np.zeros(k, dtype=np.int64)
    for g in order:
        fold = int(np.argmin(fold_sizes))
        fold_of_group[g] = fold
        fold_sizes[fold] += sizes[g]
    return fold_of_group[inverse]


def _draw(idx: np.ndarray, count: int, method: str, seed: int, labels: np.ndarray | None,
          group_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, drawn) with ``count`` drawn samples (groups for ``group``)."""
    if count == 0:
        return idx, idx[:0]
    from sklearn.model_selection import (  # slow import
        GroupShuffleSplit,
        ShuffleSplit,
        StratifiedShuffleSplit,
    )

    splitters = {"random": ShuffleSplit, "stratified": StratifiedShuffleSplit, "group": GroupShuffleSplit}
    splitter = splitters[method](n_splits=1, test_size=count, random_state=seed)
    sub_labels = None if labels is None else labels[idx]
    sub_groups = None if group_ids is None else group_ids[idx]
    try:
        rest, drawn = next(splitter.split(np.zeros((len(idx), 1)), sub_labels, sub_groups))
    except ValueError as e:
        raise DataError(f"cannot make a {method} split: {e}; lower val or test, merge rare classes, or use "
                        "method='random'") from None
    return idx[rest], idx[drawn]


def _share(fraction: float, units: int) -> int:
    """``round(fraction * units)``, and at least 1 when ``fraction`` is above zero."""
    if fraction == 0:
        return 0
    return max(1, int(np.floor(fraction * units + 0.5)))


def _labels(arg: str, values: ArrayLike | None, n: int) -> np.ndarray | None:
    """``values`` as a 1-D array of length ``n``, or None; a DataError naming ``arg`` otherwise."""
    if values is None:
        return None
    array = np.asarray(values)
    if array.shape != (n,):
        raise DataError(f"{arg} must have shape ({n},), one label per sample; got shape {array.shape}")
    return array


def _check_count(arg: str, value: int, *, minimum: int) -> None:
    """Raise unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise DataError(f"{arg} must be an int >= {minimum}; got {value!r}")


def _check_seed(seed: int) -> int:
    """``seed`` as an int in scikit-learn's range [0, 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative int; got {seed!r}")
    return int(seed) % 2**32


def cv_fold(split: Split, k: int, fold: int, *, seed: int = 0, y: ArrayLike | None = None,
            groups: ArrayLike | None = None) -> Split:
    """Fold ``fold`` of ``k``-fold cross-validation over a split's training and validation parts; test untouched.

    Parameters
    ----------
    split : Split
        The usual split; its ``train`` and ``val`` indices are pooled and re-divided, its ``test`` is kept as is.
    k, fold : int
        Number of folds, and which one (0-based) becomes the validation part.
    seed : int, default 0
        Seed of the fold assignment (the same for every fold of one cross-validation).
    y, groups : array-like over *all* samples, optional
        Class labels (stratified folds) and group labels (a group never split), indexed like the data set.

    Returns
    -------
    Split
        Training part: the other ``k - 1`` folds; validation part: fold ``fold``; test: ``split.test``.
    """
    if not 0 <= fold < k:
        raise DataError(f"fold must be in 0..{k - 1} for k={k} folds; got {fold}")
    pool = np.sort(np.concatenate([split.train, split.val])).astype(np.int64)
    pick = (lambda a: None if a is None else np.asarray(a)[pool])  # noqa: E731
    train, val = kfold(len(pool), k, seed=seed, y=pick(y), groups=pick(groups))[fold]
    return Split(pool[train], pool[val], split.test)
