"""The recommendation task's input pipeline and its helpers: ids to indices, the rating matrix, titles, ranking.

:class:`RatingsInputs` is fitted on a :class:`~neuralab.data.ratings.RatingData`. Its state, saved with the
weights, holds the user and item ids, the titles and genres, and every rating the run was given with the part it
belonged to (train, val, test), so that a saved run recommends to its users and looks titles up without the data
set at hand. Strings are stored as UTF-8 bytes in a ``uint8`` tensor (safetensors holds tensors only).
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Self

import numpy as np
import torch

from neuralab.data.ratings import RatingData
from neuralab.errors import DataError, NeuralabError

__all__ = ["MAX_MATRIX_ENTRIES", "RatingsInputs", "ranking_metrics", "TRAIN", "VAL", "TEST"]

TRAIN, VAL, TEST = 0, 1, 2
# The largest rating matrix kept dense (users × items, one byte each, held a few times over): MovieLens-1M's
# 6,040 × 3,706 is 22 M entries; MovieLens-10M's 750 M would need gigabytes.
MAX_MATRIX_ENTRIES = 200_000_000
_SEPARATOR = "\x1f"  # between strings in a byte tensor: the ASCII unit separator, never in a title or an id


def _encode(strings: list[str]) -> torch.Tensor:
    data = _SEPARATOR.join(s.replace(_SEPARATOR, " ") for s in strings).encode("utf-8")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).clone() if data else torch.zeros(0, dtype=torch.uint8)


def _decode(tensor: torch.Tensor, count: int) -> list[str]:
    if count == 0:
        return []
    strings = bytes(tensor.numpy().astype(np.uint8).tobytes()).decode("utf-8", errors="replace").split(_SEPARATOR)
    if len(strings) != count:
        raise DataError(f"a saved list of {count} strings holds {len(strings)}; the weights file is damaged")
    return strings


def _sorted_ids(ids: np.ndarray) -> list[str]:
    """Distinct ids, numerically sorted when they are all integers (MovieLens), else as text."""
    unique = np.unique(ids.astype(str))
    if all(re.fullmatch(r"-?\d{1,18}", s) for s in unique):
        return [str(v) for v in sorted(int(s) for s in unique)]
    return unique.tolist()


class RatingsInputs:
    """Users, items, titles and all the ratings of a recommendation run (see the module docstring)."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self.items: list[str] = []
        self.titles: list[str] = []
        self.genres: list[str] = []  # each item's genres joined by "|"
        self.history = np.zeros((0, 4), dtype=np.int64)  # (user, item, rating, part) rows
        self.levels = 5
        self._user_index: dict[str, int] | None = None
        self._item_index: dict[str, int] | None = None

    def fit(self, data: RatingData) -> Self:
        parts = [(data.train, TRAIN), (data.val, VAL), (data.test, TEST)]
        self.users = _sorted_ids(np.concatenate([t.user for t, _ in parts]))
        self.items = _sorted_ids(np.concatenate([t.item for t, _ in parts] + [np.array(list(data.catalogue.titles),
                                                                                        dtype=str)]))
        self.titles = [data.catalogue.title(item) for item in self.items]
        self.genres = ["|".join(data.catalogue.genres.get(item, ())) for item in self.items]
        self.levels = data.levels
        self._user_index = self._item_index = None
        if len(self.users) * len(self.items) > MAX_MATRIX_ENTRIES:
            raise DataError(f"{len(self.users):,} users × {len(self.items):,} items is more than the "
                            f"{MAX_MATRIX_ENTRIES:,} entries a dense rating matrix may have here; neuralab's "
                            "recommenders hold the matrix in memory (MovieLens-1M fits, MovieLens-10M does not)")
        rows = [np.stack([self.user_ids(t.user), self.item_ids(t.item), t.rating, np.full(len(t), part)], 1)
                for t, part in parts if len(t)]
        self.history = np.concatenate(rows).astype(np.int64)
        return self

    # --- lookups ----------------------------------------------------------------------------------------------

    @property
    def user_index(self) -> dict[str, int]:
        if self._user_index is None:
            self._user_index = {u: i for i, u in enumerate(self.users)}
        return self._user_index

    @property
    def item_index(self) -> dict[str, int]:
        if self._item_index is None:
            self._item_index = {u: i for i, u in enumerate(self.items)}
        return self._item_index

    def user_ids(self, users: np.ndarray) -> np.ndarray:
        index = self.user_index
        return np.array([index.get(str(u), -1) for u in users], dtype=np.int64)

    def item_ids(self, items: np.ndarray) -> np.ndarray:
        index = self.item_index
        return np.array([index.get(str(i), -1) for i in items], dtype=np.int64)

    def find_user(self, user: str | int) -> int:
        """The index of a user id, or a one-line error saying which ids exist."""
        index = self.user_index.get(str(user).strip())
        if index is None:
            shown = f"{self.users[0]} ... {self.users[-1]}" if len(self.users) > 2 else ", ".join(self.users)
            raise NeuralabError(f"unknown user {str(user)[:80]!r}: this run knows {len(self.users):,} users ({shown}); "
                                "rate a few items with --rate instead to get recommendations as a new user")
        return index

    def find_item(self, text: str) -> list[int]:
        """The items a title or id names: an exact title (all items of a title listed twice), the same ignoring
        case, ``id:N``, a title without its year when only one matches; else a one-line error with a did-you-mean."""
        text = str(text).strip()
        if not text:
            raise NeuralabError("an item must be named by its title or id:N; got an empty name")
        if text.lower().startswith("id:"):
            index = self.item_index.get(text[3:].strip())
            if index is None:
                raise NeuralabError(f"unknown item id {text[3:].strip()[:80]!r}")
            return [index]
        for same in (lambda t: t == text, lambda t: t.lower() == text.lower()):
            found = [i for i, title in enumerate(self.titles) if same(title)]
            if found:
                return found
        bare = text.lower()
        found = [i for i, title in enumerate(self.titles) if re.sub(r"\s*\(\d{4}\)\s*$", "", title).lower() == bare]
        if len({self.titles[i] for i in found}) == 1:
            return found
        if found:
            options = "; ".join(sorted({self.titles[i] for i in found})[:5])
            raise NeuralabError(f"{text[:80]!r} names several items; say which: {options}")
        # Typos are matched against the titles with and without their year ("Star Wars" and "Star Wars (1977)").
        names = {t.lower(): t for t in self.titles}
        names.update({re.sub(r"\s*\(\d{4}\)\s*$", "", t).lower(): t for t in reversed(self.titles)})
        close = difflib.get_close_matches(text.lower(), list(names), n=6, cutoff=0.6)
        close = list(dict.fromkeys(names[c] for c in close))[:3]
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else \
            "; give the title as listed (e.g. 'Toy Story (1995)') or id:N"
        raise NeuralabError(f"unknown item {text[:80]!r}{hint}")

    # --- the matrix -------------------------------------------------------------------------------------------

    def matrix(self, parts: tuple[int, ...]) -> torch.Tensor:
        """The users × items matrix of the ratings in ``parts`` (0 = absent), ``int8``."""
        out = torch.zeros(len(self.users), len(self.items), dtype=torch.int8)
        rows = self.history[np.isin(self.history[:, 3], parts)]
        out[torch.from_numpy(rows[:, 0]), torch.from_numpy(rows[:, 1])] = torch.from_numpy(rows[:, 2]).to(torch.int8)
        return out

    def counts(self) -> np.ndarray:
        """How many training ratings each item has (its popularity)."""
        train = self.history[self.history[:, 3] == TRAIN]
        return np.bincount(train[:, 1], minlength=len(self.items))

    # --- the saved state --------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"users": _encode(self.users), "items": _encode(self.items), "titles": _encode(self.titles),
                "genres": _encode(self.genres), "history": torch.from_numpy(self.history.astype(np.int32)),
                "sizes": torch.tensor([len(self.users), len(self.items), self.levels], dtype=torch.int64)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        n_users, n_items, self.levels = (int(v) for v in state["sizes"].tolist())
        self.users, self.items = _decode(state["users"], n_users), _decode(state["items"], n_items)
        self.titles, self.genres = _decode(state["titles"], n_items), _decode(state["genres"], n_items)
        history = state["history"].numpy().astype(np.int64)
        if history.ndim != 2 or history.shape[1] != 4 or (len(history) and (
                history[:, 0].max() >= n_users or history[:, 1].max() >= n_items or history.min() < 0)):
            raise DataError("the saved ratings do not match the saved users and items")
        self.history = history
        self._user_index = self._item_index = None


def ranking_metrics(scores: torch.Tensor, known: torch.Tensor, relevant: torch.Tensor, k: int = 10
                    ) -> dict[str, float]:
    """Precision, recall and NDCG at ``k`` and catalogue coverage of top-``k`` lists.

    ``scores`` ``(U, I)`` rank the items for each user; items in ``known`` (the user's own ratings, which a
    recommender would not show again) are left out; ``relevant`` marks the held-out positives. The means are over
    the users with at least one relevant item; coverage is the share of items that appear in anybody's list.
    """
    scores = scores.double().masked_fill(known, -math.inf)
    shown = min(k, scores.shape[1])  # a catalogue smaller than k: every item
    best = scores.topk(shown, dim=1)
    listed = torch.isfinite(best.values)  # a user who rated nearly everything has a shorter list
    top = best.indices  # (U, shown)
    hits = (relevant.gather(1, top) & listed).double()
    n_relevant = relevant.sum(1)
    users = n_relevant > 0
    if not users.any():
        return {}
    discount = 1.0 / torch.log2(torch.arange(shown, dtype=torch.float64) + 2)
    dcg = hits @ discount
    ideal = torch.cumsum(discount, 0)[(n_relevant.clamp(max=shown) - 1).clamp(min=0)]
    return {f"precision_at_{k}": float((hits.sum(1) / k)[users].mean()),
            f"recall_at_{k}": float((hits.sum(1) / n_relevant.clamp(min=1))[users].mean()),
            f"ndcg_at_{k}": float((dcg / ideal)[users].mean()),
            "coverage": float(len(torch.unique(top[users][listed[users]])) / scores.shape[1]),
            "users": int(users.sum())}
