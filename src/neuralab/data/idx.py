"""Read and write IDX files, the format of MNIST and its look-alikes (Fashion-MNIST, KMNIST, EMNIST).

An IDX file is a big-endian header followed by a dense array in C order (LeCun et al., "The MNIST database";
the format is described on its original download page):

- a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``;
- ``ndim`` big-endian uint32 dimensions;
- the ``prod(dims)`` values, big-endian, with nothing after them.

Files may be gzipped; :func:`load_idx` recognises gzip by its own magic bytes, whatever the file is called, and
decompresses straight into the buffer that becomes the result array, so a 47 MB MNIST train set costs one array of
memory, not three.

Any bytes either load or raise a :class:`~neuralab.errors.DataError`, and the header is checked before anything is
allocated for it: at most 64 dimensions (numpy's limit), a shape whose size numpy can hold, and, for a raw file,
exactly as many bytes as the shape needs. A gzip file's payload grows with what it really decompresses to, so a
header that claims more than the file holds costs no more than the file's real content.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from neuralab.errors import DataError

__all__ = ["IDX_DTYPES", "load_idx", "write_idx"]

#: IDX dtype code -> numpy dtype (big-endian, as stored).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
# Deflate cannot expand data by more than about 1032:1, so a gzip file of n bytes cannot hold more than this many.
_MAX_DEFLATE_RATIO = 1032
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_MAX_NDIM = 64  # numpy's limit on an array's dimensions
_MAX_BYTES = np.iinfo(np.intp).max  # numpy's limit on the product of an array's non-zero dimensions and item size


def load_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, raw or gzipped, into a numpy array.

    Parameters
    ----------
    path : str or Path
        The file. Gzip is detected from the content, not from the ``.gz`` suffix.

    Returns
    -------
    np.ndarray
        A writable, C-contiguous, native-endian array with the header's shape and dtype (``uint8``, ``int8``,
        ``int16``, ``int32``, ``float32`` or ``float64``).

    Raises
    ------
    DataError
        When the file cannot be read, is not complete gzip, has a bad magic number or dtype code, or holds fewer or
        more bytes than its header announces. The message names the file and the mismatch.

    Examples
    --------
    >>> images = load_idx("mnist/train-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            is_gzip = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            size = path.stat().st_size
            if not is_gzip:
                return _read(raw, path, available=size)
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                return _read(f, path, available=size * _MAX_DEFLATE_RATIO + 1024, compressed=True)
    except _GZIP_ERRORS as e:
        raise DataError(f"{path} is not a complete gzip file ({e}); it is corrupt or truncated: fetch it again or "
                        "replace it with a good copy") from None
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {e.strerror or e}") from None


def _read(f: BinaryIO, path: Path, *, available: int, compressed: bool = False) -> np.ndarray:
    """Parse the header from ``f``, then read the payload straight into the result; ``available`` bounds its size."""
    magic = _read_exactly(f, 4)
    if len(magic) < 4:
        raise DataError(f"{path} is not an IDX file: expected a 4-byte magic number, found {len(magic)} bytes")
    if magic[:2] != b"\x00\x00" or magic[2] not in IDX_DTYPES or magic[3] == 0:
        raise DataError(f"{path} is not an IDX file: bad magic number 0x{magic.hex()} ({_why(magic)})")
    code, ndim = magic[2], magic[3]
    header = _read_exactly(f, 4 * ndim)
    if len(header) < 4 * ndim:
        raise DataError(f"{path} is truncated: expected {ndim} dimensions ({4 * ndim} bytes) after the magic "
                        f"number, found {len(header)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(header, dtype=">u4"))
    dtype = IDX_DTYPES[code]
    if ndim > _MAX_NDIM or math.prod(d for d in shape if d) * dtype.itemsize > _MAX_BYTES:
        too_many = f"{ndim} dimensions, more than numpy's {_MAX_NDIM}" if ndim > _MAX_NDIM else \
            f"shape {shape}, larger than any array numpy can hold"
        raise DataError(f"{path} has a corrupt IDX header: {too_many}")
    expected = math.prod(shape) * dtype.itemsize
    header_bytes = 4 + 4 * ndim
    what = f"bytes of {dtype.newbyteorder('=').name} values after the {header_bytes}-byte header (shape {shape})"
    if not compressed and expected != available - header_bytes:  # raw: the file's size says it all
        raise _mismatch(path, expected, what, available - header_bytes)
    if compressed and expected > available:  # a corrupt header must not make us allocate terabytes
        raise DataError(f"{path} does not match its header: expected {expected} {what}, but a gzip file of its size "
                        "cannot hold that many; the header is corrupt")
    payload = _read_payload(f, expected, compressed)
    found = len(payload)
    if found == expected:
        found += _count_rest(f)
    if found != expected:
        raise _mismatch(path, expected, what, found)
    out = np.frombuffer(payload, dtype=dtype).reshape(shape)
    if not dtype.isnative:  # big-endian on disk: swap in place on little-endian machines
        out = out.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return out


def _read_payload(f: BinaryIO, expected: int, compressed: bool) -> bytearray:
    """Up to ``expected`` bytes of ``f``, fewer only at its end, in a buffer the result array will share.

    A raw file's size was checked against ``expected``: its buffer is allocated at once and filled. A gzip file's
    real size is only known by decompressing it, so its buffer grows chunk by chunk with what arrives.
    """
    if not compressed:
        buf = bytearray(expected)
        return buf[:_readinto(f, memoryview(buf))] if expected else buf
    buf = bytearray()
    while len(buf) < expected and (chunk := f.read(min(_CHUNK, expected - len(buf)))):
        buf += chunk
    return buf


def _mismatch(path: Path, expected: int, what: str, found: int) -> DataError:
    """The error for a payload whose length differs from the header's."""
    problem = "the file is truncated" if found < expected else "the file has trailing bytes"
    return DataError(f"{path} does not match its header: expected {expected} {what}, found {found}; {problem}")


def _why(magic: bytes) -> str:
    """Which part of a bad magic number is wrong, for the message."""
    if magic[:2] != b"\x00\x00":
        return "the first two bytes must be zero"
    if magic[2] not in IDX_DTYPES:
        codes = ", ".join(f"0x{c:02X} {d.newbyteorder('=').name}" for c, d in IDX_DTYPES.items())
        return f"unknown dtype code 0x{magic[2]:02X}; expected one of {codes}"
    return "the number of dimensions must be at least 1"


def _read_exactly(f: BinaryIO, n: int) -> bytes:
    """Read up to ``n`` bytes, fewer only at the end of the file."""
    buf = bytearray(n)
    return bytes(buf[: _readinto(f, memoryview(buf))])


def _readinto(f: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``f`` in bounded chunks; return the number of bytes read (short only at the end)."""
    done = 0
    while done < len(view):
        n = f.readinto(view[done: done + _CHUNK])  # type: ignore[attr-defined]
        if not n:
            break
        done += n
    return done


def _count_rest(f: BinaryIO) -> int:
    """Read and count what is left of ``f``, in bounded memory."""
    rest = 0
    while chunk := f.read(_CHUNK):
        rest += len(chunk)
    return rest


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder must exist.
    array : np.ndarray
        At least 1-D, of dtype ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64`` (any byte
        order), with fewer than 2**32 entries along each axis.

    Returns
    -------
    Path
        ``path``. The gzip header has mtime 0, so the same array always gives the same bytes.

    Raises
    ------
    DataError
        For an array with an unsupported dtype, no dimensions, or more than 255 dimensions.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        names = ", ".join(d.newbyteorder("=").name for d in IDX_DTYPES.values())
        raise DataError(f"write_idx: array dtype must be one of {names}; got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise DataError(f"write_idx: array must have 1 to 255 dimensions; got shape {array.shape}")
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    data = header + payload
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path
