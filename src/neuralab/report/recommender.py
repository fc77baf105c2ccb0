"""Figures of a recommender: predicted against true ratings, the error by how much a user has rated, and a map of
the items' learned vectors coloured by genre."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuralab.report._figures import pyplot, save_figure

__all__ = ["plot_predicted_vs_true", "plot_rmse_by_activity", "plot_item_map"]


def plot_predicted_vs_true(true: np.ndarray, predicted: np.ndarray, path: Path, *, levels: int, split: str) -> Path:
    """For each true rating, the distribution of the predicted ones (a violin with its median), beside the
    histograms of both: a model that only learned the mean squeezes every violin to the middle."""
    true, predicted = np.asarray(true), np.asarray(predicted, dtype=np.float64)
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    groups = [predicted[true == level] for level in range(1, levels + 1)]
    shown = [i for i, g in enumerate(groups) if len(g)]
    parts = left.violinplot([groups[i] for i in shown], positions=[i + 1 for i in shown], showmedians=True,
                            widths=0.8)
    for body in parts["bodies"]:
        body.set_alpha(0.45)
    left.plot([1, levels], [1, levels], color="grey", lw=0.8, ls="--", label="perfect")
    left.set(xlabel=f"true rating ({split})", ylabel="predicted rating", title="Predicted against true",
             xticks=range(1, levels + 1), ylim=(0.8, levels + 0.2))
    left.legend(fontsize=8, loc="upper left")
    # Shares of each rating, the predictions rounded to the nearest level: both bar sets sum to 1.
    x = np.arange(1, levels + 1)
    rounded = np.clip(np.rint(predicted), 1, levels)
    share = lambda values: np.array([(values == level).mean() if len(values) else 0.0 for level in x])  # noqa: E731
    right.bar(x - 0.2, share(true), 0.4, label="true", color="#1f77b4")
    right.bar(x + 0.2, share(rounded), 0.4, label="predicted, rounded", color="#d62728")
    right.set(xlabel="rating", ylabel="share of the ratings", title="Distributions", xticks=x)
    right.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_rmse_by_activity(bins: Sequence[dict[str, Any]], path: Path, *, baseline: Sequence[dict[str, Any]] | None
                          = None, split: str = "test") -> Path:
    """RMSE of the held-out ratings by how many training ratings their user has (with the number of users in each
    bar): cold users are where recommenders struggle."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(bins))
    width = 0.4 if baseline else 0.7
    bars = ax.bar(x - (width / 2 if baseline else 0), [b["rmse"] for b in bins], width, label="model",
                  color="#1f77b4")
    if baseline:
        ax.bar(x + width / 2, [b["rmse"] for b in baseline], width, label="global mean", color="#bbbbbb")
        ax.legend(fontsize=8)
    for bar, b in zip(bars, bins):
        ax.annotate(f"{b['users']} users", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                    va="bottom", fontsize=7)
    ax.set_xticks(x, [b["ratings"] for b in bins])
    ax.set(xlabel="training ratings of the user", ylabel=f"{split} RMSE", title="Error by user activity")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_item_map(vectors: np.ndarray, genres: Sequence[str], titles: Sequence[str], counts: np.ndarray,
                  path: Path, *, top_genres: int = 8, labelled: int = 12, min_ratings: int = 20) -> Path:
    """The items' learned vectors projected to 2-D by PCA, coloured by their first genre, for items with at least
    ``min_ratings`` training ratings (the rest are barely trained); the ``labelled`` most rated are named."""
    from sklearn.decomposition import PCA  # lazy: scikit-learn is slow to import

    vectors, counts = np.asarray(vectors, dtype=np.float64), np.asarray(counts)
    if vectors.shape[1] < 2:  # one factor: its values against zero
        vectors = np.pad(vectors, ((0, 0), (0, 2 - vectors.shape[1])))
    keep = np.flatnonzero(counts >= min(min_ratings, counts.max() if len(counts) else 0))
    first = [g.split("|")[0] if g else "none" for g in genres]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 6))
    if len(keep) >= 3:
        points = PCA(n_components=2, random_state=0).fit_transform(vectors[keep])
        common = [g for g, _ in Counter(first[i] for i in keep).most_common(top_genres)]
        colours = plt.get_cmap("tab10")
        for n, genre in enumerate([*common, "other"]):
            chosen = [j for j, i in enumerate(keep) if (first[i] if first[i] in common else "other") == genre]
            if chosen:
                ax.scatter(points[chosen, 0], points[chosen, 1], s=10, alpha=0.6, label=genre,
                           color=colours(n % 10) if genre != "other" else "#bbbbbb")
        for j in np.argsort(-counts[keep])[:labelled]:
            ax.annotate(titles[keep[j]][:32], points[j], fontsize=7, alpha=0.85)
        ax.legend(fontsize=7, markerscale=2, loc="best")
    ax.set(xlabel="first principal component", ylabel="second principal component",
           title=f"Items' learned vectors (PCA), {len(keep)} items with ≥ {min_ratings} ratings")
    fig.tight_layout()
    return save_figure(fig, path)
