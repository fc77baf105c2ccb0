"""Feature rows read from the user's files: ``.csv`` (an optional header row) or ``.npy``.

Both readers check what they read before they allocate for it, so a malformed or hostile file is a one-line
:class:`~neuralab.errors.DataError`, never a traceback or a memory blow-up:

- ``.npy``: the header is parsed first (no pickles: object arrays are refused), then its dtype (numbers or booleans),
  shape (2-D, at least one row and one column), the data's length against the file's size, and the size of the
  result against ``max_bytes``; only then are the values read.
- ``.csv``: the file is streamed one line at a time (a line may hold at most :data:`MAX_LINE_CHARS` characters)
  into a float32 buffer, so memory follows the result, not the text; the result may not pass ``max_bytes``.

NaN and infinity are values like any other here (``nan``, ``inf`` in a CSV); the prediction layer flags such rows.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from neuralab.errors import DataError

__all__ = ["MAX_FEATURE_BYTES", "MAX_LINE_CHARS", "is_file", "read_features"]

# The largest file read, and the largest float32 matrix made from one: 1 GiB. A CSV of 1 GiB parses in minutes;
# larger feature sets belong in several files.
MAX_FEATURE_BYTES = 1 << 30
# The longest CSV line: 4 Mi characters, a row of about a million features. Parsing a line costs about 30 bytes a
# character in Python objects, so this bounds a single line's cost to about 128 MB.
MAX_LINE_CHARS = 1 << 22
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats
_SHOWN = 80  # characters of a line shown in a message


def is_file(path: Path) -> bool:
    """``path.is_file()``, with an impossible path (a name too long for the file system) counting as missing."""
    try:
        return path.is_file()
    except OSError:
        return False


def read_features(path: str | Path, *, max_bytes: int = MAX_FEATURE_BYTES, flatten: bool = False) -> np.ndarray:
    """Read a feature matrix, one row per sample, from a ``.npy`` or ``.csv`` file.

    Parameters
    ----------
    path : str or Path
        A ``.npy`` file holding a 2-D array of numbers or booleans, or a CSV file (any other suffix) of
        comma-separated numbers, one sample per line. A first line that is not numeric is a header and is skipped;
        blank lines are skipped; ``nan`` and ``inf`` are read as such. Text is UTF-8; a byte that is not becomes
        U+FFFD, so it can only spoil a header or make its cell non-numeric.
    max_bytes : int, default MAX_FEATURE_BYTES
        The largest file accepted, and the largest result (rows × columns × 4 bytes).
    flatten : bool, default False
        Accept a ``.npy`` of samples with more dimensions (images ``(N, C, H, W)``), each flattened to one row.

    Returns
    -------
    np.ndarray
        float32 of shape ``(rows, columns)``, with at least one row and one column.

    Raises
    ------
    DataError
        One line naming the file and what is wrong: missing or unreadable; over ``max_bytes``; for ``.npy`` a bad
        header, a dtype that is not numeric (object, complex, text, records), a shape that is not 2-D or is empty,
        or data shorter or longer than the header says; for CSV an empty file, a header with no rows, a cell that
        is not a number, rows of different lengths, or a line over :data:`MAX_LINE_CHARS` characters.

    Examples
    --------
    >>> read_features("samples.csv").shape  # doctest: +SKIP
    (12, 64)
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise DataError(f"max_bytes must be a positive int; got {max_bytes!r}")
    path = Path(path)
    if not is_file(path):
        what = "is a folder, not a file" if _is_dir(path) else "does not exist"
        raise DataError(f"input file {path} {what}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DataError(f"{path} is {size:,} bytes, more than the {max_bytes:,} accepted; split it into smaller "
                            "files")
        if path.suffix.lower() == ".npy":
            return _read_npy(path, size, max_bytes, flatten)
        return _read_csv(path, max_bytes)
    except OSError as exc:
        raise DataError(f"cannot read input file {path}: {exc.strerror or exc}") from None


def _read_npy(path: Path, size: int, max_bytes: int, flatten: bool = False) -> np.ndarray:
    """A checked ``.npy`` file as float32 (see the module docstring)."""
    with path.open("rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"format version {version[0]}.{version[1]} is not supported; expected 1.0 or 2.0")
        except (ValueError, TypeError, OverflowError, SyntaxError, RecursionError, MemoryError) as exc:
            raise DataError(f"{path} is not a valid .npy file: {_one_line(str(exc) or type(exc).__name__)}; save it "
                            "with numpy.save") from None
        _check_array(path, shape, dtype, max_bytes, flatten)
        n = math.prod(shape)
        expected, found = n * dtype.itemsize, size - f.tell()
        if found != expected:
            problem = "it is truncated" if found < expected else "it has trailing bytes"
            raise DataError(f"{path} does not match its header: shape {shape} of {dtype} needs {expected:,} bytes of "
                            f"data, the file has {found:,}; {problem}")
        values = np.fromfile(f, dtype=dtype, count=n)
    if len(values) != n:  # the file changed while it was read
        raise DataError(f"{path} is truncated: expected {n:,} values, read {len(values):,}")
    with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32's range becomes inf, as a value
        array = values.reshape(shape, order="F" if fortran else "C").reshape(shape[0], -1)
        return np.ascontiguousarray(array, dtype=np.float32)


def _check_array(path: Path, shape: tuple[int, ...], dtype: np.dtype, max_bytes: int, flatten: bool = False) -> None:
    """A DataError unless a .npy header describes a non-empty 2-D numeric array within ``max_bytes`` as float32."""
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.subdtype is not None:
        kind = "complex numbers" if dtype.kind == "c" else f"dtype {dtype}"
        raise DataError(f"{path} holds {kind}; expected real numbers or booleans (float, int, uint or bool): "
                        "convert it, e.g. x.astype(np.float32)")
    if len(shape) != 2 and not (flatten and len(shape) > 2):
        hint = ("one sample? x.reshape(1, -1); one feature? x.reshape(-1, 1)" if len(shape) == 1 else
                "flatten each sample with x.reshape(len(x), -1)")
        raise DataError(f"{path} holds an array of shape {shape}; expected 2-D (samples, features): {hint}")
    if len(shape) < 2 or min(shape) < 1:
        raise DataError(f"{path} holds an array of shape {shape}; expected at least one row and one column")
    result = math.prod(shape) * 4
    if result > max_bytes:
        raise DataError(f"{path} holds an array of shape {shape}, {result:,} bytes as float32, more than the "
                        f"{max_bytes:,} accepted; split it into smaller files")


def _read_csv(path: Path, max_bytes: int) -> np.ndarray:
    """A CSV file of numbers as float32, streamed line by line into one flat buffer."""
    values = array("f")  # 4 bytes a value; a list of Python floats would cost 32
    width, rows, header = 0, 0, False
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(_lines(f, path))
        try:
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue  # a blank line
                try:
                    row = [float(cell) for cell in record]
                except ValueError:
                    if rows == 0 and not header:
                        header = True
                        continue
                    raise DataError(f"{path}: line {reader.line_num} is not numeric: "
                                    f"{_show(','.join(record))!r}") from None
                if rows == 0:
                    width = len(row)
                elif len(row) != width:
                    raise DataError(f"{path}: line {reader.line_num} has {len(row)} values but the first row has "
                                    f"{width}; every row needs the same number of columns")
                if (len(values) + width) * 4 > max_bytes:
                    raise DataError(f"{path} holds more than {max_bytes // 4:,} values ({max_bytes:,} bytes as "
                                    "float32), more than accepted; split it into smaller files")
                values.extend(row)
                rows += 1
        except csv.Error as exc:
            raise DataError(f"{path} is not valid CSV at line {reader.line_num}: {_one_line(str(exc))}") from None
    if rows == 0:
        raise DataError(f"{path} has a header but no data rows" if header else
                        f"{path} is empty; expected comma-separated numbers, one sample per line")
    return np.frombuffer(values, dtype=np.float32).reshape(rows, width)


def _lines(f: TextIO, path: Path) -> Iterator[str]:
    """The lines of ``f``, each read with a bounded buffer; a DataError at a line over :data:`MAX_LINE_CHARS`."""
    number = 0
    while line := f.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise DataError(f"{path}: line {number} is longer than {MAX_LINE_CHARS:,} characters; expected "
                            "comma-separated numbers, one sample per line")
        yield line


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, with an impossible path counting as missing."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line, shortened to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}..."


def _show(text: str) -> str:
    """``text`` shortened to :data:`_SHOWN` characters for messages."""
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}...[{len(text)} characters]"
