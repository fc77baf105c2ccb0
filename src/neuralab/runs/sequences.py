"""Sequence tasks in the run layer: forecasting, character language models and word embeddings.

:func:`prepare_sequences` and :func:`make_sequence_inputs` dispatch on ``recipe.task`` to
:mod:`neuralab.runs.forecasting` and :mod:`neuralab.runs.text`. :func:`sequence_figures` runs after training: it
adds each task's figures to ``figures.json`` and its numbers to ``metrics.json``:

- forecasting: the forecasts and their conformal interval against the actuals, and the model's test RMSE and MASE
  in the series' units under ``forecast.model``, beside the baselines scored on the same origins;
- language model: 300 characters sampled with a fixed seed, in ``sample.txt`` and drawn in ``sample.png``;
- embedding: a 2-D PCA map of frequent words, and the nearest neighbours of a few words under ``neighbours``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuralab.data.prepared import PreparedData
from neuralab.errors import NeuralabError
from neuralab.runs.forecasting import SeriesInputs, conformal_halfwidth, model_scores, prepare_forecasting
from neuralab.runs.text import CharInputs, WordInputs, prepare_embedding, prepare_language_model
from neuralab.train.state import atomic_write_text

if TYPE_CHECKING:
    from neuralab.recipes import Recipe
    from neuralab.runs.run import Run

__all__ = ["prepare_sequences", "make_sequence_inputs", "sequence_figures"]

_PREPARE = {"forecasting": prepare_forecasting, "language_model": prepare_language_model,
            "embedding": prepare_embedding}
LEVEL = 0.9  # the nominal coverage of the interval drawn around forecasts
SAMPLE_LENGTH, SAMPLE_TEMPERATURE, SAMPLE_SEED = 300, 0.8, 0
MAP_WORDS, MAP_SKIP, MAP_MIN_LETTERS, NEIGHBOUR_WORDS = 60, 40, 4, 6


def prepare_sequences(recipe: Recipe) -> PreparedData:
    """The recipe's series or text, split in time (reading) order and made ready for the engine."""
    if recipe.task not in _PREPARE:
        raise NeuralabError(f"task {recipe.task!r} is not a sequence task; choose one of {', '.join(_PREPARE)}")
    return _PREPARE[recipe.task](recipe)


def make_sequence_inputs(recipe: Recipe) -> SeriesInputs | CharInputs | WordInputs:
    """The unfitted input pipeline of the recipe's task; its state is loaded from the weights file."""
    if recipe.task == "forecasting":
        return SeriesInputs()
    if recipe.task == "language_model":
        return CharInputs()
    if recipe.task == "embedding":
        return WordInputs(recipe.data.min_count)
    raise NeuralabError(f"task {recipe.task!r} is not a sequence task; choose one of {', '.join(_PREPARE)}")


def sequence_figures(run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> None:
    """Draw the task's figures, list them in ``figures.json`` and add the task's numbers to ``metrics.json``."""
    saved = json.loads((out / "metrics.json").read_text())
    if data.task == "forecasting":
        figures, numbers = _forecast_figures(run, data, saved.get("forecast", {}), out)
    elif data.task == "language_model":
        figures, numbers = _text_figures(run, data, out)
    else:
        figures, numbers = _embedding_figures(run, out)
    listed = json.loads((out / "figures.json").read_text()) if (out / "figures.json").is_file() else []
    new = {f["file"] for f in figures}
    listed = [f for f in listed if f.get("file") not in new] + figures
    atomic_write_text(out / "figures.json", json.dumps(listed, indent=2))
    if numbers:
        metrics.update(numbers)
        saved.update(numbers)
        atomic_write_text(out / "metrics.json", json.dumps(saved, indent=2))


def _forecast_figures(run: Run, data: PreparedData, forecast: dict[str, Any], out: Path
                      ) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The forecast plot and the model-against-baselines chart (test part only); ``train_recipe`` has already put
    the model's scores beside the baselines' in ``metrics.json``."""
    from neuralab.report.sequences import plot_forecast, plot_forecast_scores

    if "test" not in data.splits:
        return [], {}
    _, pred = model_scores(run, data)
    raw = data.raw
    target = raw["values"][:, raw["target"]]
    origins = raw["val_end"] + np.arange(len(pred))  # the test windows' first target steps, in order
    halfwidth = conformal_halfwidth(run, LEVEL)
    horizon = pred.shape[1]
    path = plot_forecast(raw["dates"], target, raw["train_end"], raw["val_end"], origins, pred, halfwidth,
                         out / "forecast.png", column=raw["columns"][raw["target"]], level=LEVEL)
    figures = [{"file": path.name, "title": "Forecasts against the actuals (test)",
                "caption": f"Top: the whole series; validation and test parts shaded. Bottom: the test part with the "
                           f"one-step-ahead forecast from each origin and its {LEVEL:.0%} split-conformal interval "
                           "(from the validation residuals)"
                           + (f", and a few whole {horizon}-step forecasts." if horizon > 1 else ".")}]
    compare = {name: forecast[name] for name in ("model", "linear_ar", "seasonal_naive", "naive")
               if forecast.get(name)}
    path = plot_forecast_scores(compare, out / "forecast_scores.png")
    figures.append({"file": path.name, "title": "Model against baselines (test)",
                    "caption": "RMSE in the series' units and MASE (below 1 beats the seasonal naive forecast "
                               "in-sample) over the same test origins. Baselines: the last value (naive), the value "
                               "one season back (seasonal naive) and least squares on the window (linear AR)."})
    return figures, {}


def _text_figures(run: Run, data: PreparedData, out: Path) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """A sample of generated text, saved as ``sample.txt`` and drawn."""
    from neuralab.report.sequences import plot_text_sample

    chars = run.inputs.vocab.chars
    prompt = "\n" if "\n" in chars else data.raw["text"][0]
    text = run.generate(prompt, length=SAMPLE_LENGTH, temperature=SAMPLE_TEMPERATURE, seed=SAMPLE_SEED)
    atomic_write_text(out / "sample.txt", text)
    path = plot_text_sample(text, out / "sample.png", title=f"{SAMPLE_LENGTH} sampled characters")
    caption = (f"Generated after the prompt {prompt!r} at temperature {SAMPLE_TEMPERATURE}, seed {SAMPLE_SEED}; "
               "the text is in sample.txt. More: neuralab sample RUN --prompt \"...\" --temperature 0.8")
    return [{"file": path.name, "title": "A sample of generated text", "caption": caption}], {}


def _embedding_figures(run: Run, out: Path) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """A PCA map of frequent words and a table of nearest neighbours."""
    from neuralab.report.sequences import plot_word_map

    words = run.inputs.vocab.words
    # The most frequent and the shortest words are mostly function words (the, of, and, when...): skip them, unless
    # that leaves too few words to draw.
    chosen = [i for i in range(MAP_SKIP, len(words)) if len(words[i]) >= MAP_MIN_LETTERS][:MAP_WORDS]
    if len(chosen) < MAP_WORDS // 2:
        chosen = list(range(min(len(words), MAP_WORDS)))
    vectors = run.model.vectors()[chosen].cpu().double().numpy()  # (n, D), unit rows
    centred = vectors - vectors.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T if len(chosen) > 1 else np.zeros((len(chosen), 2))
    path = plot_word_map([words[i] for i in chosen], coords, out / "word_map.png",
                         title=f"Word vectors of {len(chosen)} frequent words (PCA)")
    k = min(8, len(words) - 1)
    queries = [i for i in chosen if len(words[i]) > MAP_MIN_LETTERS][:NEIGHBOUR_WORDS]
    neighbours = {words[i]: [[w, round(s, 4)] for w, s in run.similar(words[i], k=k)] for i in queries} if k else {}
    caption = (f"{len(chosen)} frequent words, from rank {chosen[0] + 1} to {chosen[-1] + 1} (the most frequent and "
               "the shortest are mostly function words), placed by the first two principal components of their unit "
               "vectors: words used in similar contexts lie close together. The nearest neighbours of a few are in "
               "metrics.json under 'neighbours'.")
    return [{"file": path.name, "title": "A map of word vectors", "caption": caption}], {"neighbours": neighbours}
