"""Tests for neuralab.data.text: loading corpora, Gutenberg clean-up, vocabularies, windows and skip-gram pairs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralab.data.registry import DATASETS, sha256_file
from neuralab.data.text import (
    CharVocab,
    WordVocab,
    char_splits,
    char_windows,
    load_text,
    skipgram_pairs,
    strip_gutenberg,
    subsample,
    tokenize_words,
)
from neuralab.errors import DataError

GUTENBERG = """The Project Gutenberg EBook of Tiny, by Nobody

This eBook is for the use of anyone anywhere at no cost.

*** START OF THIS PROJECT GUTENBERG EBOOK TINY ***

SOCRATES: Justice is the interest of the stronger?

End of the Project Gutenberg EBook of Tiny, by Nobody

*** END OF THIS PROJECT GUTENBERG EBOOK TINY ***

1.E. Unless you have removed all references to Project Gutenberg: licence text.
"""


# ----------------------------------------------------------------------------------------------------------- loading


def test_load_text_reads_utf8_normalises_line_ends_and_hashes(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffcaf\u00e9\r\nbar\n".encode())
    text, files = load_text(path)
    assert text == "caf\u00e9\nbar\n" and files == {"t.txt": sha256_file(path)}


def test_load_text_rejects_empty_binary_and_non_utf8_files(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bin.dat").write_bytes(b"abc\x00\x01")
    (tmp_path / "latin.txt").write_bytes("ok\ncaf\u00e9".encode("latin-1"))
    with pytest.raises(DataError, match="is empty"):
        load_text(tmp_path / "empty.txt")
    with pytest.raises(DataError, match=r"NUL bytes .*offset 3.*binary"):
        load_text(tmp_path / "bin.dat")
    with pytest.raises(DataError, match=r"not UTF-8: byte 0xe9 at offset 6 \(line 2\)"):
        load_text(tmp_path / "latin.txt")
    with pytest.raises(DataError, match=r"neither a registered corpus \(did you mean 'tinyshakespeare'\?\)"):
        load_text("tinyshakespear")


def test_strip_gutenberg_keeps_the_book_only() -> None:
    assert strip_gutenberg(GUTENBERG) == "SOCRATES: Justice is the interest of the stronger?"
    assert strip_gutenberg("no markers here\n") == "no markers here\n"
    old = "legal\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\nBook text.\n"
    assert strip_gutenberg(old) == "Book text."


# ---------------------------------------------------------------------------------------------------- characters


def test_char_vocab_round_trips_and_sorts_characters() -> None:
    text = "hello, w\u00f6rld!\n"
    vocab = CharVocab().fit(text)
    assert vocab.chars == sorted(set(text)) and len(vocab) == len(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and vocab.decode(ids) == text and vocab.decode(torch.from_numpy(ids)) == text


def test_char_vocab_lists_every_unknown_character() -> None:
    vocab = CharVocab().fit("abc")
    with pytest.raises(DataError, match=r"not in the vocabulary of 3: '\\t', 'z', '\u00e9'"):
        vocab.encode("a\u00e9b\tzz")
    with pytest.raises(DataError, match=r"ids must be in 0..2; got values from 0 to 5"):
        vocab.decode([0, 5])
    with pytest.raises(DataError, match="call fit"):
        CharVocab().encode("a")


def test_char_vocab_state_dict_round_trips_through_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    vocab = CharVocab().fit("The quick \u00e9 fox\n")
    save_file(vocab.state_dict(), str(tmp_path / "vocab.safetensors"))
    restored = CharVocab()
    restored.load_state_dict(load_file(str(tmp_path / "vocab.safetensors")))
    assert restored.chars == vocab.chars


def test_char_splits_hold_out_the_contiguous_tail() -> None:
    train, val = char_splits(np.arange(100), val=0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    with pytest.raises(DataError, match=r"val must be a fraction in \[0, 1\); got 1.0"):
        char_splits(np.arange(10), val=1.0)


def test_char_windows_targets_are_inputs_shifted_by_one() -> None:
    ids = np.arange(11)
    x, y = char_windows(ids, block_size=4)
    assert x.dtype == y.dtype == np.int64 and x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    np.testing.assert_array_equal(y, x + 1)
    x1, y1 = char_windows(ids, block_size=4, stride=1)
    assert x1.shape == (7, 4) and y1[-1].tolist() == [7, 8, 9, 10]
    with pytest.raises(DataError, match="the text has 4 ids; block_size 4 needs at least 5"):
        char_windows(np.arange(4), block_size=4)


# --------------------------------------------------------------------------------------------------------- words


def test_tokenize_words_lowercases_and_keeps_inner_apostrophes() -> None:
    assert tokenize_words("O'er the hills, DON'T stop -- 'tis 42 caf\u00e9s\u2019 end") == [
        "o'er", "the", "hills", "don't", "stop", "tis", "caf\u00e9s", "end"]


def test_word_vocab_applies_min_count_and_max_size_most_frequent_first() -> None:
    tokens = ["b"] * 3 + ["a"] * 3 + ["c"] * 5 + ["rare"]
    vocab = WordVocab(min_count=2).fit(tokens)
    assert vocab.words == ["c", "a", "b"] and vocab.counts.tolist() == [5, 3, 3] and "rare" not in vocab
    assert vocab.encode(["a", "rare", "c"]).tolist() == [1, 0]
    assert WordVocab(min_count=1, max_size=2).fit(tokens).words == ["c", "a"]
    with pytest.raises(DataError, match="no word occurs at least min_count=9 times among 12 tokens"):
        WordVocab(min_count=9).fit(tokens)


def test_word_vocab_index_suggests_close_words() -> None:
    vocab = WordVocab(min_count=1).fit(["justice", "justice", "city", "soul"])
    assert vocab.index("city") == 1
    with pytest.raises(DataError, match=r"'justise' is not in the vocabulary of 3 words \(did you mean 'justice'\?\)"):
        vocab.index("justise")


def test_word_vocab_state_dict_is_tensors_only_and_round_trips(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    vocab = WordVocab(min_count=1, max_size=10).fit(["caf\u00e9", "o'er", "o'er", "x"])
    state = vocab.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    save_file(state, str(tmp_path / "words.safetensors"))
    restored = WordVocab()
    restored.load_state_dict(load_file(str(tmp_path / "words.safetensors")))
    assert restored.words == vocab.words and restored.counts.tolist() == [2, 1, 1]
    assert restored.min_count == 1 and restored.max_size == 10 and restored.index("caf\u00e9") == 1


def test_subsample_keeps_rare_words_and_drops_frequent_ones() -> None:
    counts = np.array([10_000, 10, 10])  # f = 0.998, 0.000998, 0.000998
    ids = np.concatenate([np.zeros(10_000, dtype=np.int64), np.ones(10, dtype=np.int64), np.full(10, 2)])
    kept = subsample(ids, counts, t=1e-3, rng=np.random.default_rng(0))
    # Frequent word: keep probability sqrt(t/f) + t/f = 0.0327; rare words: t/f > 1, always kept.
    assert (kept == 1).sum() == 10 and (kept == 2).sum() == 10
    assert 0.02 < (kept == 0).sum() / 10_000 < 0.045


def test_skipgram_pairs_stay_within_the_window_and_cover_both_sides() -> None:
    n, window = 200, 3
    center, context = skipgram_pairs(np.arange(n), window, np.random.default_rng(0))
    offsets = context - center
    assert center.dtype == context.dtype == np.int64
    assert np.all((np.abs(offsets) >= 1) & (np.abs(offsets) <= window))
    for c in range(window, n - window):  # away from the edges, each center's offsets are -b..-1, 1..b
        mine = sorted(offsets[center == c].tolist())
        b = max(mine)
        assert mine == [*range(-b, 0), *range(1, b + 1)]
    # word2vec's shrinking window: offset d is used with probability (window - d + 1) / window.
    share = [np.mean(np.abs(offsets) == d) for d in (1, 2, 3)]
    assert share[0] > share[1] > share[2]
    c1, x1 = skipgram_pairs(np.arange(5), 1, np.random.default_rng(0))
    assert sorted(zip(c1.tolist(), x1.tolist(), strict=True)) == sorted(
        [(i, i + 1) for i in range(4)] + [(i + 1, i) for i in range(4)])


# ------------------------------------------------------------------------------------------------------- real mirror


def _mirror() -> Path | None:
    """The real data mirror when it holds text/: $NEURALAB_DATA, else shared/data beside the repository."""
    for candidate in (os.environ.get("NEURALAB_DATA"), Path(__file__).resolve().parents[3] / "shared" / "data"):
        if candidate and (Path(candidate) / "text").is_dir():
            return Path(candidate)
    return None


MIRROR = _mirror()
needs_mirror = pytest.mark.skipif(MIRROR is None,
                                  reason="the real data mirror (shared/data or $NEURALAB_DATA) is absent")


@needs_mirror
def test_tinyshakespeare_has_65_distinct_characters() -> None:
    text, files = load_text("tinyshakespeare", data_dir=MIRROR)
    vocab = CharVocab().fit(text)
    assert len(text) == 1_115_394 and len(vocab) == 65
    assert files == {"input.txt": DATASETS["tinyshakespeare"].files[0].sha256}
    assert vocab.decode(vocab.encode(text[:1000])) == text[:1000]


@needs_mirror
def test_strip_gutenberg_removes_the_licence_from_the_republic() -> None:
    text, _ = load_text("plato-republic", data_dir=MIRROR)
    book = strip_gutenberg(text)
    assert "Project Gutenberg" in text and "PROJECT GUTENBERG" not in book and "Project Gutenberg" not in book
    # The brief expected "SOCRATES"; Jowett's text only has "Socrates" (the mirror has no upper-case form).
    assert "Socrates, who is the narrator." in book and "THE REPUBLIC" in book[:100]
    assert book.endswith("which we have\nbeen describing.")
    assert len(text) - len(book) > 18_000  # the licence alone is about 18 kB
