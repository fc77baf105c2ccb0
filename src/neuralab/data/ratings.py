"""Ratings: who rated what, how much and when; MovieLens-100K and the user's own files, with their splits.

A :class:`RatingTable` is four aligned columns: ``user`` and ``item`` (ids as strings, as a file spells them),
``rating`` (an integer from 1 to ``levels``) and ``timestamp`` (or None). :func:`load_ratings` reads a data set
and splits it into training, validation and test tables, and returns the catalogue of items (titles and genres)
beside them. The checks are the same for MovieLens and for a user's file, each a one-line
:class:`~neuralab.errors.DataError` naming the file and row:

- a rating that is not a whole number from 1 to ``levels`` is refused (softmax visible units have one state per
  level; round or rescale the data first);
- a (user, item) pair rated twice is refused by default (``duplicates="error"``); ``"last"`` keeps the latest
  rating (by timestamp, else by position in the file) and ``"first"`` the earliest;
- an empty file, a file with no ratings, and a file over :data:`MAX_RATINGS_BYTES` are refused.

Splits (``split``):

- ``u1`` ... ``u5``, ``ua``, ``ub``: MovieLens-100K's own base/test pairs (5 disjoint 20% test sets; 10 test
  ratings per user);
- ``random``: a seeded random ``test_fraction`` of the ratings;
- ``temporal``: each user's latest ``test_fraction`` of ratings (at least one, for users with two or more), so
  the test asks about the future of every user.

The validation set is then taken from the training part the same way (random, or each user's latest ratings for
``temporal``), ``val_fraction`` of it; it picks the epoch and never sees the test set.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab.data.features import MAX_LINE_CHARS, is_file
from neuralab.data.registry import fetch, sha256_file
from neuralab.errors import DataError, did_you_mean

__all__ = ["MAX_RATINGS_BYTES", "MOVIELENS_SPLITS", "SPLITS", "Catalogue", "RatingData", "RatingTable",
           "load_ratings", "read_ratings_file"]

MOVIELENS = "movielens-100k"
MOVIELENS_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
SPLITS = (*MOVIELENS_SPLITS, "random", "temporal")
MAX_RATINGS_BYTES = 1 << 30  # 1 GiB of text: about 40 million ratings
_COLUMNS = {"user": ("user", "user_id", "userid", "uid"), "item": ("item", "item_id", "itemid", "movie",
            "movie_id", "movieid", "iid"), "rating": ("rating", "score", "stars"),
            "timestamp": ("timestamp", "time", "date", "unix_timestamp")}


@dataclass
class RatingTable:
    """Aligned columns of ratings: ``user`` and ``item`` ids (str), ``rating`` (int64 in 1..levels) and
    ``timestamp`` (int64, or None when the data have no times)."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rating)

    def take(self, index: np.ndarray) -> RatingTable:
        """The rows at ``index`` (an integer or boolean array)."""
        return RatingTable(self.user[index], self.item[index], self.rating[index],
                           None if self.timestamp is None else self.timestamp[index])

    @staticmethod
    def concat(tables: list[RatingTable]) -> RatingTable:
        """The rows of several tables, in order."""
        times = None if any(t.timestamp is None for t in tables) else np.concatenate([t.timestamp for t in tables])
        return RatingTable(np.concatenate([t.user for t in tables]), np.concatenate([t.item for t in tables]),
                           np.concatenate([t.rating for t in tables]), times)


@dataclass
class Catalogue:
    """The items' titles and genres, by item id (str). Items without a title show their id."""

    titles: dict[str, str] = field(default_factory=dict)
    genres: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def title(self, item: str) -> str:
        return self.titles.get(item, item)


@dataclass
class RatingData:
    """A data set of ratings split for training: the tables, the catalogue and the sha256 of every file read."""

    train: RatingTable
    val: RatingTable
    test: RatingTable
    catalogue: Catalogue
    levels: int
    files: dict[str, str] = field(default_factory=dict)


# --- reading ------------------------------------------------------------------------------------------------------


def _checked_ratings(path: Path, rating: np.ndarray, levels: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The ratings as int64, or a one-line error naming the first value that is not a whole number in 1..levels."""
    values = np.asarray(rating, dtype=np.float64)
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 1) | (values > levels)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        row = int(rows[first]) if rows is not None else first + 1
        raise DataError(f"{path} row {row}: rating {values[first]:g} is not a whole number from 1 to {levels} "
                        f"({int(bad.sum())} such rows); round the ratings, or set data.levels to the top rating")
    return values.astype(np.int64)


def _movielens_table(path: Path, levels: int) -> RatingTable:
    """A MovieLens ``u.data``-style file: tab-separated user, item, rating, timestamp, no header."""
    try:
        values = np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path} is not a MovieLens ratings file (user, item, rating, timestamp separated by tabs): "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if values.shape[1] != 4 or len(values) == 0:
        raise DataError(f"{path} should have 4 tab-separated columns and at least one row; got shape {values.shape}")
    return RatingTable(values[:, 0].astype(str), values[:, 1].astype(str), _checked_ratings(path, values[:, 2], levels),
                       values[:, 3])


def _movielens_catalogue(path: Path) -> Catalogue:
    """``u.item``: ``id|title|release|video release|IMDb URL|`` and 19 genre flags, in Latin-1."""
    genres_order = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                    "War", "Western")
    catalogue = Catalogue()
    for line in path.read_text(encoding="latin-1").splitlines():
        parts = line.split("|")
        if len(parts) < 5 + len(genres_order):
            continue
        item = parts[0].strip()
        catalogue.titles[item] = parts[1].strip()
        flags = parts[5:5 + len(genres_order)]
        catalogue.genres[item] = tuple(g for g, flag in zip(genres_order, flags) if flag.strip() == "1")
    return catalogue


def _delimiter(line: str) -> str:
    for candidate in ("::", "\t", ",", ";", "|"):
        if candidate in line:
            return candidate
    return ","


def read_ratings_file(path: str | Path, *, levels: int = 5, max_bytes: int = MAX_RATINGS_BYTES) -> RatingTable:
    """Read the user's ratings: one rating per line, ``user, item, rating[, timestamp]``.

    The separator is found from the first line (comma, tab, ``::`` as MovieLens-1M, semicolon or ``|``). A first
    line naming the columns (``user``/``userId``, ``item``/``movieId``, ``rating``, ``timestamp``, in any order)
    is a header; without one the columns are taken in that order. Text is UTF-8 (a byte that is not becomes U+FFFD).

    Raises
    ------
    DataError
        One line naming the file (and the row) for a missing, empty or oversized file, a line over
        :data:`~neuralab.data.features.MAX_LINE_CHARS` characters, a row with too few cells, a rating that is not a
        whole number in ``1..levels``, or a timestamp that is not a number.
    """
    path = Path(path)
    if not is_file(path):
        raise DataError(f"ratings file {path} does not exist")
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"{path} is {size:,} bytes, more than the {max_bytes:,} accepted; split it into smaller files")
    users: list[str] = []
    items: list[str] = []
    ratings: list[str] = []
    times: list[str] = []
    order = None
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        first = f.readline(MAX_LINE_CHARS + 1)
        if not first.strip():
            raise DataError(f"{path} is empty; expected lines of user, item, rating[, timestamp]")
        delimiter = _delimiter(first)
        header = _split(first, delimiter)
        names = [cell.strip().lower() for cell in header]
        known = {alias: column for column, aliases in _COLUMNS.items() for alias in aliases}
        if all(name in known for name in names) and {"user", "item", "rating"} <= {known[n] for n in names}:
            order = [known[name] for name in names]
            lines = f
        else:
            order = ["user", "item", "rating", "timestamp"][:max(3, min(4, len(header)))]
            lines = _chain(first, f)
        columns = {"user": users, "item": items, "rating": ratings, "timestamp": times}
        for number, line in enumerate(lines, start=2 if order and lines is f else 1):
            if len(line) > MAX_LINE_CHARS:
                raise DataError(f"{path} line {number} is longer than {MAX_LINE_CHARS:,} characters")
            if not line.strip():
                continue
            cells = _split(line, delimiter)
            if len(cells) < len(order):
                raise DataError(f"{path} line {number}: expected {len(order)} cells ({', '.join(order)}); got "
                                f"{len(cells)}: {line.strip()[:80]!r}")
            for name, cell in zip(order, cells):
                columns[name].append(cell.strip())
    if not ratings:
        raise DataError(f"{path} has no ratings; expected lines of user, item, rating[, timestamp]")
    numbers = np.array([_number(path, v, i) for i, v in enumerate(ratings)], dtype=np.float64)
    timestamp = None
    if times:
        timestamp = np.array([int(_number(path, v, i)) for i, v in enumerate(times)], dtype=np.int64)
    return RatingTable(np.array(users, dtype=str), np.array(items, dtype=str),
                       _checked_ratings(path, numbers, levels), timestamp)


def _split(line: str, delimiter: str) -> list[str]:
    if len(delimiter) > 1:
        return line.rstrip("\r\n").split(delimiter)
    return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])


def _chain(first: str, rest: io.TextIOBase):
    yield first
    yield from rest


def _number(path: Path, value: str, index: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataError(f"{path} rating row {index + 1}: {value[:40]!r} is not a number") from None


def _deduplicated(table: RatingTable, duplicates: str, source: str) -> RatingTable:
    """The table with each (user, item) pair once, or a one-line error for the first pair rated twice."""
    users, user_codes = np.unique(table.user, return_inverse=True)
    items, item_codes = np.unique(table.item, return_inverse=True)
    pairs = user_codes.astype(np.int64) * len(items) + item_codes
    order = np.arange(len(table)) if table.timestamp is None else np.lexsort((np.arange(len(table)), table.timestamp))
    sorted_pairs = pairs[order]
    _, first_seen, counts = np.unique(sorted_pairs, return_index=True, return_counts=True)
    if (counts == 1).all():
        return table
    if duplicates == "error":
        twice = np.flatnonzero(counts > 1)[0]
        code = sorted_pairs[first_seen[twice]]
        user, item = users[code // len(items)], items[code % len(items)]
        raise DataError(f"{source}: user {str(user)!r} rated item {str(item)!r} {counts[twice]} times "
                        f"({int((counts > 1).sum())} pairs are rated more than once); "
                        "keep one with --set data.duplicates=last (or first)")
    if duplicates == "first":
        keep = order[first_seen]
    else:  # last: the final occurrence in time order
        keep = order[first_seen + counts - 1]
    return table.take(np.sort(keep))


# --- splitting ----------------------------------------------------------------------------------------------------


def _latest_per_user(table: RatingTable, fraction: float) -> np.ndarray:
    """A boolean mask of each user's latest ``fraction`` of ratings (at least one for users with two or more)."""
    if table.timestamp is None:
        raise DataError("split: temporal needs timestamps; the ratings have none (add a timestamp column or use "
                        "split: random)")
    order = np.lexsort((np.arange(len(table)), table.timestamp, table.user))
    users = table.user[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    held = np.where(counts >= 2, np.maximum(1, np.floor(counts * fraction)), 0).astype(np.int64)
    position = np.arange(len(users)) - np.repeat(starts, counts)  # rank within the user, oldest first
    mask = np.zeros(len(table), dtype=bool)
    mask[order] = position >= np.repeat(counts - held, counts)
    return mask


def _random_mask(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:int(round(n * fraction))]] = True
    return mask


def load_ratings(name: str = MOVIELENS, *, split: str = "u1", path: str | Path | None = None,
                 items: str | Path | None = None, data_dir: str | Path | None = None, levels: int = 5,
                 test_fraction: float = 0.1, val_fraction: float = 0.05, duplicates: str = "error",
                 seed: int = 0) -> RatingData:
    """Read ratings and split them into training, validation and test tables.

    Parameters
    ----------
    name
        ``movielens-100k``, or ``ratings`` for the user's own file at ``path``.
    split
        One of :data:`SPLITS` (the MovieLens ones only for MovieLens).
    path, items
        For ``ratings``: the ratings file (see :func:`read_ratings_file`) and an optional CSV of ``item, title[,
        genres]`` (genres separated by ``|``).
    levels
        The top rating: ratings are whole numbers from 1 to ``levels``.
    test_fraction, val_fraction
        The share of ratings held out for testing (``random`` and ``temporal``), and of the rest for validation.
    duplicates
        What to do with a (user, item) pair rated twice: ``error``, ``last`` or ``first``.
    seed
        The random splits' seed.
    """
    if split not in SPLITS:
        raise DataError(f"data.split: unknown split {split!r}{did_you_mean(str(split), SPLITS)}; choose from "
                        f"{', '.join(SPLITS)}")
    if duplicates not in ("error", "last", "first"):
        raise DataError(f"data.duplicates must be error, last or first; got {duplicates!r}")
    for label, value in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"data.{label} must be in [0, 1); got {value}")
    rng = np.random.default_rng(seed)
    files: dict[str, str] = {}
    if name == MOVIELENS:
        if path is not None:
            raise DataError("data.path is for name: ratings (your own file); movielens-100k is found by its registry "
                            "entry (--data-dir, NEURALAB_DATA, the cache, then a download)")
        folder_files = ["u.data", "u.item"] + ([f"{split}.base", f"{split}.test"] if split in MOVIELENS_SPLITS else [])
        found = {f: fetch(MOVIELENS, f, data_dir=data_dir) for f in folder_files}
        files = {f"{MOVIELENS}/{f}": sha256_file(p) for f, p in found.items()}
        catalogue = _movielens_catalogue(found["u.item"])
        if split in MOVIELENS_SPLITS:
            base, held = found[f"{split}.base"], found[f"{split}.test"]
            train = _deduplicated(_movielens_table(base, levels), duplicates, str(base))
            test = _deduplicated(_movielens_table(held, levels), duplicates, str(held))
            table = None
        else:
            table = _deduplicated(_movielens_table(found["u.data"], levels), duplicates, str(found["u.data"]))
    elif name == "ratings":
        if path is None:
            raise DataError("data.path: a ratings data set needs the file, e.g. data: {name: ratings, path: "
                            "ratings.csv}")
        if split in MOVIELENS_SPLITS:
            raise DataError(f"data.split: {split} is one of MovieLens-100K's own splits; for your file use random or "
                            "temporal")
        table = _deduplicated(read_ratings_file(path, levels=levels), duplicates, str(path))
        files = {Path(path).name: sha256_file(path)}
        catalogue = _read_items(Path(items)) if items is not None else Catalogue()
        if items is not None:
            files[Path(items).name] = sha256_file(items)
    else:
        raise DataError(f"data.name: unknown ratings data set {name!r}{did_you_mean(str(name), [MOVIELENS, 'ratings'])}"
                        f"; choose from {MOVIELENS}, ratings")
    if table is not None:
        held = _latest_per_user(table, test_fraction) if split == "temporal" else \
            _random_mask(len(table), test_fraction, rng)
        train, test = table.take(~held), table.take(held)
    val_mask = _latest_per_user(train, val_fraction) if split == "temporal" else \
        _random_mask(len(train), val_fraction, rng)
    train, val = train.take(~val_mask), train.take(val_mask)
    if len(train) == 0:
        raise DataError("the training part has no ratings; use more data or smaller test_fraction/val_fraction")
    return RatingData(train, val, test, catalogue, levels, files)


def _read_items(path: Path) -> Catalogue:
    """An items file: ``item, title[, genres]`` with a header, genres separated by ``|``."""
    if not is_file(path):
        raise DataError(f"items file {path} does not exist")
    if path.stat().st_size > MAX_RATINGS_BYTES:
        raise DataError(f"{path} is more than {MAX_RATINGS_BYTES:,} bytes")
    catalogue = Catalogue()
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f)
        header = [cell.strip().lower() for cell in next(reader, [])]
        if len(header) < 2:
            raise DataError(f"{path}: expected a header with at least item and title columns; got {header}")
        for row in reader:
            if len(row) < 2:
                continue
            item = row[0].strip()
            catalogue.titles[item] = row[1].strip()[:300]
            if len(row) > 2 and row[2].strip():
                catalogue.genres[item] = tuple(g.strip() for g in row[2].split("|") if g.strip())[:20]
    return catalogue

