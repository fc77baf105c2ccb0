import struct
import zlib
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny networks: one intra-op thread avoids OpenMP spin-waiting on a shared 2-core machine (10-50x faster)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def big_png():
    """A function that writes a PNG of any size in a few KB (a decompression-bomb test image)."""
    return write_big_png


def write_big_png(path: Path, width: int, height: int, *, valid: bool = True) -> Path:
    """A 1-bit grayscale PNG of ``width`` × ``height`` written row by row: a few KB on disk, never a big array in
    memory. With ``valid=False`` its pixel data are garbage: only the header is right."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    if valid:
        packer, row = zlib.compressobj(9), b"\x00" * (1 + (width + 7) // 8)  # filter byte 0, then black pixels
        pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    else:
        pixels = b"not deflate data"
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale, no interlace
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path
