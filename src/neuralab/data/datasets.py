"""In-memory data sets as arrays, and loading them by name.

:func:`load_dataset` looks the name up in :data:`LOADERS`, a plain dict from name to loader. A loader takes the
keyword ``data_dir`` (passed on to :func:`~neuralab.data.registry.fetch`) and returns an :class:`ArrayDataset`
whose ``files`` record the sha256 of every file it read, for the run's environment record. To add a data set,
register its files in :data:`~neuralab.data.registry.DATASETS`, write ``load_<name>(*, data_dir=None)`` and add it
to :data:`LOADERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from neuralab.data.arrays import ArrayDataset
from neuralab.data.digit_images import load_digit_images, load_small_digit_images
from neuralab.data.images import IDX_FILENAMES, load_idx_folder, load_mnist
from neuralab.data.registry import DATASETS, sha256_file
from neuralab.errors import DataError, did_you_mean

__all__ = ["LOADERS", "IMAGE_READERS", "ArrayDataset", "load_dataset", "load_digits"]

def load_digits(*, data_dir: str | Path | None = None) -> ArrayDataset:
    """Load scikit-learn's bundled 8x8 handwritten digits: 1797 images, 10 classes.

    Parameters
    ----------
    data_dir : str or Path, optional
        Ignored: the data ship with scikit-learn. Accepted so that every loader has the same signature.

    Returns
    -------
    ArrayDataset
        ``x`` float32 of shape (1797, 64) with pixel values 0-16 (row-major 8x8), ``y`` int64 in 0-9, task
        ``"classification"``, ``files`` the sha256 of scikit-learn's ``digits.csv.gz``.
    """
    from importlib import resources

    from sklearn.datasets import (
        load_digits as sklearn_load_digits,  # lazy: sklearn.datasets is slow to import
    )

    bunch = sklearn_load_digits()
    source = Path(str(resources.files("sklearn.datasets.data") / "digits.csv.gz"))
    return ArrayDataset(
        x=np.ascontiguousarray(bunch.data, dtype=np.float32),
        y=np.asarray(bunch.target, dtype=np.int64),
        task="classification",
        name="digits",
        feature_names=list(bunch.feature_names),
        classes=list(range(10)),
        files={"sklearn/datasets/data/digits.csv.gz": sha256_file(source)} if source.is_file() else {},
        image_shape=(1, 8, 8),
    )


def _load_mnist(*, data_dir: str | Path | None = None) -> ArrayDataset:
    """MNIST, or any MNIST-format data set in ``data_dir``.

    A ``data_dir`` holding the four standard IDX file names is read as it is (Fashion-MNIST, KMNIST,
    EMNIST-digits...), so the MNIST recipes train on it unchanged; the files' sha256 go in the run's record. Without
    such a folder, MNIST's own files are fetched and checked against the registry.
    """
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if all((folder / f).is_file() or (folder / f"{f}.gz").is_file() for f in IDX_FILENAMES):
            return load_idx_folder(folder)
    return load_mnist(data_dir=data_dir)


LOADERS: dict[str, Callable[..., ArrayDataset]] = {
    "digits": load_digits,
    "mnist": _load_mnist,
}
#: How an image file becomes an input of each data set of images: its own preprocessing (see
#: :mod:`neuralab.data.digit_images`), so that a photo of a digit looks like the training digits.
IMAGE_READERS: dict[str, Callable[[Sequence[str]], np.ndarray]] = {
    "digits": load_small_digit_images,   # (N, 64) in 0..16, as scikit-learn's 8×8 digits
    "mnist": load_digit_images,          # (N, 1, 28, 28) uint8, as MNIST
}


def load_dataset(name: str, *, data_dir: str | Path | None = None) -> ArrayDataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        A key of :data:`LOADERS`.
    data_dir : str or Path, optional
        A folder searched first for the data set's files (see :func:`~neuralab.data.registry.fetch`).

    Raises
    ------
    DataError
        For an unknown name (the message lists the loadable names), or any problem finding or reading the files.

    Examples
    --------
    >>> load_dataset("digits").x.shape
    (1797, 64)
    """
    if name not in LOADERS:
        if name in DATASETS:
            raise DataError(f"dataset {name!r} has no loader yet (fetch({name!r}) gives its files); loadable: "
                            f"{', '.join(LOADERS)}")
        raise DataError(f"unknown dataset {name!r}{did_you_mean(str(name), LOADERS)}; loadable: {', '.join(LOADERS)}")
    return LOADERS[name](data_dir=data_dir)
