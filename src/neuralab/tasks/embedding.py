"""Word embeddings: skip-gram vectors with negative sampling (word2vec), queried by similarity and analogy.

The model's own ``loss(batch)`` is the negative-sampling objective. ``predict`` lists each word's nearest words;
the report maps frequent words with PCA and ``metrics.json`` keeps the nearest neighbours of a few.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from neuralab.data.prepared import PreparedData
from neuralab.errors import DataError, NeuralabError
from neuralab.report.sequences import plot_word_map
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.tasks._common import own_loss
from neuralab.tasks._text import WordData, WordInputs, analogy_words, prepare_embedding, similar_words
from neuralab.tasks.base import Predictions, Task

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["Embedding"]

MAP_WORDS, MAP_SKIP, MAP_MIN_LETTERS, NEIGHBOUR_WORDS = 60, 40, 4, 6


def _map_words(words: list[str]) -> list[int]:
    """Frequent words to draw: the most frequent and the shortest are mostly function words (the, of, and, when...),
    so they are skipped, unless that leaves too few words to draw."""
    chosen = [i for i in range(MAP_SKIP, len(words)) if len(words[i]) >= MAP_MIN_LETTERS][:MAP_WORDS]
    return chosen if len(chosen) >= MAP_WORDS // 2 else list(range(min(len(words), MAP_WORDS)))


@dataclass(frozen=True)
class Embedding(Task):
    """A vector for each word of a text, such that words used alike lie close together."""

    name: str = "embedding"
    summary: str = "a vector for each word of a text (word2vec), queried by similarity and analogy"
    predict_options: tuple[str, ...] = ("k",)
    verbs: tuple[str, ...] = ("similar", "analogy")

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        return WordData

    def own_data(self, path: str) -> dict[str, Any]:
        return {"name": "text", "path": path}

    def loss_note(self, recipe: Recipe) -> str:
        return ("loss is the skip-gram negative-sampling objective per (word, context) pair: the log-loss of telling "
                "the true context word from the noise words; lower is better, but neighbours and analogies are what "
                "count.")

    def prepare(self, recipe: Recipe) -> PreparedData:
        return prepare_embedding(recipe)

    def make_inputs(self, recipe: Recipe) -> WordInputs:
        return WordInputs(recipe.data.min_count)

    def init_model(self, model: torch.nn.Module, data: PreparedData) -> None:
        """The noise distribution of negative sampling, from the training counts."""
        data.inputs.init_model(model)

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        return own_loss(run, split)

    def predict_prepared(self, run: Run, split: Any) -> np.ndarray:
        """The unit vector of each prepared word id."""
        ids = split[0] if isinstance(split, tuple) else split
        return run.model.vectors()[torch.as_tensor(ids)].cpu().numpy()

    def preprocess(self, run: Run, raw: Any) -> Any:
        return run.inputs.transform([raw] if isinstance(raw, str) else list(raw))

    def similar(self, run: Run, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words nearest to ``word`` by cosine similarity, as ``(word, similarity)``, nearest first.

        An unknown word is a DataError suggesting the closest word in the vocabulary.
        """
        return similar_words(run, word, k)

    def analogy(self, run: Run, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
        """Answers to "``a`` is to ``b`` as ``c`` is to ?": the words nearest to ``b − a + c``, best first."""
        return analogy_words(run, a, b, c, k)

    def extra_metrics(self, run: Run, data: PreparedData) -> dict[str, Any]:
        """The nearest neighbours of a few frequent words, under ``neighbours``."""
        words = run.inputs.vocab.words
        k = min(8, len(words) - 1)
        queries = [i for i in _map_words(words) if len(words[i]) > MAP_MIN_LETTERS][:NEIGHBOUR_WORDS]
        return {"neighbours": {words[i]: [[w, round(s, 4)] for w, s in self.similar(run, words[i], k=k)]
                               for i in queries} if k else {}}

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        """A PCA map of frequent words."""
        words = run.inputs.vocab.words
        chosen = _map_words(words)
        vectors = run.model.vectors()[chosen].cpu().double().numpy()  # (n, D), unit rows
        centred = vectors - vectors.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        coords = centred @ vt[:2].T if len(chosen) > 1 else np.zeros((len(chosen), 2))
        path = plot_word_map([words[i] for i in chosen], coords, out / "word_map.png",
                             title=f"Word vectors of {len(chosen)} frequent words (PCA)")
        caption = (f"{len(chosen)} frequent words, from rank {chosen[0] + 1} to {chosen[-1] + 1} (the most frequent "
                   "and the shortest are mostly function words), placed by the first two principal components of "
                   "their unit vectors: words used in similar contexts lie close together. The nearest neighbours of "
                   "a few are in metrics.json under 'neighbours'.")
        return [{"file": path.name, "title": "A map of word vectors", "caption": caption}]

    def predict(self, run: Run, inputs: Sequence[Any], **options: Any) -> Predictions:
        """Each word's nearest words; an unknown word gets its error (with the closest known word) in its row."""
        self.check_options("predict", self.predict_options, options)
        if not inputs:
            raise NeuralabError("give one or more words, e.g. neuralab predict RUN justice")
        k = 5 if options.get("k") is None else options["k"]
        rows = []
        for word in map(str, inputs):
            try:
                near = self.similar(run, word, k=k)
                rows.append({"word": word, "neighbours": " ".join(f"{w}:{s:.3f}" for w, s in near), "error": None})
            except DataError as err:
                rows.append({"word": word, "neighbours": None, "error": str(err)})
        if all(r["error"] for r in rows):
            raise DataError(rows[0]["error"])
        return Predictions(["word", "neighbours", "error"], rows, [("word", lambda r: r["word"]),
                                                                   ("nearest words", lambda r: r["neighbours"])],
                           failed_note="{failed} of {total} words are not in the vocabulary")
