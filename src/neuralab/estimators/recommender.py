"""A scikit-learn-like recommender around :class:`neuralab.models.RBMCF`: ``fit(ratings)``, ``predict(user, item)``,
``recommend(user, k)``.

The ratings are ``(user, item, rating)`` rows: an array, a list of tuples or a DataFrame (its first three columns,
or columns named user, item and rating). Users and items are any hashable ids. The estimator lays them out as the
recommendation task does (a users × items matrix of 0..K, 0 = absent, or items × users for the I-RBM), holds out a
validation share to pick the epoch, and trains with :func:`neuralab.train.fit`, which calls the model's own
contrastive-divergence ``train_step``; it has no loop of its own.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from neuralab.estimators._common import _kept_global_rng, _seed
from neuralab.models.rbm_cf import RBMCF
from neuralab.nn import build_optimizer
from neuralab.train import EarlyStoppingConfig, FitData, TrainerConfig, fit
from neuralab.train.seeding import resolve_device

__all__ = ["RBMRecommender"]

MAX_MATRIX_ENTRIES = 200_000_000  # users × items held densely as int8: 200 MB
_BATCH = 512


def _triples(ratings: Any, y: Any, levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users, items (object arrays of str) and ratings (int) from ``(user, item, rating)`` rows, or ``(user,
    item)`` rows and ``y``; a one-line ``ValueError`` for anything else."""
    if hasattr(ratings, "columns") and hasattr(ratings, "to_numpy"):  # a DataFrame
        columns = [str(c).lower() for c in ratings.columns]
        named = [next((i for i, c in enumerate(columns) if c in names), None) for names in
                 (("user", "user_id", "userid", "uid"), ("item", "item_id", "itemid", "movie", "movie_id",
                                                         "movieid", "iid"), ("rating", "score", "stars"))]
        table = ratings.to_numpy(dtype=object)
        if None not in named[:2] and (named[2] is not None or y is not None):
            table = table[:, [i for i in named if i is not None]]
    else:
        try:
            table = np.asarray(ratings, dtype=object)
        except ValueError:
            raise ValueError("ratings must be rows of (user, item, rating): an array, a list of tuples or a "
                             "DataFrame") from None
    if table.ndim != 2 or table.shape[0] == 0:
        raise ValueError(f"ratings must be a non-empty 2-D table of (user, item, rating) rows; got shape "
                         f"{table.shape}")
    if y is not None:
        if table.shape[1] != 2:
            raise ValueError(f"with y, ratings must be (user, item) pairs; got {table.shape[1]} columns")
        values = np.asarray(y, dtype=object).reshape(-1)
        if len(values) != len(table):
            raise ValueError(f"y has {len(values)} ratings for {len(table)} (user, item) pairs")
    else:
        if table.shape[1] < 3:
            raise ValueError(f"ratings must have (user, item, rating) columns; got {table.shape[1]} (pass the "
                             "ratings as y with (user, item) pairs)")
        values = table[:, 2]
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("ratings must be numbers from 1 to the number of levels") from None
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers)) | (numbers < 1) | (numbers > levels)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {row}: rating {values[row]!r} is not a whole number from 1 to {levels} "
                         f"({int(bad.sum())} such rows)")
    return _ids(table[:, 0]), _ids(table[:, 1]), numbers.astype(np.int64)


def _ids(column: Any) -> np.ndarray:
    """Ids as strings: 196, "196" and 196.0 are one user."""
    out = np.empty(len(column), dtype=object)
    for i, value in enumerate(column):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out[i] = str(value).strip()
    return out


class RBMRecommender(BaseEstimator):
    """A Netflix-style RBM recommender (Salakhutdinov, Mnih & Hinton 2007), used with scikit-learn habits.

    Parameters
    ----------
    hidden_size : int, default 100
        Binary hidden units.
    by : {"user", "item"}, default "item"
        ``user``: one RBM per user over the items they rated (the paper's); ``item``: one RBM per item over its
        users (the I-RBM, the better of the two on MovieLens-100K, see BENCHMARKS.md), which cannot place a user
        it never saw.
    conditional : bool, default False
        The paper's conditional RBM: which items each user rated is an extra input.
    levels : int, default 5
        Ratings are whole numbers 1..levels.
    learning_rate, momentum, weight_decay : float
        SGD on the contrastive-divergence statistics: 0.1, 0.9 and 0.001 by default (the movielens-irbm recipe's).
    batch_size : int, default 128
        Rows (users, or items) per update.
    epochs : int, default 80
        Most passes over the training rows.
    cd_schedule : sequence of (epoch, T), default ((1, 1), (10, 3), (20, 5), (30, 9))
        Gibbs steps T of each update from each epoch on: CD-T with T growing, as in the paper.
    validation_fraction : float, default 0.05
        Share of the ratings held out to pick the epoch (early stopping on their RMSE); 0 trains on all of them
        for ``epochs`` epochs.
    patience : int, default 10
        Epochs without a better validation RMSE before training stops.
    random_state : int, RandomState or None
        Seeds the weights, the validation split, the batch order and the sampling.
    device : str, default "cpu"

    Attributes
    ----------
    users_, items_ : ndarray of str
        The ids seen in ``fit``, in the order of the model's rows and columns.
    model_ : neuralab.models.RBMCF
    global_mean_ : float
        Mean training rating: the answer for a pair the model cannot place.
    history_ : list of dict
        The engine's per-epoch logs (``train_rmse``, ``val_rmse``, ``val_mae``...).

    Examples
    --------
    >>> ratings = [(u, i, 1 + (u * i) % 5) for u in range(30) for i in range(12) if (u + 2 * i) % 3]
    >>> rec = RBMRecommender(hidden_size=8, epochs=3, random_state=0).fit(ratings)
    >>> rec.predict([(1, 2), (1, 5)]).shape
    (2,)
    >>> len(rec.recommend(1, k=3))
    3
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "by": [StrOptions({"user", "item"})],
        "conditional": ["boolean"],
        "levels": [Interval(Integral, 2, 20, closed="both")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "cd_schedule": ["array-like"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "device": [str],
    }

    def __init__(self, hidden_size: int = 100, *, by: str = "item", conditional: bool = False, levels: int = 5,
                 learning_rate: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.001,
                 batch_size: int = 128, epochs: int = 80,
                 cd_schedule: Any = ((1, 1), (10, 3), (20, 5), (30, 9)), validation_fraction: float = 0.05,
                 patience: int = 10, random_state: Any = None, device: str = "cpu") -> None:
        self.hidden_size = hidden_size
        self.by = by
        self.conditional = conditional
        self.levels = levels
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.cd_schedule = cd_schedule
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device

    # --- training ---------------------------------------------------------------------------------------------

    def fit(self, ratings: Any, y: Any = None) -> RBMRecommender:
        """Train on ``(user, item, rating)`` rows (or ``(user, item)`` pairs and their ratings ``y``).

        A ``(user, item)`` pair rated more than once keeps its last rating, with a warning.

        Raises
        ------
        ValueError
            For invalid parameters, a table that is not (user, item, rating) rows, ratings outside 1..levels, or
            more users × items than fit in memory.
        """
        self._validate_params()
        resolve_device(self.device)
        users, items, values = _triples(ratings, y, int(self.levels))
        self.users_, user_codes = np.unique(users, return_inverse=True)
        self.items_, item_codes = np.unique(items, return_inverse=True)
        if len(self.users_) * len(self.items_) > MAX_MATRIX_ENTRIES:
            raise ValueError(f"{len(self.users_):,} users × {len(self.items_):,} items is more than the "
                             f"{MAX_MATRIX_ENTRIES:,} entries this dense recommender holds in memory")
        codes = user_codes * len(self.items_) + item_codes
        last = len(codes) - 1 - np.unique(codes[::-1], return_index=True)[1]  # the last rating of each pair
        if len(last) < len(codes):
            warnings.warn(f"{len(codes) - len(last)} (user, item) pairs were rated more than once; the last rating "
                          "of each is kept", UserWarning, stacklevel=2)
        user_codes, item_codes, values = user_codes[last], item_codes[last], values[last]
        seed = _seed(self.random_state)
        rng = np.random.default_rng(seed)
        held = np.zeros(len(values), dtype=bool)
        if self.validation_fraction > 0 and len(values) > 1:
            held[rng.permutation(len(values))[:max(1, int(round(self.validation_fraction * len(values))))]] = True
        train = self._matrix(user_codes[~held], item_codes[~held], values[~held])
        val = self._matrix(user_codes[held], item_codes[held], values[held])
        self.global_mean_ = float(values[~held].mean())
        self.item_means_ = np.full(len(self.items_), self.global_mean_)
        counts = np.bincount(item_codes[~held], minlength=len(self.items_))
        sums = np.bincount(item_codes[~held], weights=values[~held], minlength=len(self.items_))
        self.item_means_[counts > 0] = sums[counts > 0] / counts[counts > 0]
        self.item_counts_ = counts
        self._ratings = self._matrix(user_codes, item_codes, values)  # every rating, the input of predictions
        rows_of = (lambda m: m.T.contiguous()) if self.by == "item" else (lambda m: m)
        train, val, everything = rows_of(train), rows_of(val), rows_of(self._ratings)
        implicit = everything > 0
        rows = torch.nonzero((train > 0).any(1)).squeeze(1)
        splits = [(rows, train[rows], train[rows], implicit[rows])]
        val_rows = torch.nonzero((val > 0).any(1)).squeeze(1)
        splits.append((val_rows, train[val_rows], val[val_rows], implicit[val_rows]) if len(val_rows) else None)
        with _kept_global_rng():
            torch.manual_seed(seed)
            model = RBMCF(train.shape[1], int(self.hidden_size), levels=int(self.levels),
                          conditional=bool(self.conditional),
                          cd_schedule=[tuple(int(v) for v in step) for step in self.cd_schedule])
            model.start_from(train[rows])
            config = TrainerConfig(
                epochs=int(self.epochs), batch_size=int(self.batch_size), device=self.device, seed=seed,
                l2=float(self.weight_decay), monitor="val_rmse" if splits[1] else "train_rmse",
                early_stopping=EarlyStoppingConfig(patience=int(self.patience)) if splits[1] else None)
            optimizer = build_optimizer("sgd", model.parameters(), float(self.learning_rate),
                                        momentum=float(self.momentum))
            state = fit(model, FitData(splits[0], splits[1]), config, [], optimizer=optimizer)
        self.model_ = model.eval()
        self.history_ = [dict(logs) for logs in state.history]
        return self

    def _matrix(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> torch.Tensor:
        matrix = torch.zeros(len(self.users_), len(self.items_), dtype=torch.int8)
        matrix[torch.from_numpy(users), torch.from_numpy(items)] = torch.from_numpy(values).to(torch.int8)
        return matrix

    # --- predictions ------------------------------------------------------------------------------------------

    def _rows(self, seen: torch.Tensor, implicit: torch.Tensor | None = None) -> torch.Tensor:
        """The model's expected ratings for rows of ``seen`` ratings (users, or items for the I-RBM); ``implicit``
        marks what each row is known to have rated (the conditional RBM's input), by default what it has seen."""
        implicit = seen > 0 if implicit is None else implicit
        device = next(self.model_.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(seen), _BATCH):
                part = slice(start, start + _BATCH)
                out.append(self.model_.predict_rows(seen[part].to(device), implicit[part].to(device)).float().cpu())
        return torch.cat(out).clamp(1, int(self.levels))

    def predict(self, X: Any, item: Any = None) -> np.ndarray:
        """Predicted ratings of ``(user, item)`` pairs; or ``predict(user, item)`` for one pair or two equal-length
        sequences.

        A pair the model was fitted on is predicted with that rating hidden, as a held-out rating would be. A user
        (``by="item"``) or an item it never saw cannot be placed: it gets the item's mean training rating, else the
        global mean, with a warning that says how many.
        """
        check_is_fitted(self)
        if item is not None:
            users, items = np.atleast_1d(np.asarray(X, dtype=object)), np.atleast_1d(np.asarray(item, dtype=object))
            if users.ndim != 1 or users.shape != items.shape:
                raise ValueError("predict(user, item) takes two ids or two sequences of the same length")
        else:
            pairs = np.asarray(X, dtype=object)
            if pairs.ndim != 2 or pairs.shape[1] < 2:
                raise ValueError(f"predict takes (user, item) pairs; got shape {pairs.shape}")
            users, items = pairs[:, 0], pairs[:, 1]
        users, items = _ids(users), _ids(items)
        u, i = self._codes(self.users_, users), self._codes(self.items_, items)
        out = np.where(i >= 0, self.item_means_[np.maximum(i, 0)], self.global_mean_)
        placeable = (i >= 0) & ((u >= 0) | (self.by == "user"))
        if (~placeable).any():
            warnings.warn(f"{int((~placeable).sum())} of {len(out)} pairs have a user or an item unseen in fit; "
                          "they get the item's mean rating (or the global mean)", UserWarning, stacklevel=2)
        ok = np.flatnonzero(placeable)
        if len(ok) == 0:
            return out
        full = self._ratings
        if self.by == "user":
            # Each asking user's known ratings (none for a new user), with the asked pairs hidden.
            asking, rows = np.unique(u[ok], return_inverse=True)
            seen = torch.zeros(len(asking), full.shape[1], dtype=torch.int8)
            known = asking >= 0
            seen[torch.from_numpy(known)] = full[torch.from_numpy(asking[known])]
            implicit = seen > 0
            implicit[torch.from_numpy(rows), torch.from_numpy(i[ok])] = True  # the query is known, not its rating
            seen[torch.from_numpy(rows), torch.from_numpy(i[ok])] = 0
            out[ok] = self._rows(seen, implicit)[torch.from_numpy(rows), torch.from_numpy(i[ok])].numpy()
        else:
            asking, rows = np.unique(i[ok], return_inverse=True)
            seen = full.T[torch.from_numpy(asking)].clone()
            implicit = seen > 0
            implicit[torch.from_numpy(rows), torch.from_numpy(u[ok])] = True
            seen[torch.from_numpy(rows), torch.from_numpy(u[ok])] = 0
            out[ok] = self._rows(seen, implicit)[torch.from_numpy(rows), torch.from_numpy(u[ok])].numpy()
        return out

    @staticmethod
    def _codes(known: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Index of each id in the sorted ``known`` ids, −1 when absent."""
        where = np.searchsorted(known, ids)
        where = np.minimum(where, len(known) - 1)
        return np.where(known[where] == ids, where, -1)

    def recommend(self, user: Any, k: int = 10, *, min_ratings: int = 0) -> list[tuple[str, float]]:
        """The ``k`` items ``user`` has not rated with the highest predicted ratings, as ``(item, rating)``.

        ``user`` is an id seen in ``fit``, or (``by="user"``) a new user's ratings as a dict ``{item: rating}``
        (an empty dict is a user with no history: the model's prior). Items with fewer than ``min_ratings``
        training ratings are left out.
        """
        check_is_fitted(self)
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive int; got {k!r}")
        if isinstance(user, dict):
            if self.by == "item":
                raise ValueError("an item-based RBM (by='item') cannot place a new user; refit with by='user'")
            history = torch.zeros(len(self.items_), dtype=torch.int8)
            if user:
                _, items, values = _triples([("new", item, value) for item, value in user.items()], None,
                                            int(self.levels))
                codes = self._codes(self.items_, items)
                if (codes < 0).any():
                    raise ValueError(f"unknown item {items[codes < 0][0]!r}: not seen in fit")
                history[torch.from_numpy(codes)] = torch.from_numpy(values).to(torch.int8)
            predicted = self._rows(history[None])[0]
        else:
            code = self._codes(self.users_, _ids([user]))[0]
            if code < 0:
                raise ValueError(f"unknown user {str(user)[:80]!r}: not seen in fit (give a new user's ratings as a "
                                 "dict instead)")
            history = self._ratings[code]
            if self.by == "user":
                predicted = self._rows(history[None])[0]
            else:
                predicted = self._rows(self._ratings.T.contiguous())[:, code]
        scores = predicted.double().masked_fill((history > 0) | torch.from_numpy(self.item_counts_ < min_ratings),
                                                -np.inf)
        best = scores.topk(min(k, len(scores)))
        return [(str(self.items_[i]), float(predicted[i])) for i, score in zip(best.indices.tolist(),
                                                                              best.values.tolist()) if score > -np.inf]

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the RMSE of the predicted ratings of ``(user, item, rating)`` rows (or pairs and ``y``): higher
        is better, as scikit-learn's model selection expects."""
        users, items, values = _triples(X, y, int(self.levels))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            predicted = self.predict(np.stack([users, items], axis=1))
        return -float(np.sqrt(np.mean((predicted - values) ** 2)))
