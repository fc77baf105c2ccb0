"""Turn a photo or drawing of one handwritten digit into an MNIST-style 28×28 image.

MNIST was built from NIST's binary scans like this (LeCun, Bottou, Bengio and Haffner, 1998, "Gradient-based
learning applied to document recognition"; and the MNIST download page): each digit was size-normalised to fit a
20×20 box *preserving its aspect ratio*, anti-aliased (hence the grey levels), and placed in a 28×28 field so that
the centre of mass of its pixels sits at the centre of the field. A network trained on MNIST expects exactly that,
so :func:`preprocess_digit` repeats those steps:

1. polarity: MNIST is bright ink on black; an image whose border is bright is inverted;
2. the background level (the median of the border) is subtracted and the ink scaled so its maximum is 1;
3. crop to the bounding box of the ink (pixels above ``INK_FRACTION`` of the maximum; nothing is binarised);
4. resize so the longer side is 20 px (Pillow LANCZOS, anti-aliased), keeping the aspect ratio;
5. paste into a black 28×28 image with the ink's centre of mass at pixel (14, 14), shifting by the rounded
   offset and clipping whatever would fall outside.

>>> from neuralab.data.digit_images import load_digit_images
>>> load_digit_images(["three.png", "seven.jpg"]).shape  # doctest: +SKIP
(2, 1, 28, 28)
"""

from __future__ import annotations

import logging
import struct
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuralab.data.features import is_file
from neuralab.errors import DataError

__all__ = ["BOX", "INK_FRACTION", "MAX_PIXELS", "MIN_CONTRAST", "SIZE", "load_digit_images", "preprocess_digit",
           "read_image"]

logger = logging.getLogger(__name__)

SIZE = 28  # side of the output image, as in MNIST
BOX = 20  # the digit's longer side after size normalisation, as in MNIST
INK_FRACTION = 0.1  # a pixel is ink for the bounding box when above this fraction of the strongest ink
MIN_CONTRAST = 0.02  # an image whose ink rises less than this above its background (on a 0..1 scale) is blank
# The largest image read, in pixels (5000 x 5000): above a 12-megapixel phone photo or an A4 page scanned at 300 dpi
# (9 MP), and a digit needs far fewer. Reading an RGBA image costs up to about 25 bytes a pixel, so the cap keeps one
# image under about 600 MB (a 9000 x 9000 RGBA PNG used to take 5.3 GB).
MAX_PIXELS = 25_000_000
# Every way Pillow reports a file it cannot decode (UnidentifiedImageError and "image file is truncated" are
# OSErrors; broken PNG chunks raise SyntaxError; some decoders raise ValueError, EOFError, struct or zlib errors).
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error)


def read_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as a grayscale float32 array in [0, 1].

    Parameters
    ----------
    path : str or Path
        Any format Pillow reads (PNG, JPEG, BMP, GIF, TIFF, ...), in any mode: L, RGB, RGBA, LA, P (palette, with
        or without transparency), 1 (bilevel), 16-bit (I;16) or 32-bit (I, F). Only the first frame of an
        animation is read.
    max_pixels : int, default MAX_PIXELS
        The largest width × height accepted, checked from the file's header before any pixel is decoded.
        Pillow's own decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 megapixels) applies too.

    Returns
    -------
    np.ndarray
        Shape ``(height, width)``, float32, 0 = black and 1 = white. Colour is converted with the ITU-R 601 luma
        weights (Pillow's ``convert("L")``). A transparent image is composited onto the background that contrasts
        with its opaque pixels (white behind dark strokes, black behind light ones), so a pen stroke on a
        transparent canvas stays visible.

    Raises
    ------
    DataError
        If the file does not exist, or is empty, not an image, corrupt (for example truncated) or larger than
        ``max_pixels``; the message is one line that names the file.
    """
    from PIL import Image

    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise DataError(f"max_pixels must be a positive int; got {max_pixels!r}")
    path = Path(path)
    if not is_file(path):
        raise DataError(f"{path}: no such image file")
    try:
        with warnings.catch_warnings():  # Pillow warns of a possible decompression bomb; here it is an error
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:  # lazy: only the header is read so far
                width, height = img.size
                if width * height > max_pixels:
                    raise DataError(f"{path}: the image is {width}x{height} = {width * height:,} pixels, more than "
                                    f"the {max_pixels:,} accepted; scale it down (a digit needs far fewer)")
                img.load()
                gray = _to_gray(img)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"{path}: the image is too large to decode safely ({_first_line(err)}); scale it "
                        "down") from None
    except _PIL_ERRORS as err:
        raise DataError(f"{path}: not a readable image ({_first_line(err)})") from None
    if gray.size == 0:
        raise DataError(f"{path}: not a readable image (it has no pixels)")
    return gray


def _first_line(err: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    return str(err).splitlines()[0] if str(err).strip() else type(err).__name__


def _to_gray(img) -> np.ndarray:
    """A loaded Pillow image of any mode as float32 grayscale in [0, 1]."""
    mode = img.mode
    if mode.startswith("I;16"):  # 16-bit grayscale (PNG, TIFF)
        return (np.asarray(img, dtype=np.float64) / 65535.0).astype(np.float32)
    if mode == "I":  # 32-bit int; Pillow also uses it for 16-bit PNGs, so the range is read off the values
        x = np.asarray(img, dtype=np.float64)
        top = 255.0 if x.max(initial=0) <= 255 else 65535.0
        return np.clip(x / top, 0.0, 1.0).astype(np.float32)
    if mode == "F":
        x = np.asarray(img, dtype=np.float64)
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(x if x.max(initial=0) <= 1.0 else x / 255.0, 0.0, 1.0).astype(np.float32)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        return _flatten_alpha(img if mode == "RGBA" else img.convert("RGBA"))
    return (np.asarray(img.convert("L"), dtype=np.float32) / 255.0).astype(np.float32)


def _flatten_alpha(img) -> np.ndarray:
    """Composite an RGBA image onto white or black, whichever contrasts with its opaque pixels."""
    # Pillow makes the luma and alpha planes in 8 bits; float32 planes from them cost 8 bytes a pixel, where a
    # float64 RGBA array cost 32 and its temporaries as much again.
    luma = np.asarray(img.convert("L"), dtype=np.float32)
    alpha = np.asarray(img.getchannel("A"), dtype=np.float32)
    luma /= 255.0
    alpha /= 255.0
    white = alpha.sum(dtype=np.float64) == 0 or alpha.min() == 1.0 or np.average(luma, weights=alpha) <= 0.5
    out = luma * alpha
    if white:  # onto white the background adds 1 - alpha; onto black it adds nothing
        out += 1.0 - alpha
    return out


def preprocess_digit(image: np.ndarray) -> np.ndarray:
    """Size-normalise and centre one digit the way MNIST was built (see the module docstring).

    Parameters
    ----------
    image : np.ndarray
        A 2-D grayscale image of any size and either polarity: floats in [0, 1] (as from :func:`read_image`), or
        uint8 / uint16 integers, which are scaled by 255 / 65535.

    Returns
    -------
    np.ndarray
        Shape ``(28, 28)``, float32 in [0, 1]: bright ink on black, the longer side of the digit 20 px, its centre
        of mass within half a pixel of (row 14, column 14).

    Raises
    ------
    DataError
        If ``image`` is not a 2-D array, holds NaN or Inf, or is blank ("no ink found").

    Examples
    --------
    >>> import numpy as np
    >>> img = np.ones((60, 40), dtype=np.float32)  # white paper...
    >>> img[10:50, 18:22] = 0.0                     # ...with a black "1"
    >>> out = preprocess_digit(img)
    >>> out.shape, out.dtype, float(out.max())
    ((28, 28), dtype('float32'), 1.0)
    """
    ink = _ink(_as_unit_float(image))
    rows = np.flatnonzero((ink > INK_FRACTION).any(axis=1))
    cols = np.flatnonzero((ink > INK_FRACTION).any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    digit = _resize_longer_side(crop, BOX)
    return _paste_centred(digit, SIZE)


def _as_unit_float(image: np.ndarray) -> np.ndarray:
    """Check a 2-D image and return it as float64, integers scaled to [0, 1]."""
    x = np.asarray(image)
    if x.ndim != 2 or x.size == 0:
        raise DataError(f"image must be a non-empty 2-D grayscale array (height, width); got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    if x.dtype == np.uint16:
        return x.astype(np.float64) / 65535.0
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"image must hold numbers; got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise DataError("image holds NaN or Inf values; expected grayscale intensities in [0, 1]")
    return x


def _ink(x: np.ndarray) -> np.ndarray:
    """Bright ink on a zero background, scaled so the strongest ink is 1; inverts dark-on-light images."""
    border = np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])
    background = float(np.median(border))
    # The border is mostly paper: if it is nearer the bright end, the ink is dark and the image is inverted.
    if background > 0.5 * (x.min() + x.max()):
        x, background = -x, -background
    ink = np.clip(x - background, 0.0, None)
    contrast = float(ink.max())
    if contrast < MIN_CONTRAST:
        raise DataError(f"no ink found: the image is blank (ink contrast {contrast:.3g} < {MIN_CONTRAST})")
    return ink / contrast


def _resize_longer_side(crop: np.ndarray, box: int) -> np.ndarray:
    """Resize so the longer side is ``box`` pixels, keeping the aspect ratio (Pillow LANCZOS, anti-aliased)."""
    from PIL import Image

    h, w = crop.shape
    scale = box / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = Image.fromarray(crop.astype(np.float32)).resize((new_w, new_h), Image.Resampling.LANCZOS)
    # Lanczos rings a little around sharp strokes; clipping keeps the result a valid intensity.
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def _paste_centred(digit: np.ndarray, size: int) -> np.ndarray:
    """Paste ``digit`` into a black ``size``×``size`` image with its centre of mass at (size/2, size/2)."""
    h, w = digit.shape
    mass = digit.sum()
    cy = float((digit.sum(axis=1) * np.arange(h)).sum() / mass)
    cx = float((digit.sum(axis=0) * np.arange(w)).sum() / mass)
    top, left = round(size / 2 - cy), round(size / 2 - cx)
    out = np.zeros((size, size), dtype=np.float32)
    # Intersect the shifted digit with the canvas; a very lopsided digit loses what falls outside.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, size), min(left + w, size)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = digit[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


def load_digit_images(paths: Sequence[str | Path], *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read and preprocess digit images into an MNIST-shaped uint8 batch.

    Parameters
    ----------
    paths : sequence of str or Path
        Image files, one digit each.
    max_pixels : int, default MAX_PIXELS
        The largest image accepted, as in :func:`read_image`.

    Returns
    -------
    np.ndarray
        Shape ``(N, 1, 28, 28)``, uint8 (intensities × 255, rounded), in the order of ``paths``; ``(0, 1, 28, 28)``
        when ``paths`` is empty.

    Raises
    ------
    DataError
        If a file is missing, unreadable, too large or blank; the message names the file.
    """
    out = np.zeros((len(paths), 1, SIZE, SIZE), dtype=np.uint8)
    for i, path in enumerate(paths):
        image = read_image(path, max_pixels=max_pixels)
        try:
            digit = preprocess_digit(image)
        except DataError as err:
            raise DataError(f"{path}: {err}") from None
        out[i, 0] = np.rint(digit * 255.0).astype(np.uint8)
        logger.debug("read digit image %s (%d×%d)", path, *image.shape)
    return out


SMALL_BITMAP, SMALL_BLOCK = 32, 4  # scikit-learn's digits: 32×32 bitmaps, on pixels counted in 4×4 blocks


def preprocess_small_digit(image: np.ndarray) -> np.ndarray:
    """Turn an image of one digit into scikit-learn's 8×8 digits format: ``(8, 8)`` float32 counts in 0..16.

    scikit-learn's digits are UCI's optdigits (Alpaydin & Kaynak 1998): each digit was scaled to a 32×32 bitmap
    and the on pixels counted in each 4×4 block. This repeats it: the ink's bounding box is scaled so its longer
    side is 32 px (aspect kept), centred, thresholded at half intensity, and counted block by block.

    Raises
    ------
    DataError
        If ``image`` is not a 2-D array, holds NaN or Inf, or is blank.
    """
    ink = _ink(_as_unit_float(image))
    rows = np.flatnonzero((ink > INK_FRACTION).any(axis=1))
    cols = np.flatnonzero((ink > INK_FRACTION).any(axis=0))
    digit = _resize_longer_side(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], SMALL_BITMAP)
    h, w = digit.shape
    bitmap = np.zeros((SMALL_BITMAP, SMALL_BITMAP), dtype=np.float64)
    top, left = (SMALL_BITMAP - h) // 2, (SMALL_BITMAP - w) // 2
    bitmap[top:top + h, left:left + w] = digit
    n = SMALL_BITMAP // SMALL_BLOCK
    on = bitmap > 0.5
    return on.reshape(n, SMALL_BLOCK, n, SMALL_BLOCK).sum(axis=(1, 3)).astype(np.float32)


def load_small_digit_images(paths: Sequence[str | Path], *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read digit images as rows of scikit-learn's digits: shape ``(N, 64)``, float32 in 0..16 (see
    :func:`preprocess_small_digit`); errors name the file, as :func:`load_digit_images`."""
    out = np.zeros((len(paths), SMALL_BITMAP // SMALL_BLOCK * SMALL_BITMAP // SMALL_BLOCK), dtype=np.float32)
    for i, path in enumerate(paths):
        image = read_image(path, max_pixels=max_pixels)
        try:
            out[i] = preprocess_small_digit(image).reshape(-1)
        except DataError as err:
            raise DataError(f"{path}: {err}") from None
    return out
