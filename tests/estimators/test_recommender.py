"""The scikit-learn-like RBM recommender: fit on (user, item, rating) rows, predict pairs, recommend, and refuse bad
input with one-line errors. scikit-learn's generic checks feed feature tables, so its contract is tested here."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold

from neuralab.estimators import RBMRecommender

MIRROR = Path(os.environ.get("NEURALAB_DATA", "")) / "movielens-100k"
FAST = dict(hidden_size=8, epochs=4, batch_size=8, random_state=0)


def tastes(seed: int = 0, users: int = 50, items: int = 20) -> np.ndarray:
    """(user, item, rating) rows: two groups of users who like opposite halves of the items."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        side = 1 if user % 2 else -1
        for item in rng.permutation(items)[:12]:
            rating = 3 + 2 * side * (1 if item < items // 2 else -1)
            rows.append((f"u{user}", f"i{item}", int(np.clip(rating + rng.integers(-1, 2), 1, 5))))
    return np.array(rows, dtype=object)


@pytest.mark.parametrize("by", ["user", "item"])
def test_it_learns_tastes_that_the_item_means_cannot_see(by):
    rows = tastes()
    rec = RBMRecommender(hidden_size=8, by=by, epochs=40, learning_rate=0.05, batch_size=8, random_state=0,
                         validation_fraction=0).fit(rows)
    probe = tastes(seed=1)  # the same tastes, other (user, item) pairs: some of them unseen in fit
    errors = rec.predict(probe[:, :2]) - probe[:, 2].astype(float)
    item_means = rec.item_means_[np.searchsorted(rec.items_, probe[:, 1])]
    baseline = item_means - probe[:, 2].astype(float)
    assert np.sqrt(np.mean(errors ** 2)) < 0.8 * np.sqrt(np.mean(baseline ** 2))
    assert rec.score(probe) == pytest.approx(-np.sqrt(np.mean(errors ** 2)))


def test_fit_accepts_arrays_tuples_dataframes_and_pairs_with_y():
    rows = tastes()
    a = RBMRecommender(**FAST).fit(rows)
    b = RBMRecommender(**FAST).fit([tuple(r) for r in rows])
    frame = pd.DataFrame({"rating": rows[:, 2], "movieId": rows[:, 1], "userId": rows[:, 0]})
    c = RBMRecommender(**FAST).fit(frame)
    d = RBMRecommender(**FAST).fit(rows[:, :2], rows[:, 2])
    pairs = rows[:5, :2]
    for other in (b, c, d):
        np.testing.assert_allclose(other.predict(pairs), a.predict(pairs), rtol=1e-6)
    assert a.predict("u1", "i3") == pytest.approx(a.predict([("u1", "i3")])[0])
    assert a.history_ and "val_rmse" in a.history_[0]


def test_predict_hides_the_rating_it_is_asked_about():
    rows = tastes()
    rec = RBMRecommender(**FAST, by="user").fit(rows)
    user, item = rows[0, 0], rows[0, 1]
    asked = rec.predict(user, item)[0]
    seen = rec._ratings[np.searchsorted(rec.users_, user)].clone()[None]
    column = int(np.searchsorted(rec.items_, item))
    with_it = float(rec._rows(seen)[0, column])
    seen[0, column] = 0
    assert asked == pytest.approx(float(rec._rows(seen)[0, column]), abs=1e-6)
    assert asked != pytest.approx(with_it, abs=1e-6)


def test_unknown_users_and_items_get_a_fallback_and_a_warning():
    rows = tastes()
    rec = RBMRecommender(**FAST, by="item").fit(rows)
    with pytest.warns(UserWarning, match="2 of 3 pairs have a user or an item unseen in fit"):
        out = rec.predict([("u1", "i2"), ("ghost", "i2"), ("u1", "nothing")])
    assert out[1] == pytest.approx(rec.item_means_[np.searchsorted(rec.items_, "i2")])
    assert out[2] == pytest.approx(rec.global_mean_)
    user_based = RBMRecommender(**FAST, by="user").fit(rows)
    with pytest.warns(UserWarning, match="1 of 2"):
        new = user_based.predict([("ghost", "i2"), ("ghost", "nothing")])
    assert 1 <= new[0] <= 5, "a user-based RBM places a new user from an empty history"


def test_recommend_lists_unrated_items_best_first_and_serves_new_users():
    rows = tastes()
    rec = RBMRecommender(**FAST, by="user").fit(rows)
    top = rec.recommend("u1", k=5)
    rated = set(rows[rows[:, 0] == "u1", 1])
    assert len(top) == 5 and not rated & {item for item, _ in top}
    assert [r for _, r in top] == sorted((r for _, r in top), reverse=True)
    assert len(rec.recommend({"i1": 5, "i2": 5}, k=3)) == 3
    assert len(rec.recommend({}, k=3)) == 3, "an empty history gets the prior"
    assert rec.recommend("u1", k=5, min_ratings=10_000) == []
    with pytest.raises(ValueError, match="unknown user 'ghost'"):
        rec.recommend("ghost")
    with pytest.raises(ValueError, match="unknown item 'nope'"):
        rec.recommend({"nope": 4})
    with pytest.raises(ValueError, match="k must be a positive int"):
        rec.recommend("u1", k=0)
    with pytest.raises(ValueError, match="cannot place a new user"):
        RBMRecommender(**FAST, by="item").fit(rows).recommend({"i1": 5})


@pytest.mark.parametrize("bad, message", [
    ([("a", "b", 6)], r"row 0: rating 6 is not a whole number from 1 to 5"),
    ([("a", "b", 3.5)], "not a whole number"),
    ([("a", "b", "x")], "must be numbers"),
    ([("a", "b", float("nan"))], "not a whole number"),
    ([], "non-empty 2-D table"),
    ([("a", "b")], "must have \\(user, item, rating\\) columns"),
    ("not a table", "non-empty 2-D table"),
])
def test_bad_ratings_are_one_line_value_errors(bad, message):
    with pytest.raises(ValueError, match=message) as info:
        RBMRecommender(**FAST).fit(bad)
    assert "\n" not in str(info.value)


def test_duplicated_pairs_keep_the_last_rating_with_a_warning():
    rows = [("a", "x", 1), ("a", "x", 5), ("b", "x", 2), ("b", "y", 3), ("a", "y", 4)]
    with pytest.warns(UserWarning, match="1 \\(user, item\\) pairs were rated more than once; the last"):
        rec = RBMRecommender(**dict(FAST, validation_fraction=0)).fit(rows)
    assert int(rec._ratings[0, 0]) == 5


def test_the_scikit_learn_contract_holds():
    rows = tastes()
    rec = RBMRecommender(**FAST)
    with pytest.raises(NotFittedError):
        rec.predict([("u1", "i1")])
    assert clone(rec).get_params() == rec.get_params()
    with pytest.raises(ValueError, match="hidden_size"):
        RBMRecommender(hidden_size=0).fit(rows)
    fitted = rec.fit(rows)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.predict(rows[:4, :2]), fitted.predict(rows[:4, :2]))
    np.testing.assert_allclose(RBMRecommender(**FAST).fit(rows).predict(rows[:4, :2]), fitted.predict(rows[:4, :2]))
    search = GridSearchCV(RBMRecommender(**FAST), {"hidden_size": [4, 8]}, cv=KFold(2, shuffle=True,
                                                                                      random_state=0))
    search.fit(rows)
    assert search.best_params_["hidden_size"] in (4, 8) and search.best_score_ < 0


@pytest.mark.slow
@pytest.mark.skipif(not (MIRROR / "u1.base").exists(), reason="MovieLens-100K mirror not found")
def test_on_movielens_u1_it_beats_the_item_means():
    read = lambda name: np.loadtxt(MIRROR / name, dtype=np.int64)[:, :3]  # noqa: E731
    base, test = read("u1.base"), read("u1.test")
    rec = RBMRecommender(random_state=0).fit(base)
    rmse = -rec.score(test)
    items = test[:, 1].astype(str)
    where = np.minimum(np.searchsorted(rec.items_, items), len(rec.items_) - 1)
    means = np.where(rec.items_[where] == items, rec.item_means_[where], rec.global_mean_)
    assert rmse < 0.95 < np.sqrt(np.mean((means - test[:, 2]) ** 2))
