"""Property tests for the file readers: any bytes either load or raise a DataError (never another exception, a hang
or an allocation beyond the file), from pure random bytes and from near-valid files that reach the deeper checks."""

from __future__ import annotations

import gzip
import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuralab.data.features import read_features
from neuralab.data.idx import IDX_DTYPES, load_idx
from neuralab.errors import DataError

FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
# Bytes a reader may allocate beyond the file it reads: its fixed buffers (the IDX reader reads in 1 MiB chunks)
# and numpy's and Python's own overhead. A header that made a reader allocate what it claims would pass this.
SLACK = 4 << 20

# A warning (numpy's overflow in a cast, say) is a silent wrong value: here it fails the example.
pytestmark = pytest.mark.filterwarnings("error")

@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for a test's examples (hypothesis runs them all inside one call of the test)."""
    return tmp_path_factory.mktemp("fuzz")


def loads_or_data_error(read: Callable[[Path], Any], path: Path, data: bytes) -> Any:
    """``read(path)`` after writing ``data`` there: the result, or None after a one-line DataError. Fails when more
    than the file's size plus :data:`SLACK` was allocated on the way."""
    path.write_bytes(data)
    tracemalloc.start()
    try:
        result = read(path)
    except DataError as e:
        assert "\n" not in str(e), str(e)
        result = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    out_size = 0 if result is None else result.nbytes
    assert peak <= SLACK + 2 * len(data) + out_size, f"allocated {peak} bytes for a {len(data)}-byte file"
    return result


# ------------------------------------------------------------------------------------------------------------- IDX

@st.composite
def idx_files(draw: st.DrawFn) -> bytes:
    """A valid IDX magic number with random dimensions (few or many, zero, small or huge) and a payload that often,
    but not always, has the length they imply."""
    code = draw(st.sampled_from(sorted(IDX_DTYPES)))
    ndim = draw(st.one_of(st.integers(1, 4), st.integers(0, 255)))
    side = st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1), st.just(1))
    dims = draw(st.lists(side, min_size=ndim, max_size=ndim))
    expected = int(np.prod(dims, dtype=object)) * IDX_DTYPES[code].itemsize
    length = draw(st.one_of(st.just(expected), st.integers(0, 64))) if expected <= 4096 else draw(st.integers(0, 64))
    header = bytes([0, 0, code, ndim]) + np.array(dims, dtype=">u4").tobytes()
    payload = draw(st.binary(min_size=length, max_size=length)) if length <= 4096 else b""
    return header + payload


@FUZZ
@given(data=st.binary(max_size=2000), zipped=st.booleans())
def test_any_bytes_load_as_idx_or_raise_data_error(folder: Path, data: bytes, zipped: bool) -> None:
    loads_or_data_error(load_idx, folder / "any", gzip.compress(data, mtime=0) if zipped else data)


@FUZZ
@given(data=idx_files(), zipped=st.booleans())
def test_near_valid_idx_headers_load_with_their_shape_or_raise_data_error(folder: Path, data: bytes,
                                                                         zipped: bool) -> None:
    array = loads_or_data_error(load_idx, folder / "near", gzip.compress(data, mtime=0) if zipped else data)
    if array is not None:
        ndim = data[3]
        assert array.shape == tuple(np.frombuffer(data[4:4 + 4 * ndim], dtype=">u4"))
        assert array.dtype == IDX_DTYPES[data[2]].newbyteorder("=")


# ------------------------------------------------------------------------------------------------------ features

NPY_DTYPES = ["<f8", ">f4", "<f2", "|b1", "|i1", "<i8", ">u2", "<c16", "|O", "<U3", "|S2", "<M8[D]", "|V4",
              "<f16", [("a", "<i4")], ("<f4", (2,))]


@st.composite
def npy_files(draw: st.DrawFn) -> bytes:
    """A .npy header of a random version, dtype, shape and order, then a payload of the right or a wrong length."""
    descr = draw(st.sampled_from(NPY_DTYPES))
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.lists(st.one_of(st.integers(0, 5), st.integers(-3, 2**40)), min_size=ndim, max_size=ndim)))
    header = {"descr": descr, "fortran_order": draw(st.booleans()), "shape": shape}
    buf = io.BytesIO()
    if draw(st.booleans()):
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    try:
        itemsize = np.dtype(descr).itemsize  # type: ignore[call-overload]
    except TypeError:
        itemsize = 4
    expected = int(np.prod(shape, dtype=object)) * itemsize
    fits = 0 <= expected <= 4096
    length = draw(st.one_of(st.just(expected), st.integers(0, 64))) if fits else draw(st.integers(0, 64))
    return buf.getvalue() + draw(st.binary(min_size=length, max_size=length))


CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", " ", "nan", "-inf", "Infinity", "1e999", "x", '"1"', '"a,b"', "\x00", "\ufffd", "１", "1_0"]),
    st.text(max_size=8),
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """An optional header, then rows of random cells (mostly numbers), mostly of one width, with random newlines."""
    width = draw(st.integers(1, 5))
    rows = draw(st.lists(st.lists(CELLS, min_size=width, max_size=width) | st.lists(CELLS, max_size=7), max_size=8))
    if draw(st.booleans()):
        rows.insert(0, [f"f{j}" for j in range(width)])
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(",".join(row) for row in rows) + draw(st.sampled_from(["", newline]))
    encoded = text.encode("utf-8", errors="surrogatepass")
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"])) + encoded


def _check_features(x: np.ndarray | None) -> None:
    if x is not None:
        assert x.dtype == np.float32 and x.ndim == 2 and min(x.shape) >= 1


@FUZZ
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".npy", ".csv"]))
def test_any_bytes_read_as_features_or_raise_data_error(folder: Path, data: bytes, suffix: str) -> None:
    _check_features(loads_or_data_error(read_features, folder / f"any{suffix}", data))


@FUZZ
@given(data=npy_files())
def test_near_valid_npy_files_read_as_features_or_raise_data_error(folder: Path, data: bytes) -> None:
    _check_features(loads_or_data_error(read_features, folder / "near.npy", data))


@FUZZ
@given(data=csv_files())
def test_csv_files_of_random_cells_read_as_features_or_raise_data_error(folder: Path, data: bytes) -> None:
    _check_features(loads_or_data_error(read_features, folder / "near.csv", data))
