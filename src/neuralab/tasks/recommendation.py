"""Recommendation: predict the ratings users would give to items they have not rated, and rank items for them.

The data are (user, item, rating) triples (:mod:`neuralab.data.ratings`): MovieLens-100K with its own splits, or
the user's file. The task lays them out as a users × items matrix (or items × users, ``by: item``: the I-RBM and
I-AutoRec) and gives every model the same batches of rows, ``(rows, input, target, implicit)``:

- ``input``: the ratings the model may see for each row: the training ratings (and, for the test, the validation
  ones too);
- ``target``: the ratings it must predict: for training the same ratings (CD and AutoRec reconstruct them), for
  validation and test the held-out ones, **which are never in input**: no model can see a rating it is asked;
- ``implicit``: which items each user rated, in any split, without the ratings (the conditional RBM's input).

Scores: RMSE and MAE of the held-out ratings; and the ranking of every item a user has not rated, against the
held-out ratings of 4 or more: precision, recall and NDCG at 10 and catalogue coverage, beside the same numbers for
ranking by popularity. ``recommend`` gives a user's (or a new user's) top-k, ``similar_items`` the nearest items by
the learned item vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import Field

from neuralab.data.features import is_file
from neuralab.data.prepared import PreparedData
from neuralab.data.ratings import SPLITS, load_ratings
from neuralab.errors import DataError, NeuralabError
from neuralab.report.recommender import plot_item_map, plot_predicted_vs_true, plot_rmse_by_activity
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.tasks._ratings import TEST, TRAIN, VAL, RatingsInputs, ranking_metrics
from neuralab.tasks.base import Predictions, Task

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["Recommendation", "RatingsData"]

TOP_K = 10
ACTIVITY_BINS = ((1, 20), (21, 50), (51, 100), (101, 200), (201, None))
_BATCH = 512


class RatingsData(DataConfig):
    """Ratings to learn from: ``name`` is ``movielens-100k`` or ``ratings`` (your file at ``path``, with an optional
    ``items`` CSV of titles). ``split`` is one of MovieLens's ``u1``-``u5``, ``ua``, ``ub``, or ``random`` /
    ``temporal`` (each user's latest ratings held out); ``test`` and ``val`` are the fractions held out. ``by``
    lays the matrix out by user (an RBM per user) or by item (the I-RBM, I-AutoRec). ``levels`` is the top rating;
    ``duplicates`` says what a (user, item) pair rated twice means: ``error``, ``last`` or ``first``."""

    name: str = "movielens-100k"
    split: Literal[SPLITS] = "u1"  # type: ignore[valid-type]
    by: Literal["user", "item"] = "user"
    path: str | None = None
    items: str | None = None
    levels: int = Field(5, ge=2, le=20)
    duplicates: Literal["error", "last", "first"] = "error"
    val: float = Field(0.05, ge=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)


def _rows_of(matrix: torch.Tensor, by: str) -> torch.Tensor:
    """The users × items matrix as the model's rows: itself, or items × users."""
    return matrix.T.contiguous() if by == "item" else matrix


@dataclass(frozen=True)
class Recommendation(Task):
    """Rating prediction and top-k recommendation (RBM-CF, AutoRec, matrix factorisation and its baselines)."""

    name: str = "recommendation"
    summary: str = "predict users' ratings of items and recommend (RBM-CF, AutoRec, matrix factorisation)"
    predict_options: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("recommend", "similar_items", "predict_ratings", "item_vectors")

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        return RatingsData

    def own_data(self, path: str) -> dict[str, Any]:
        return {"name": "ratings", "path": path, "split": "random"}

    def loss_note(self, recipe: Recipe) -> str:
        return ("rmse and mae are the errors of the predicted ratings, in stars: val_ and test_ on held-out ratings "
                "the model never saw as input; train_rmse is the fit to the training ratings themselves (the RBM "
                "and AutoRec see them as input). An RBM descends no loss; loss is the objective of the other models "
                "(squared error, plus matrix factorisation's regularisation).")

    # --- training ---------------------------------------------------------------------------------------------

    def prepare(self, recipe: Recipe) -> PreparedData:
        d = recipe.data
        data = load_ratings(d.name, split=d.split, path=d.path, items=d.items, data_dir=d.data_dir, levels=d.levels,
                            test_fraction=d.test, val_fraction=d.val, duplicates=d.duplicates,
                            seed=recipe.trainer.seed)
        inputs = RatingsInputs().fit(data)
        train, val, test = (_rows_of(inputs.matrix((part,)), d.by) for part in (TRAIN, VAL, TEST))
        implicit = (train + val + test) > 0

        def part(seen: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
            rows = torch.nonzero((target > 0).any(1)).squeeze(1)
            return rows, seen[rows], target[rows], implicit[rows]

        rows = torch.nonzero((train > 0).any(1)).squeeze(1)
        seen = train[rows]
        splits = {"train": (rows, seen, seen, implicit[rows])}
        if (val > 0).any():
            splits["val"] = part(train, val)
        if (test > 0).any():
            splits["test"] = part(train + val, test)
        targets = {name: split[2][split[2] > 0].numpy() for name, split in splits.items()}
        model_args = {"n_rows": train.shape[0], "n_columns": train.shape[1], "levels": d.levels}
        return PreparedData(splits, targets, inputs, None, self.name, model_args, files=data.files,
                            extras={"sizes": {"users": len(inputs.users), "items": len(inputs.items),
                                              "train": len(data.train), "val": len(data.val), "test": len(data.test)}})

    def make_inputs(self, recipe: Recipe) -> Any:
        return RatingsInputs()

    def init_model(self, model: torch.nn.Module, data: PreparedData) -> None:
        """A recommender starts from the training ratings' statistics (an RBM's visible biases from each item's
        rating frequencies, matrix factorisation's global mean) when it says how (``start_from``)."""
        if hasattr(model, "start_from"):
            model.start_from(data.splits["train"][2])

    def monitor(self, recipe: Recipe, data: PreparedData) -> str:
        return recipe.trainer.monitor or ("val_rmse" if "val" in data.splits else "train_rmse")

    # --- scoring ----------------------------------------------------------------------------------------------

    def _predict(self, run: Run, seen: torch.Tensor, implicit: torch.Tensor | None, rows: torch.Tensor
                 ) -> torch.Tensor:
        """Every member's predicted ratings of every column for the rows, averaged, clipped to the rating range."""
        device = next(run.model.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(seen), _BATCH):
                part = slice(start, start + _BATCH)
                args = (seen[part].to(device), None if implicit is None else implicit[part].to(device),
                        rows[part].to(device))
                out.append(torch.stack([m.predict_rows(*args).float() for m in run.models]).mean(0).cpu())
        levels = run.recipe.data.levels
        return (torch.cat(out) if out else torch.zeros(0, run.model.n_columns)).clamp(1, levels)

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        rows, seen, target, implicit = split
        predicted = self._predict(run, seen, implicit, rows)
        held = target > 0
        error = (predicted - target.float())[held].double()
        if error.numel() == 0:
            return {}
        return {"rmse": float(error.pow(2).mean().sqrt()), "mae": float(error.abs().mean())}

    def full_predictions(self, run: Run, parts: tuple[int, ...]) -> torch.Tensor:
        """The predicted rating of every (user, item), users × items, from the ratings in ``parts`` only."""
        by = run.recipe.data.by
        inputs: RatingsInputs = run.inputs
        seen = _rows_of(inputs.matrix(parts), by)
        implicit = _rows_of(inputs.matrix((TRAIN, VAL, TEST)), by) > 0
        predicted = self._predict(run, seen, implicit, torch.arange(len(seen)))
        return predicted.T if by == "item" else predicted

    def extra_metrics(self, run: Run, data: PreparedData) -> dict[str, Any]:
        """Ranking at 10 against popularity, the global mean's errors, and the error by user activity."""
        split = "test" if "test" in data.splits else "val" if "val" in data.splits else None
        if split is None:
            return {"data": data.extras.get("sizes", {})}
        inputs: RatingsInputs = run.inputs
        seen_parts = (TRAIN, VAL) if split == "test" else (TRAIN,)
        held = inputs.matrix((TEST,) if split == "test" else (VAL,))
        known = inputs.matrix(seen_parts) > 0
        scores = self.full_predictions(run, seen_parts)
        relevant = held >= max(2, run.recipe.data.levels - 1)
        counts = torch.from_numpy(inputs.counts()).double()
        popularity = counts.expand(len(scores), -1) - torch.arange(len(counts)) * 1e-9  # ties: the lower index
        train_ratings = inputs.history[inputs.history[:, 3] == TRAIN, 2]
        mean = float(train_ratings.mean())
        truth = held[held > 0].double()
        activity = (inputs.matrix(seen_parts) > 0).sum(1)
        bins, base_bins = [], []
        for low, high in ACTIVITY_BINS:
            users = (activity >= low) & (activity <= (high or activity.max()))
            mask = (held > 0) & users[:, None]
            if mask.any():
                error = (scores[mask].double() - held[mask].double())
                label = f"{low}-{high}" if high else f"{low}+"
                bins.append({"ratings": label, "users": int((users & (held > 0).any(1)).sum()),
                             "rmse": float(error.pow(2).mean().sqrt())})
                base_bins.append({"ratings": label, "rmse": float((held[mask].double() - mean).pow(2).mean().sqrt())})
        return {
            "data": data.extras.get("sizes", {}),
            "ranking": {"split": split, "k": TOP_K,
                        "relevant": f"held-out ratings >= {max(2, run.recipe.data.levels - 1)}",
                        "model": ranking_metrics(scores, known, relevant, TOP_K),
                        "popularity": ranking_metrics(popularity, known, relevant, TOP_K)},
            "baselines": {"global_mean": {"split": split, "rmse": float((truth - mean).pow(2).mean().sqrt()),
                                          "mae": float((truth - mean).abs().mean())}},
            "by_activity": {"split": split, "model": bins, "global_mean": base_bins},
        }

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        figures = []
        split = "test" if "test" in data.splits else "val" if "val" in data.splits else None
        if split is not None:
            rows, seen, target, implicit = data.splits[split]
            predicted = self._predict(run, seen, implicit, rows)
            held = target > 0
            path = plot_predicted_vs_true(target[held].numpy(), predicted[held].numpy(), out / "predicted_vs_true.png",
                                          levels=run.recipe.data.levels, split=split)
            figures.append({"file": path.name, "title": "Predicted against true ratings", "caption": f"The {split} "
                            "ratings the model never saw as input, grouped by their true value."})
        activity = metrics.get("by_activity") or {}
        if activity.get("model"):
            path = plot_rmse_by_activity(activity["model"], out / "rmse_by_activity.png",
                                         baseline=activity.get("global_mean"), split=activity["split"])
            figures.append({"file": path.name, "title": "Error by user activity", "caption": "Users with few "
                            "training ratings are the hardest to predict; the grey bars predict the global mean."})
        inputs: RatingsInputs = run.inputs
        vectors = self.item_vectors(run)
        if vectors.shape[1] == 0:  # the global mean and the biases learn no item vectors
            return figures
        path = plot_item_map(vectors, inputs.genres, inputs.titles, inputs.counts(), out / "item_map.png")
        figures.append({"file": path.name, "title": "Item map", "caption": "Each item's learned vector, projected "
                        "to two dimensions by PCA and coloured by its first genre: items that the model treats alike "
                        "lie close together."})
        return figures

    # --- inference --------------------------------------------------------------------------------------------

    def item_vectors(self, run: Run) -> np.ndarray:
        """Each item's learned vector: its column's weights (user-based models) or its row's hidden code (by item)."""
        model = run.model
        if run.recipe.data.by == "user":
            return model.column_vectors().float().cpu().numpy()
        inputs: RatingsInputs = run.inputs
        seen = inputs.matrix((TRAIN, VAL, TEST)).T.contiguous()
        device = next(model.parameters()).device
        with torch.no_grad():
            return torch.cat([model.row_vectors(seen[i:i + _BATCH].to(device), (seen[i:i + _BATCH] > 0).to(device),
                                                torch.arange(i, min(i + _BATCH, len(seen)), device=device)).cpu()
                              for i in range(0, len(seen), _BATCH)]).float().numpy()

    def similar_items(self, run: Run, item: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` items whose learned vectors, centred on their mean, are nearest to ``item``'s (cosine
        similarity)."""
        _check_k(k)
        inputs: RatingsInputs = run.inputs
        chosen = inputs.find_item(item)
        vectors = torch.from_numpy(self.item_vectors(run)).double()
        # Centred first: what every item shares (an RBM code's common part) says nothing about which are alike.
        vectors = vectors - vectors.mean(0, keepdim=True)
        if vectors.shape[1] == 0:
            raise NeuralabError(f"{run.path} learns no item vectors (a global mean or biases only: factors 0), so it "
                                "cannot say which items are alike; use an RBM, AutoRec or matrix factorisation run")
        unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        similarity = unit @ unit[chosen].mean(0)
        similarity[chosen] = -np.inf
        answer, titles = [], {inputs.titles[i] for i in chosen}
        for index in similarity.argsort(descending=True).tolist():
            if inputs.titles[index] not in titles:
                titles.add(inputs.titles[index])
                answer.append((inputs.titles[index], float(similarity[index])))
            if len(answer) == k:
                break
        return answer

    def recommend(self, run: Run, user: str | int | None = None, ratings: dict[str, float] | None = None,
                  k: int = 10, min_ratings: int = 10) -> list[dict[str, Any]]:
        """The top ``k`` items a user has not rated, with their predicted ratings.

        Give ``user`` (an id the run knows: its ratings are all of that user's ratings in the data) or ``ratings``
        (a new user: ``{title or "id:N": rating}``; an empty dict is a user with no history, who gets the model's
        prior). Items with fewer than ``min_ratings`` training ratings are left out: a prediction resting on two
        ratings tops many lists by chance (0 keeps every item). Items listed twice under one title are shown once.
        """
        _check_k(k)
        if isinstance(min_ratings, bool) or not isinstance(min_ratings, int) or min_ratings < 0:
            raise NeuralabError(f"min_ratings must be a whole number >= 0; got {min_ratings!r}")
        if (user is None) == (ratings is None):
            raise NeuralabError("recommend needs either a user id (--user) or a new user's ratings (--rate), not both")
        inputs: RatingsInputs = run.inputs
        levels = run.recipe.data.levels
        if user is not None:
            index = inputs.find_user(user)
            if run.recipe.data.by == "item":
                predicted = self.full_predictions(run, (TRAIN, VAL, TEST))[index]
            else:
                seen = inputs.matrix((TRAIN, VAL, TEST))[index:index + 1]
                predicted = self._predict(run, seen, seen > 0, torch.tensor([index]))[0]
            history = inputs.matrix((TRAIN, VAL, TEST))[index]
        else:
            if run.recipe.data.by == "item":
                raise NeuralabError(f"{run.path} models items (by: item), so a user it never saw has no column in it; "
                                    "use a user-based run (by: user) for new users, or --user with a known id")
            history = torch.zeros(len(inputs.items), dtype=torch.int8)
            for name, value in ratings.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
                        or not 1 <= value <= levels:
                    raise NeuralabError(f"the rating of {str(name)[:80]!r} must be a whole number from 1 to {levels}; "
                                        f"got {value!r}")
                history[inputs.find_item(name)] = int(value)
            predicted = self._predict(run, history[None], (history > 0)[None], torch.tensor([-1]))[0]
        order = predicted.double().masked_fill(history > 0, -np.inf).argsort(descending=True).tolist()
        answer, titles = [], {inputs.titles[i] for i in torch.nonzero(history > 0).squeeze(1).tolist()}
        rare = inputs.counts() < min_ratings
        for index in order:
            if history[index] > 0 or rare[index] or inputs.titles[index] in titles:
                continue
            titles.add(inputs.titles[index])
            answer.append({"item": inputs.items[index], "title": inputs.titles[index],
                           "predicted_rating": float(predicted[index]), "genres": inputs.genres[index]})
            if len(answer) == k:
                break
        return answer

    def predict_ratings(self, run: Run, pairs: Sequence[tuple[Any, Any]]) -> np.ndarray:
        """The predicted rating of each ``(user id, item id)`` pair (NaN for a user or an item the run does not
        know). A pair the run has a rating for is predicted with that rating hidden, as a held-out rating is."""
        inputs: RatingsInputs = run.inputs
        pairs = list(pairs)
        users = inputs.user_ids(np.array([str(p[0]) for p in pairs], dtype=object))
        items = inputs.item_ids(np.array([str(p[1]) for p in pairs], dtype=object))
        out = np.full(len(pairs), np.nan)
        ok = np.flatnonzero((users >= 0) & (items >= 0))
        if len(ok) == 0:
            return out
        by = run.recipe.data.by
        full = inputs.matrix((TRAIN, VAL, TEST))
        implicit = full > 0
        seen = full.clone()
        seen[torch.from_numpy(users[ok]), torch.from_numpy(items[ok])] = 0  # never see a rating that is asked
        rows, columns = (users[ok], items[ok]) if by == "user" else (items[ok], users[ok])
        seen, implicit = _rows_of(seen, by), _rows_of(implicit, by)
        needed = np.unique(rows)
        predicted = self._predict(run, seen[needed], implicit[needed], torch.from_numpy(needed))
        out[ok] = predicted[np.searchsorted(needed, rows), columns].numpy()
        return out

    def predict(self, run: Run, inputs: Sequence[Any], **options: Any) -> Predictions:
        """Predicted ratings for ``user,item`` pairs: CSV files of pairs, or ``USER:ITEM`` strings; a user or an
        item the run does not know is a flagged row."""
        self.check_options("predict", self.predict_options, options)
        if not inputs:
            raise NeuralabError("give (user, item) pairs: a CSV file of user,item rows, or USER:ITEM strings such as "
                                "196:242; or use neuralab recommend RUN --user ID")
        pairs: list[tuple[str, str]] = []
        for given in inputs:
            text = str(given)
            if is_file(Path(text)):
                pairs += _read_pairs(text)
            elif ":" in text:
                user, _, item = text.partition(":")
                pairs.append((user.strip(), item.strip()))
            else:
                raise DataError(f"{text[:80]!r} is neither a file nor a USER:ITEM pair")
        predicted = self.predict_ratings(run, pairs)
        ratings: RatingsInputs = run.inputs
        rows = []
        for (user, item), value in zip(pairs, predicted.tolist()):
            error = None
            if user not in ratings.user_index:
                error = f"unknown user {user[:40]!r}"
            elif item not in ratings.item_index:
                error = f"unknown item {item[:40]!r}"
            title = ratings.titles[ratings.item_index[item]] if item in ratings.item_index else None
            rows.append({"user": user, "item": item, "title": title,
                         "predicted_rating": None if error else value, "error": error})
        table = [("user", lambda r: r["user"]), ("item", lambda r: r["item"]),
                 ("title", lambda r: r["title"] or ""), ("predicted rating", lambda r: f"{r['predicted_rating']:.2f}")]
        return Predictions(["user", "item", "title", "predicted_rating", "error"], rows, table)


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise NeuralabError(f"k must be a positive int; got {k!r}")


def _read_pairs(path: str) -> list[tuple[str, str]]:
    """A file of ``user,item`` rows (more columns, such as a rating, are ignored; a header is skipped)."""
    pairs = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if len(pairs) >= 1_000_000:
                raise DataError(f"{path} has more than 1,000,000 pairs; split it")
            if len(line) > 10_000:
                raise DataError(f"{path} line {number} is longer than 10,000 characters; expected user,item")
            cells = [c.strip() for c in line.replace("::", ",").replace("\t", ",").split(",")]
            if len(cells) < 2 or not cells[0]:
                continue
            if number == 1 and cells[0].lower() in ("user", "user_id", "userid", "uid"):
                continue
            pairs.append((cells[0], cells[1]))
    if not pairs:
        raise DataError(f"{path} has no user,item pairs")
    return pairs
