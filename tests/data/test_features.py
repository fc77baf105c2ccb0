"""Reading feature files: every malformed .npy or CSV is a one-line DataError, and size caps hold before allocation."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

from neuralab.data import features
from neuralab.data.features import MAX_FEATURE_BYTES, read_features
from neuralab.errors import DataError


def npy(path: Path, array: np.ndarray, **kwargs: object) -> Path:
    """``array`` saved with numpy.save at ``path``."""
    np.save(path, array, **kwargs)
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def header_only(shape: tuple[int, ...], descr: str = "<f8", data: bytes = b"") -> bytes:
    """A version 1.0 .npy header for ``shape`` and ``descr``, followed by ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"shape": shape, "fortran_order": False, "descr": descr})
    return buf.getvalue() + data


def raises_one_line(path: Path, message: str, **kwargs: object) -> None:
    with pytest.raises(DataError, match=message) as info:
        read_features(path, **kwargs)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize(("array", "expected"), [
    (np.arange(6, dtype=np.float64).reshape(2, 3), np.arange(6).reshape(2, 3)),
    (np.arange(6, dtype=">i2").reshape(3, 2), np.arange(6).reshape(3, 2)),
    (np.array([[True, False]]), np.array([[1, 0]])),
    (np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3)), np.arange(6).reshape(2, 3)),
    (np.array([[np.nan, np.inf, 1e300]]), np.array([[np.nan, np.inf, np.inf]])),  # out of float32's range: inf
])
def test_npy_of_numbers_reads_as_float32_rows(tmp_path: Path, array: np.ndarray, expected: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = read_features(npy(tmp_path / "x.npy", array))
    assert x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_array_equal(x, expected.astype(np.float32))


def test_empty_npy_is_a_data_error_not_an_abort(tmp_path: Path) -> None:
    # A 0-byte .npy raised EOFError, which the CLI reported as "Aborted!" with exit code 1.
    path = tmp_path / "empty.npy"
    path.write_bytes(b"")
    raises_one_line(path, r"empty\.npy is not a valid \.npy file: EOF: reading magic string, expected 8 bytes got 0; "
                          r"save it with numpy\.save$")


@pytest.mark.parametrize(("data", "message"), [
    (npy_bytes(np.ones((2, 2)))[:20], r"is not a valid \.npy file: EOF: reading array header"),
    (b"PK\x03\x04not numpy at all", r"is not a valid \.npy file: the magic string is not correct"),
    (b"\x93NUMPY\x03\x00" + npy_bytes(np.ones((2, 2)))[8:], r"format version 3\.0 is not supported"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n", r"is not a valid \.npy file: Header does not contain the correct"),
    (npy_bytes(np.ones((2, 2)))[:-3], (r"shape \(2, 2\) of float64 needs 32 bytes of data, the file has 29; it is "
                                       r"truncated$")),
    (npy_bytes(np.ones((2, 2))) + b"junk", r"the file has 36; it has trailing bytes$"),
])
def test_broken_npy_files_are_one_line_errors(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.npy"
    path.write_bytes(data)
    raises_one_line(path, message)


@pytest.mark.parametrize(("array", "message"), [
    (np.array([[1 + 2j]]), r"holds complex numbers; expected real numbers or booleans"),
    (np.array([["a", "b"]]), r"holds dtype <U1; expected real numbers"),
    (np.zeros((2,), dtype=[("a", "<f4"), ("b", "<i4")]), r"holds dtype \[\('a', '<f4'\), \('b', '<i4'\)\]"),
    (np.array([["2020-01-01"]], dtype="datetime64[D]"), r"holds dtype datetime64\[D\]"),
    (np.array(3.0), r"shape \(\); expected 2-D \(samples, features\): flatten each sample"),
    (np.ones(4), r"shape \(4,\); expected 2-D \(samples, features\): one sample\? x\.reshape\(1, -1\); one feature\?"),
    (np.ones((2, 3, 4)), (r"shape \(2, 3, 4\); expected 2-D \(samples, features\): flatten each sample with "
                          r"x\.reshape\(len\(x\), -1\)$")),
    (np.ones((0, 3)), r"shape \(0, 3\); expected at least one row and one column"),
    (np.ones((3, 0)), r"shape \(3, 0\); expected at least one row and one column"),
])
def test_npy_that_is_not_a_2d_numeric_array_is_refused(tmp_path: Path, array: np.ndarray, message: str) -> None:
    raises_one_line(npy(tmp_path / "x.npy", array), message)


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    path = npy(tmp_path / "obj.npy", np.array([[{"a": 1}, None]], dtype=object), allow_pickle=True)
    raises_one_line(path, r"obj\.npy holds dtype object; expected real numbers or booleans")


def test_npy_header_claiming_a_huge_array_allocates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    path.write_bytes(header_only((10**6, 10**6), data=b"\x00" * 64))
    raises_one_line(path, r"holds an array of shape \(1000000, 1000000\), 4,000,000,000,000 bytes as float32, more "
                          rf"than the {MAX_FEATURE_BYTES:,} accepted; split it into smaller files$")
    raises_one_line(path, r"needs 8,000,000,000,000 bytes of data, the file has 64; it is truncated",
                    max_bytes=2**62)
    path.write_bytes(header_only((-1, 2), data=b"\x00" * 16))
    raises_one_line(path, r"shape \(-1, 2\); expected at least one row and one column")


def test_size_cap_is_checked_before_reading(tmp_path: Path) -> None:
    path = npy(tmp_path / "x.npy", np.ones((10, 10), dtype=np.float32))
    raises_one_line(path, r"x\.npy is 528 bytes, more than the 500 accepted; split it into smaller files$",
                    max_bytes=500)
    big = npy(tmp_path / "int8.npy", np.ones((10, 30), dtype=np.int8))  # 428 bytes on disk, 1200 as float32
    raises_one_line(big, r"shape \(10, 30\), 1,200 bytes as float32, more than the 1,000 accepted", max_bytes=1000)
    with pytest.raises(DataError, match=r"^max_bytes must be a positive int; got 0$"):
        read_features(path, max_bytes=0)


def csv_file(tmp_path: Path, data: str | bytes, name: str = "x.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ("a,b\n1,2\n3,4\n", [[1, 2], [3, 4]]),
    ("1,2\n\n3,4", [[1, 2], [3, 4]]),
    ("\ufeffx\n 1.5 \r\n-2e3\r\n", [[1.5], [-2000]]),
    ('"1","2"\n', [[1, 2]]),
    ("f1,f2\nnan,inf\n-inf,NaN\n", [[np.nan, np.inf], [-np.inf, np.nan]]),  # the prediction layer flags these
])
def test_csv_of_numbers_with_an_optional_header(tmp_path: Path, text: str, expected: list) -> None:
    x = read_features(csv_file(tmp_path, text))
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, np.array(expected, dtype=np.float32))


@pytest.mark.parametrize(("data", "message"), [
    ("", r"x\.csv is empty; expected comma-separated numbers, one sample per line$"),
    ("\n  \n\n", r"x\.csv is empty"),
    ("a,b\n", r"x\.csv has a header but no data rows$"),
    ("a,b\n1,2\n3\n", r"x\.csv: line 3 has 1 values but the first row has 2; every row needs the same number of"),
    ("a,b\n1,2\n3,x\n", r"x\.csv: line 3 is not numeric: '3,x'$"),
    ("a,b\nc,d\n", r"x\.csv: line 2 is not numeric: 'c,d'$"),
    ("1,2\n3,\n", r"line 2 is not numeric: '3,'$"),
    (b"1,2\n3,\x004\n", r"x\.csv: line 2 is not numeric: '3,\\x004'$"),
    ("1,2\n" + "9" * 140_000 + "\n", r"x\.csv is not valid CSV at line 2: field larger than field limit"),
    (b"1,2\n3,\xff\n", r"x\.csv: line 2 is not numeric: '3,\ufffd'$"),
])
def test_malformed_csv_is_a_one_line_data_error(tmp_path: Path, data: str | bytes, message: str) -> None:
    raises_one_line(csv_file(tmp_path, data), message)


def test_non_utf8_header_parses_cleanly(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "caf\xe9,na\xefve\n1,2\n".encode("latin-1"))
    np.testing.assert_array_equal(read_features(path), [[1, 2]])


def test_csv_is_streamed_with_a_cap_on_lines_and_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "MAX_LINE_CHARS", 100)
    raises_one_line(csv_file(tmp_path, "1,2\n" + "1," * 60 + "1\n"), r"x\.csv: line 2 is longer than 100 "
                                                                         r"characters; expected comma-separated")
    path = csv_file(tmp_path, "1,2,3\n" * 10, "values.csv")
    assert read_features(path, max_bytes=120).shape == (10, 3)
    raises_one_line(path, r"values\.csv holds more than 29 values \(116 bytes as float32\)", max_bytes=116)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    raises_one_line(tmp_path / "nope.csv", r"input file .*nope\.csv does not exist$")
    raises_one_line(tmp_path, r"is a folder, not a file$")
    raises_one_line(tmp_path / ("x" * 300 + ".npy"), r"does not exist$")
