"""Ratings files and their splits: the checks a bad file meets, and splits that never mix train and test."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuralab.data.ratings import load_ratings, read_ratings_file
from neuralab.errors import DataError

MIRROR = Path(os.environ.get("NEURALAB_DATA", "")) / "movielens-100k"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_with_a_header_in_any_order_is_read_by_column_name(tmp_path):
    table = read_ratings_file(write(tmp_path / "r.csv", "movieId,rating,userId\n10,4,1\n11,5,2\n"))
    assert table.user.tolist() == ["1", "2"] and table.item.tolist() == ["10", "11"]
    assert table.rating.tolist() == [4, 5] and table.timestamp is None


@pytest.mark.parametrize("separator", ["\t", "::", ",", ";"])
def test_a_file_without_a_header_takes_user_item_rating_timestamp_in_order(tmp_path, separator):
    lines = [separator.join(row) for row in (["1", "a", "3", "100"], ["2", "b", "1", "90"])]
    table = read_ratings_file(write(tmp_path / "r.txt", "\n".join(lines) + "\n"))
    assert table.item.tolist() == ["a", "b"] and table.timestamp.tolist() == [100, 90]


@pytest.mark.parametrize("value", ["6", "0", "3.5", "nan", "-1"])
def test_a_rating_outside_one_to_levels_is_refused_naming_its_row(tmp_path, value):
    path = write(tmp_path / "r.csv", f"user,item,rating\n1,1,4\n1,2,{value}\n")
    with pytest.raises(DataError, match=r"row 2: rating .* is not a whole number from 1 to 5"):
        read_ratings_file(path)


def test_bad_files_get_one_line_errors(tmp_path):
    for text, match in (("", "is empty"), ("user,item,rating\n", "has no ratings"), ("1,2\n", "expected 3 cells"),
                        ("user,item,rating\n1,2,x\n", "is not a number")):
        with pytest.raises(DataError, match=match) as info:
            read_ratings_file(write(tmp_path / "r.csv", text))
        assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="does not exist"):
        read_ratings_file(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="more than"):
        read_ratings_file(write(tmp_path / "big.csv", "1,2,3\n" * 10), max_bytes=20)


def test_a_pair_rated_twice_is_an_error_unless_last_or_first_is_chosen(tmp_path):
    path = write(tmp_path / "r.csv", "user,item,rating,timestamp\n1,1,2,50\n1,1,5,10\n2,1,3,1\n1,2,4,1\n")
    with pytest.raises(DataError, match=r"user '1' rated item '1' 2 times .* data.duplicates=last"):
        load_ratings("ratings", path=path, split="random", test_fraction=0, val_fraction=0)
    last = load_ratings("ratings", path=path, split="random", test_fraction=0, val_fraction=0, duplicates="last").train
    first = load_ratings("ratings", path=path, split="random", test_fraction=0, val_fraction=0,
                         duplicates="first").train
    pick = lambda t: t.rating[(t.user == "1") & (t.item == "1")].tolist()  # noqa: E731
    assert pick(last) == [2] and pick(first) == [5]  # by timestamp: 10 came first, 50 last
    assert len(last) == len(first) == 3


def synthetic(path: Path, users: int = 30, items: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["user,item,rating,timestamp"]
    for u in range(users):
        for i in rng.choice(items, size=rng.integers(4, items), replace=False):
            lines.append(f"u{u},i{i},{rng.integers(1, 6)},{rng.integers(0, 10**6)}")
    return write(path, "\n".join(lines) + "\n")


def test_random_splits_are_disjoint_and_cover_every_rating(tmp_path):
    path = synthetic(tmp_path / "r.csv")
    data = load_ratings("ratings", path=path, split="random", test_fraction=0.2, val_fraction=0.1, seed=3)
    total = len(read_ratings_file(path))
    assert len(data.train) + len(data.val) + len(data.test) == total
    pairs = [set(zip(t.user, t.item)) for t in (data.train, data.val, data.test)]
    assert not (pairs[0] & pairs[1]) and not (pairs[0] & pairs[2]) and not (pairs[1] & pairs[2])
    assert len(data.test) == round(total * 0.2)


def test_a_temporal_split_holds_out_each_users_latest_ratings(tmp_path):
    data = load_ratings("ratings", path=synthetic(tmp_path / "r.csv"), split="temporal", test_fraction=0.25,
                        val_fraction=0.2)
    for user in np.unique(data.test.user):
        seen = np.concatenate([data.train.timestamp[data.train.user == user],
                               data.val.timestamp[data.val.user == user]])
        assert seen.max() <= data.test.timestamp[data.test.user == user].min()
        assert data.train.timestamp[data.train.user == user].max() <= \
            data.val.timestamp[data.val.user == user].min(initial=10**9)


def test_temporal_needs_timestamps_and_movielens_splits_need_movielens(tmp_path):
    path = write(tmp_path / "r.csv", "user,item,rating\n1,1,4\n1,2,5\n")
    with pytest.raises(DataError, match="temporal needs timestamps"):
        load_ratings("ratings", path=path, split="temporal")
    with pytest.raises(DataError, match="for your file use random or temporal"):
        load_ratings("ratings", path=path, split="u1")
    with pytest.raises(DataError, match="unknown split 'u6'"):
        load_ratings("ratings", path=path, split="u6")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_in_one_line(tmp_path, blob):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(blob)
    try:
        table = read_ratings_file(path)
    except DataError as err:
        assert "\n" not in str(err)
    else:
        assert len(table) > 0 and ((table.rating >= 1) & (table.rating <= 5)).all()


@pytest.mark.skipif(not (MIRROR / "u1.base").is_file(), reason="MovieLens-100K mirror not present")
def test_movielens_u1_is_read_as_published():
    data = load_ratings(split="u1", val_fraction=0.05)
    assert len(data.train) + len(data.val) == 80000 and len(data.test) == 20000
    assert data.catalogue.title("50") == "Star Wars (1977)" and "Sci-Fi" in data.catalogue.genres["50"]
    assert data.catalogue.title("1") == "Toy Story (1995)"
    assert len(data.files) == 4 and all(len(v) == 64 for v in data.files.values())
