"""Text for two tasks: a character-level language model and skip-gram word vectors, each with its input pipeline.

Both read a registered corpus or a UTF-8 file, drop a Project Gutenberg header and footer, and split the text in
reading order: training first, then the validation part, then the test tail (``data.val`` and ``data.test`` are
fractions of the text). nanoGPT holds out only the last 10% of tiny Shakespeare, for validation;
``shakespeare-char-lstm`` does the same with ``test: 0``.

- **Language model.** :class:`CharInputs` holds the character vocabulary. Training blocks of ``data.block_size``
  characters start every ``block_size // 2`` characters: each character is then read twice, once early and once
  late in a block, for twice the windows at no cost in text. Validation and test blocks do not overlap, so every
  character is scored once; its context is what precedes it in its own block, which makes the held-out loss a
  little pessimistic for the first characters of each block.
- **Word embeddings.** :class:`WordInputs` holds the word vocabulary and its training counts, from which the
  model's negative-sampling distribution is set (:meth:`WordInputs.init_model`). Frequent words are subsampled
  and skip-gram pairs drawn once, with the run's seed, rather than anew every epoch as word2vec does: the pairs
  are then plain tensors on the engine's fast path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import numpy as np
import torch
from pydantic import Field

from neuralab.data.prepared import PreparedData
from neuralab.data.text import (
    CharVocab,
    WordVocab,
    char_windows,
    load_text,
    skipgram_pairs,
    strip_gutenberg,
    subsample,
    tokenize_words,
)
from neuralab.data.timeseries import split_series
from neuralab.errors import DataError
from neuralab.runs.recipe import DataConfig

if TYPE_CHECKING:
    from neuralab.runs.recipe import Recipe
    from neuralab.runs.run import Run

__all__ = ["TextData", "WordData", "CharInputs", "WordInputs", "prepare_language_model", "prepare_embedding",
           "generate_text", "similar_words", "analogy_words"]


class TextData(DataConfig):
    """A text: a registered corpus (``tiny-shakespeare``...) or a UTF-8 file at ``path``, split in reading order.
    A language model reads it in blocks of ``block_size`` characters."""

    path: str | None = None
    block_size: int = Field(128, ge=1)


class WordData(DataConfig):
    """A text read as words: the vocabulary keeps words seen ``min_count`` times in the training part; skip-gram
    pairs reach ``context_window`` words either side; frequent words are subsampled at threshold ``subsample``
    (0 turns it off)."""

    path: str | None = None
    min_count: int = Field(5, ge=1)
    context_window: int = Field(5, ge=1)
    subsample: float = Field(1e-3, ge=0)

_PARTS = ("train", "val", "test")


class CharInputs:
    """The input pipeline of a language model: text ↔ character ids. Its state is the vocabulary's."""

    def __init__(self) -> None:
        self.vocab = CharVocab()

    def fit(self, text: str) -> Self:
        self.vocab.fit(text)
        return self

    def encode(self, text: str) -> torch.Tensor:
        """The ids ``(len(text),)`` of ``text``; a DataError lists the characters outside the vocabulary."""
        return torch.from_numpy(self.vocab.encode(text))

    def transform(self, raw: str | np.ndarray, y: Any = None) -> tuple[torch.Tensor, ...]:
        """``(x,)`` or ``(x, y)``: a text becomes one row of ids ``(1, L)``; id blocks ``(N, T)`` pass through."""
        x = self.encode(raw) if isinstance(raw, str) else torch.from_numpy(np.array(raw, dtype=np.int64))
        x = x.unsqueeze(0) if x.ndim == 1 else x
        return (x,) if y is None else (x, torch.from_numpy(np.array(y, dtype=np.int64)))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.vocab.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.vocab.load_state_dict(state)


class WordInputs:
    """The input pipeline of word embeddings: the vocabulary, with each word's count in the training text."""

    def __init__(self, min_count: int = 5) -> None:
        self.vocab = WordVocab(min_count=min_count)

    def fit(self, tokens: list[str]) -> Self:
        self.vocab.fit(tokens)
        return self

    def transform(self, raw: list[str], y: Any = None) -> tuple[torch.Tensor, ...]:
        """``(ids,)`` of the known words of ``raw`` (the others are dropped), or ``(ids, y)``."""
        x = torch.from_numpy(self.vocab.encode(raw))
        return (x,) if y is None else (x, torch.from_numpy(np.array(y, dtype=np.int64)))

    def init_model(self, model: torch.nn.Module) -> None:
        """Set a skip-gram model's noise distribution from the training counts (before training; it is a buffer,
        so it is saved with the weights)."""
        model.set_noise(torch.as_tensor(self.vocab.counts))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.vocab.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.vocab.load_state_dict(state)


def _read(recipe: Recipe) -> tuple[str, dict[str, str]]:
    """The recipe's corpus without a Gutenberg header and footer, and its files' checksums."""
    cfg = recipe.data
    text, files = load_text(cfg.path or cfg.name, data_dir=cfg.data_dir)
    text = strip_gutenberg(text)
    if not text.strip():
        raise DataError(f"{cfg.path or cfg.name} holds no text once the Project Gutenberg header and footer are "
                        "dropped")
    return text, files


def _bounds(n: int, recipe: Recipe) -> dict[str, slice]:
    """Train, validation and test slices of ``n`` items in reading order; empty parts are left out."""
    train_end, val_end = split_series(n, val=recipe.data.val, test=recipe.data.test)
    parts = dict(zip(_PARTS, (slice(0, train_end), slice(train_end, val_end), slice(val_end, n))))
    return {name: part for name, part in parts.items() if part.stop > part.start}


def prepare_language_model(recipe: Recipe) -> PreparedData:
    """Character blocks of the recipe's text: overlapping by half for training, disjoint for validation and test."""
    text, files = _read(recipe)
    # The vocabulary is the alphabet of the whole text, not a statistic fitted to it: a character seen only in the
    # held-out tail would otherwise be an error there, and knowing that it exists leaks nothing about the text.
    inputs = CharInputs().fit(text)
    ids = inputs.vocab.encode(text)
    block = recipe.data.block_size
    splits, targets = {}, {}
    for name, part in _bounds(len(ids), recipe).items():
        if part.stop - part.start <= block:
            if name == "train":
                raise DataError(f"the training text has {part.stop - part.start} characters; block_size {block} "
                                f"needs at least {block + 1}; lower data.block_size")
            continue  # a held-out part too short for one block
        x, y = char_windows(ids[part], block, stride=max(1, block // 2) if name == "train" else block)
        splits[name], targets[name] = inputs.transform(x, y), y
    return PreparedData(splits, targets, inputs, None, "language_model", {"vocab_size": len(inputs.vocab)},
                        files=files, raw={"text": text})


def prepare_embedding(recipe: Recipe) -> PreparedData:
    """Skip-gram (center, context) pairs of the recipe's corpus, frequent words subsampled."""
    cfg = recipe.data
    text, files = _read(recipe)
    tokens = tokenize_words(text)
    if not tokens:
        raise DataError(f"{cfg.path or cfg.name} holds no words")
    parts = _bounds(len(tokens), recipe)
    inputs = WordInputs(cfg.min_count).fit(tokens[parts["train"]])  # counts of the training part only
    rng = np.random.default_rng(recipe.trainer.seed)
    splits, targets = {}, {}
    for name, part in parts.items():
        ids = inputs.vocab.encode(tokens[part])
        if cfg.subsample > 0:  # 0 turns subsampling off
            ids = subsample(ids, inputs.vocab.counts, t=cfg.subsample, rng=rng)
        center, context = skipgram_pairs(ids, cfg.context_window, rng)
        if len(center) == 0:
            if name == "train":
                raise DataError(f"the training text gives no skip-gram pairs ({len(ids)} known words after "
                                "subsampling); use more text, or lower data.min_count or data.subsample")
            continue
        splits[name] = (torch.from_numpy(center), torch.from_numpy(context))
        targets[name] = context
    return PreparedData(splits, targets, inputs, None, "embedding", {"vocab_size": len(inputs.vocab)},
                        files=files)


def generate_text(run: Run, prompt: str, length: int, temperature: float, seed: int) -> str:
    """The prompt followed by ``length`` sampled characters (see ``Run.generate``)."""
    if not isinstance(prompt, str) or not prompt:
        raise DataError(f"prompt must be a non-empty string, e.g. 'ROMEO:'; got {prompt!r}")
    unknown = sorted(set(prompt) - set(run.inputs.vocab.chars))
    if unknown:
        raise DataError(f"prompt {prompt!r} has characters outside the run's vocabulary of {len(run.inputs.vocab)}: "
                        f"{', '.join(map(repr, unknown))}; remove or replace them")
    ids = run.inputs.encode(prompt)
    device = next(run.model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    out = run.model.generate(ids, length, temperature=temperature, generator=generator)
    return run.inputs.vocab.decode(out.cpu().numpy())


def _indices(run: Run, words: tuple[str, ...]) -> list[int]:
    """Word ids; a DataError with the closest word for an unknown one."""
    return [run.inputs.vocab.index(w.lower()) for w in words]


def _named(run: Run, result: tuple[torch.Tensor, torch.Tensor]) -> list[tuple[str, float]]:
    words = run.inputs.vocab.words
    return [(words[i], float(s)) for i, s in zip(result[0].tolist(), result[1].tolist())]


def similar_words(run: Run, word: str, k: int) -> list[tuple[str, float]]:
    """The ``k`` nearest words to ``word`` by cosine similarity (see ``Run.similar``)."""
    (index,) = _indices(run, (word,))
    return _named(run, run.model.most_similar(index, k=k))


def analogy_words(run: Run, a: str, b: str, c: str, k: int) -> list[tuple[str, float]]:
    """Answers to "``a`` is to ``b`` as ``c`` is to ?" (see ``Run.analogy``)."""
    ia, ib, ic = _indices(run, (a, b, c))
    return _named(run, run.model.analogy(ia, ib, ic, k=k))
