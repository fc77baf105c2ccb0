"""Text corpora for language models: loading, Gutenberg clean-up, character and word vocabularies, training pairs.

Characters (char-RNN, nanoGPT): :class:`CharVocab` maps each distinct character to an id, :func:`char_splits` holds
out the last part of the text and :func:`char_windows` makes (input, next-character) blocks.

Words (word2vec: T. Mikolov, I. Sutskever, K. Chen, G. Corrado and J. Dean, Distributed Representations of Words
and Phrases and their Compositionality, NeurIPS 2013): :func:`tokenize_words`, :class:`WordVocab`,
:func:`subsample` of frequent words and :func:`skipgram_pairs` with word2vec's shrinking window.

Vocabularies save as ``dict[str, torch.Tensor]`` only, so they fit in a safetensors file beside the model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from neuralab.data.registry import DATASETS, dataset_info, fetch, sha256_file
from neuralab.errors import DataError, did_you_mean

__all__ = [
    "CharVocab",
    "WordVocab",
    "char_splits",
    "char_windows",
    "load_text",
    "skipgram_pairs",
    "strip_gutenberg",
    "subsample",
    "tokenize_words",
]

_TEXT_SETS = ("tinyshakespeare", "plato-republic")
_START = re.compile(r"^\*{3}\s*START OF (?:THE |THIS )?PROJECT GUTENBERG E-?BOOK.*$|^\*END\*THE SMALL PRINT.*$",
                    re.IGNORECASE | re.MULTILINE)
# The end marker, or the "End of the Project Gutenberg EBook of ..." line that usually comes just before it.
_END = re.compile(r"^\*{3}\s*END OF (?:THE |THIS )?PROJECT GUTENBERG E-?BOOK|^End of (?:the )?Project Gutenberg",
                  re.IGNORECASE | re.MULTILINE)
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")  # letters, with apostrophes inside: don't, o'er


def load_text(name_or_path: str | Path, *, data_dir: str | Path | None = None) -> tuple[str, dict[str, str]]:
    """Read a registered corpus or a UTF-8 text file.

    Parameters
    ----------
    name_or_path : str or Path
        ``"tinyshakespeare"`` or ``"plato-republic"`` (fetched through :func:`~neuralab.data.registry.fetch`), or
        the path of a text file.
    data_dir : str or Path, optional
        A folder searched first for a registered corpus.

    Returns
    -------
    text : str
        The whole file, with Windows line ends turned into ``"\\n"`` and any UTF-8 byte-order mark dropped.
    files : dict of str to str
        ``filename -> sha256`` of the file read.

    Raises
    ------
    DataError
        For a missing, empty, binary or non-UTF-8 file.
    """
    if isinstance(name_or_path, str) and name_or_path in DATASETS:
        info = dataset_info(name_or_path)
        if len(info.files) != 1:
            raise DataError(f"dataset {name_or_path!r} has {len(info.files)} files; load_text reads a one-file "
                            f"corpus: {', '.join(_TEXT_SETS)}")
        path = fetch(name_or_path, info.files[0].filename, data_dir=data_dir)
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise DataError(f"{str(name_or_path)!r} is neither a registered corpus"
                            f"{did_you_mean(str(name_or_path), _TEXT_SETS)} ({', '.join(_TEXT_SETS)}) nor an "
                            "existing file; fix the name or the path")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if not data:
        raise DataError(f"{path} is empty; expected a UTF-8 text file")
    if (nul := data.find(b"\x00")) >= 0:
        raise DataError(f"{path} holds NUL bytes (the first at offset {nul}): it is binary or UTF-16, not UTF-8 "
                        "text; convert it to UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path} is not UTF-8: byte {data[e.start]:#04x} at offset {e.start} (line {line}) "
                        "cannot be decoded; convert the file, e.g. iconv -f latin1 -t utf-8") from None
    return text.replace("\r\n", "\n"), {path.name: sha256_file(path)}


def strip_gutenberg(text: str) -> str:
    """Drop a Project Gutenberg header and footer, keeping the book.

    Everything up to and including the ``*** START OF THE/THIS PROJECT GUTENBERG EBOOK ... ***`` line (or, in old
    files, the ``*END*THE SMALL PRINT! ...`` line) goes, and so does everything from the ``*** END OF ...`` line
    (or the ``End of the Project Gutenberg EBook of ...`` line just before it) on. Surrounding whitespace is
    stripped. Text without the markers comes back unchanged.
    """
    start = _START.search(text)
    begin = start.end() if start else 0
    end = _END.search(text, begin)
    if start is None and end is None:
        return text
    return text[begin: end.start() if end else len(text)].strip()


class CharVocab:
    """A character vocabulary: the sorted distinct characters of a text, ids ``0 .. len - 1``.

    Examples
    --------
    >>> vocab = CharVocab().fit("hello")
    >>> vocab.encode("hole").tolist(), vocab.decode([3, 1])
    ([1, 3, 2, 0], 'oh')
    """

    def __init__(self) -> None:
        self._code_points = np.zeros(0, dtype=np.int64)  # sorted Unicode code points; the index is the id

    @property
    def chars(self) -> list[str]:
        """The characters, in id order."""
        return [chr(c) for c in self._code_points]

    def __len__(self) -> int:
        return len(self._code_points)

    def fit(self, text: str) -> CharVocab:
        """Take the sorted distinct characters of ``text``; return ``self``."""
        if not text:
            raise DataError("CharVocab.fit needs a non-empty text")
        self._code_points = np.unique(_code_points(text))
        return self

    def encode(self, text: str) -> np.ndarray:
        """Ids of the characters of ``text``, int64 of shape (len(text),).

        Raises
        ------
        DataError
            Listing the characters that are not in the vocabulary.
        """
        self._check_fitted()
        points = _code_points(text)
        ids = np.searchsorted(self._code_points, points)
        known = self._code_points[np.minimum(ids, len(self) - 1)] == points
        if not known.all():
            unknown = ", ".join(repr(chr(c)) for c in np.unique(points[~known]))
            raise DataError(f"characters not in the vocabulary of {len(self)}: {unknown}; fit the vocabulary on a "
                            "text that contains them, or remove them from the input")
        return ids.astype(np.int64)

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """The text of a sequence of ids."""
        self._check_fitted()
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray | torch.Tensor) else ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise DataError(f"ids must be in 0..{len(self) - 1}; got values from {ids.min()} to {ids.max()}")
        return self._code_points[ids.ravel()].astype("<u4").tobytes().decode("utf-32-le")

    def state_dict(self) -> dict[str, torch.Tensor]:
        """``{"code_points": int64 tensor}``: safetensors-compatible."""
        return {"code_points": torch.from_numpy(self._code_points.copy())}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict`."""
        if "code_points" not in state:
            raise DataError(f"a CharVocab state needs the key 'code_points'; got keys {sorted(state)}")
        points = np.asarray(state["code_points"], dtype=np.int64)
        if points.ndim != 1 or len(points) == 0 or np.any(np.diff(points) <= 0) or points[0] < 0:
            raise DataError("code_points must be a non-empty 1-D tensor of increasing code points")
        self._code_points = points.copy()

    def _check_fitted(self) -> None:
        if not len(self):
            raise DataError("the CharVocab is empty; call fit(text) or load_state_dict(...) first")


def _code_points(text: str) -> np.ndarray:
    """The Unicode code points of ``text`` as int64, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)


def char_splits(ids: np.ndarray, val: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split a sequence contiguously: the first ``1 - val`` for training, the last ``val`` for validation.

    As nanoGPT does for Shakespeare: ``int((1 - val) * len(ids))`` ids go to training.
    """
    if isinstance(val, bool) or not isinstance(val, int | float) or not 0 <= val < 1:
        raise DataError(f"val must be a fraction in [0, 1); got {val!r}")
    ids = np.asarray(ids)
    train_end = int((1 - val) * len(ids))
    if train_end < 1:
        raise DataError(f"a sequence of {len(ids)} ids leaves none for training with val={val}")
    return ids[:train_end], ids[train_end:]


def char_windows(ids: np.ndarray, block_size: int, *, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of ``block_size`` ids and their targets, the same blocks shifted by one.

    Block ``i`` starts at ``i * stride``: ``x[i] = ids[s : s + block_size]``, ``y[i] = ids[s + 1 : s + block_size
    + 1]``. The arrays are copies: with ``stride=1`` on a 1 MB corpus and ``block_size=256`` they take 4 GB, so
    for dense coverage sample random offsets per batch instead (as nanoGPT does).

    Parameters
    ----------
    ids : np.ndarray
        Shape (L,).
    block_size : int
    stride : int, optional
        Step between block starts; by default ``block_size`` (blocks do not overlap).

    Returns
    -------
    x, y : np.ndarray
        int64 of shape (N, block_size), ``N = (L - block_size - 1) // stride + 1``.
    """
    ids = np.asarray(ids)
    stride = block_size if stride is None else stride
    for arg, value in (("block_size", block_size), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise DataError(f"{arg} must be a positive int; got {value!r}")
    if ids.ndim != 1 or len(ids) < block_size + 1:
        raise DataError(f"the text has {len(ids)} ids; block_size {block_size} needs at least {block_size + 1} "
                        "(inputs plus one target); lower block_size")
    x = sliding_window_view(ids[:-1], block_size)[::stride]
    y = sliding_window_view(ids[1:], block_size)[::stride]
    return np.ascontiguousarray(x, dtype=np.int64), np.ascontiguousarray(y, dtype=np.int64)


def tokenize_words(text: str) -> list[str]:
    """Lower-case words: runs of letters, apostrophes inside kept (``"o'er"``, ``"don't"``), U+2019 read as ``'``."""
    return [w.replace("\u2019", "'") for w in _WORD.findall(text.lower())]


class WordVocab:
    """A word vocabulary, most frequent first (ties alphabetical).

    Parameters
    ----------
    min_count : int, default 5
        Words seen fewer times are dropped (word2vec's default).
    max_size : int, optional
        Keep at most this many words, the most frequent.

    Attributes
    ----------
    words : list of str
        The words in id order.
    counts : np.ndarray
        int64 count of each word in the fitted tokens.
    """

    def __init__(self, min_count: int = 5, max_size: int | None = None) -> None:
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise DataError(f"min_count must be a positive int; got {min_count!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
            raise DataError(f"max_size must be a positive int or None; got {max_size!r}")
        self.min_count = min_count
        self.max_size = max_size
        self.words: list[str] = []
        self.counts = np.zeros(0, dtype=np.int64)
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def fit(self, tokens: Iterable[str]) -> WordVocab:
        """Count ``tokens`` and keep the words seen at least ``min_count`` times; return ``self``."""
        counter = Counter(tokens)
        kept = sorted(((w, c) for w, c in counter.items() if c >= self.min_count), key=lambda wc: (-wc[1], wc[0]))
        if not kept:
            raise DataError(f"no word occurs at least min_count={self.min_count} times among {sum(counter.values())} "
                            "tokens; lower min_count or use more text")
        kept = kept[: self.max_size]
        self._set([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64))
        return self

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """int64 ids of the tokens that are in the vocabulary; the others are dropped."""
        index = self._index
        return np.fromiter((index[t] for t in tokens if t in index), dtype=np.int64)

    def index(self, word: str) -> int:
        """The id of ``word``, or a DataError suggesting the closest word."""
        if word not in self._index:
            raise DataError(f"{word!r} is not in the vocabulary of {len(self)} words{did_you_mean(word, self.words)}"
                            f"; words seen fewer than min_count={self.min_count} times are dropped")
        return self._index[word]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only: the words as concatenated UTF-8 bytes with offsets, the counts and the settings."""
        encoded = [w.encode("utf-8") for w in self.words]
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])]).astype(np.int64)
        return {
            "word_bytes": torch.from_numpy(np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()),
            "word_offsets": torch.from_numpy(offsets),
            "counts": torch.from_numpy(self.counts.copy()),
            "min_count": torch.tensor(self.min_count, dtype=torch.int64),
            "max_size": torch.tensor(-1 if self.max_size is None else self.max_size, dtype=torch.int64),
        }

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict`."""
        missing = {"word_bytes", "word_offsets", "counts", "min_count", "max_size"} - set(state)
        if missing:
            raise DataError(f"a WordVocab state lacks the keys {sorted(missing)}; got keys {sorted(state)}")
        data = bytes(np.asarray(state["word_bytes"], dtype=np.uint8))
        offsets = np.asarray(state["word_offsets"], dtype=np.int64)
        counts = np.asarray(state["counts"], dtype=np.int64)
        if len(offsets) != len(counts) + 1 or offsets[-1] != len(data):
            raise DataError(f"inconsistent WordVocab state: {len(offsets)} offsets, {len(counts)} counts and "
                            f"{len(data)} bytes; expected counts + 1 offsets ending at the byte count")
        self.min_count = int(state["min_count"])
        self.max_size = None if int(state["max_size"]) < 0 else int(state["max_size"])
        self._set([data[a:b].decode("utf-8") for a, b in pairwise(offsets)], counts.copy())

    def _set(self, words: list[str], counts: np.ndarray) -> None:
        self.words, self.counts = words, counts
        self._index = {w: i for i, w in enumerate(words)}


def subsample(ids: np.ndarray, counts: np.ndarray, t: float = 1e-5, *, rng: np.random.Generator) -> np.ndarray:
    """Randomly drop frequent words, as word2vec does.

    Word ``w`` with frequency ``f(w) = counts[w] / counts.sum()`` is kept with probability
    ``min(1, sqrt(t / f(w)) + t / f(w))``: the formula of the word2vec C code (the paper writes the discard
    probability as ``1 - sqrt(t / f(w))``). Words rarer than about ``t`` are always kept.

    Parameters
    ----------
    ids : np.ndarray
        Word ids, shape (L,).
    counts : np.ndarray
        Count of each word id (:attr:`WordVocab.counts`).
    t : float, default 1e-5
        The threshold; 1e-3 to 1e-5 work well for large corpora (word2vec's default is 1e-3).
    rng : np.random.Generator

    Returns
    -------
    np.ndarray
        The kept ids, in their original order.
    """
    ids, counts = np.asarray(ids, dtype=np.int64), np.asarray(counts, dtype=np.float64)
    if not t > 0:
        raise DataError(f"t must be a positive threshold; got {t!r}")
    if ids.size and (ids.min() < 0 or ids.max() >= len(counts)):
        raise DataError(f"ids must be in 0..{len(counts) - 1} (one count per word); got values up to {ids.max()}")
    if np.any(counts <= 0):
        raise DataError("every count must be positive")
    ratio = t / (counts / counts.sum())
    keep_prob = np.minimum(1.0, np.sqrt(ratio) + ratio)
    return ids[rng.random(len(ids)) < keep_prob[ids]]


def skipgram_pairs(ids: np.ndarray, window: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All (center, context) skip-gram pairs with word2vec's dynamic window.

    Each position draws its own window ``b ~ U{1..window}`` (so nearer words are used more often) and pairs with
    every word at most ``b`` positions away, on both sides.

    Returns
    -------
    center, context : np.ndarray
        int64 of equal length.
    """
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise DataError(f"window must be a positive int; got {window!r}")
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    reach = rng.integers(1, window + 1, size=n)  # b for each center position
    centers, contexts = [], []
    for d in range(1, min(window, n - 1) + 1):
        right = np.flatnonzero(reach[: n - d] >= d)  # centers i whose context i + d is within reach
        left = np.flatnonzero(reach[d:] >= d) + d  # centers i whose context i - d is within reach
        centers += [ids[right], ids[left]]
        contexts += [ids[right + d], ids[left - d]]
    if not centers:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(centers), np.concatenate(contexts)
