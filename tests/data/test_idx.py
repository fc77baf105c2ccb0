"""Tests for neuralab.data.idx: IDX round trips and one clear DataError for every kind of broken file."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from neuralab.data.idx import load_idx, write_idx
from neuralab.errors import DataError

CASES = [
    ("u1", (5, 3, 4)),
    ("i1", (7,)),
    (">i2", (2, 3)),
    ("<i4", (4, 1, 2, 3)),
    ("f4", (3, 5)),
    (">f8", (6,)),
    ("u1", (0, 28, 28)),
]


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(("dtype", "shape"), CASES, ids=[f"{d}-{'x'.join(map(str, s))}" for d, s in CASES])
def test_write_then_load_round_trips_every_idx_dtype(tmp_path: Path, dtype: str, shape: tuple[int, ...],
                                                     suffix: str) -> None:
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a{suffix}", array)
    loaded = load_idx(path)
    assert loaded.shape == shape and loaded.dtype == np.dtype(dtype).newbyteorder("=")
    assert loaded.dtype.isnative and loaded.flags.writeable and loaded.flags.c_contiguous
    np.testing.assert_array_equal(loaded, array)


def test_header_is_big_endian_as_in_the_mnist_format(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", np.array([1, 2, 3], dtype=np.int16))
    assert path.read_bytes() == bytes.fromhex("00000b01" "00000003" "0001" "0002" "0003")


def test_gzip_is_detected_from_content_not_name(tmp_path: Path) -> None:
    raw = write_idx(tmp_path / "a", np.arange(6, dtype=np.uint8))
    disguised = tmp_path / "disguised.bin"
    disguised.write_bytes(gzip.compress(raw.read_bytes()))
    np.testing.assert_array_equal(load_idx(disguised), np.arange(6))


def test_write_idx_rejects_dtypes_the_format_lacks(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"write_idx: array dtype must be one of uint8, int8, int16, int32, float32, "
                                        r"float64; got int64"):
        write_idx(tmp_path / "a", np.arange(3))
    with pytest.raises(DataError, match=r"1 to 255 dimensions; got shape \(\)"):
        write_idx(tmp_path / "a", np.uint8(3))


# ------------------------------------------------------------------------------------------------------ broken files


def _images(tmp_path: Path, name: str = "images") -> bytes:
    """The bytes of a raw 3x4x5 uint8 IDX file (16-byte header, 60 bytes of pixels)."""
    return write_idx(tmp_path / name, np.arange(60, dtype=np.uint8).reshape(3, 4, 5)).read_bytes()


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_payload_names_the_file_and_both_byte_counts(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"short{suffix}"
    data = _images(tmp_path)[:-10]
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(DataError, match=rf"{path.name} does not match its header: expected 60 bytes of uint8 values "
                                        r"after the 16-byte header \(shape \(3, 4, 5\)\), found 50; the file is "
                                        r"truncated"):
        load_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_extra_bytes_after_the_payload_are_an_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"long{suffix}"
    data = _images(tmp_path) + b"\x00" * 7
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(DataError, match=rf"{path.name} does not match its header: expected 60 .* found 67; the file "
                                        r"has trailing bytes"):
        load_idx(path)


def test_corrupt_magic_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "html-page"
    path.write_bytes(b"<html><body>Not Found</body></html>")
    with pytest.raises(DataError, match=r"html-page is not an IDX file: bad magic number 0x3c68746d \(the first two "
                                        r"bytes must be zero\)"):
        load_idx(path)


def test_unknown_dtype_code_lists_the_valid_codes(tmp_path: Path) -> None:
    path = tmp_path / "odd"
    path.write_bytes(b"\x00\x00\x0a\x01" + _images(tmp_path)[4:])
    with pytest.raises(DataError, match=r"odd is not an IDX file: bad magic number 0x00000a01 \(unknown dtype code "
                                        r"0x0A; expected one of 0x08 uint8, 0x09 int8, 0x0B int16"):
        load_idx(path)


def test_zero_dimensions_and_short_headers_are_errors(tmp_path: Path) -> None:
    cases = {
        "nodims": (b"\x00\x00\x08\x00", r"the number of dimensions must be at least 1"),
        "tiny": (b"\x00\x00", r"expected a 4-byte magic number, found 2 bytes"),
        "cut-header": (b"\x00\x00\x08\x03\x00\x00\x00\x03", r"truncated: expected 3 dimensions \(12 bytes\) after "
                                                             r"the magic number, found 4 bytes"),
        "empty": (b"", r"found 0 bytes"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=rf"{name} .*{message}"):
            load_idx(tmp_path / name)


def test_truncated_gzip_is_a_data_error_not_eof_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(_images(tmp_path) * 50)[:40])
    with pytest.raises(DataError, match=r"cut.gz is not a complete gzip file .*corrupt or truncated"):
        load_idx(path)


def test_corrupt_gzip_body_is_a_data_error(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(_images(tmp_path)))
    data[-6] ^= 0xFF  # the stored length no longer matches
    (tmp_path / "bad.gz").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"bad.gz is not a complete gzip file"):
        load_idx(tmp_path / "bad.gz")


def test_gzip_header_too_big_for_its_file_fails_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "huge.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + np.array([60000, 60000, 60000], ">u4").tobytes()))
    with pytest.raises(DataError, match=r"huge.gz does not match its header: expected 216000000000000 bytes .*the "
                                        r"header is corrupt"):
        load_idx(path)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot read IDX file .*nowhere: No such file"):
        load_idx(tmp_path / "nowhere")


def _header(dims: list[int], code: int = 0x08) -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.array(dims, ">u4").tobytes()


@pytest.mark.parametrize(("dims", "message"), [
    ([1] * 65, r"has a corrupt IDX header: 65 dimensions, more than numpy's 64$"),
    ([2] * 255, r"has a corrupt IDX header: 255 dimensions, more than numpy's 64$"),
    ([0, 2**32 - 1, 2**32 - 1, 2**32 - 1], (r"has a corrupt IDX header: shape \(0, 4294967295, 4294967295, "
                                            r"4294967295\), larger than any array numpy can hold$")),
])
def test_headers_numpy_cannot_hold_are_data_errors_not_value_errors(tmp_path: Path, dims: list[int],
                                                                    message: str) -> None:
    # 275 of 3,000 fuzzed headers ended in numpy's ValueError (more than 64 dimensions, or a size that overflows).
    for name, data in (("raw", _header(dims)), ("zipped.gz", gzip.compress(_header(dims)))):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=rf"{name} {message}"):
            load_idx(tmp_path / name)


def test_sixty_four_dimensions_and_empty_arrays_with_huge_sides_load(tmp_path: Path) -> None:
    (tmp_path / "deep").write_bytes(_header([1] * 64) + b"\x07")
    assert load_idx(tmp_path / "deep").shape == (1,) * 64
    (tmp_path / "empty").write_bytes(_header([0, 2**32 - 1, 2**20]))
    assert load_idx(tmp_path / "empty").shape == (0, 2**32 - 1, 2**20)


def test_gzip_claiming_more_than_it_holds_allocates_only_what_it_holds(tmp_path: Path) -> None:
    # 100 KB of incompressible pixels under a header that claims 100 MB, which the deflate ratio would allow.
    pixels = np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    path = tmp_path / "liar.gz"
    path.write_bytes(gzip.compress(_header([100, 1000, 1000]) + pixels))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"liar.gz does not match its header: expected 100000000 bytes .*found "
                                            r"100000; the file is truncated"):
            load_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000
