"""Image data sets in IDX files: MNIST from the registry, and any folder laid out like it.

Images stay ``uint8`` in memory, shape (N, 1, H, W): MNIST's 70000 images take 55 MB instead of 220 MB as
float32. Convert each batch on its device with :func:`neuralab.data.transforms.to_float` (``x / 255``), after
indexing, not before.

Train and test rows live in one array, train first, so that the data set is an :class:`ArrayDataset` like any
other; :attr:`ImageDataset.predefined_split` and the ``x_train`` ... ``y_test`` views give the published split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab.data.arrays import ArrayDataset
from neuralab.data.idx import load_idx
from neuralab.data.registry import dataset_info, fetch, sha256_file
from neuralab.data.splits import Split
from neuralab.errors import DataError

__all__ = ["IDX_FILENAMES", "ImageDataset", "load_idx_folder", "load_mnist"]

#: The four standard file names of MNIST and its look-alikes (Fashion-MNIST, KMNIST, EMNIST), in load order.
IDX_FILENAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass
class ImageDataset(ArrayDataset):
    """An image classification data set with a published train/test split.

    The fields are those of :class:`ArrayDataset` plus ``n_train``: ``x`` is ``uint8`` of shape (N, C, H, W),
    the ``n_train`` training rows first and then the test rows; ``y`` is ``int64`` of shape (N,).

    Parameters
    ----------
    n_train : int
        How many leading rows are the training set (keyword only); the rest are the test set.

    Examples
    --------
    >>> ds = load_mnist()  # doctest: +SKIP
    >>> ds.x_train.shape, ds.x_test.shape  # doctest: +SKIP
    ((60000, 1, 28, 28), (10000, 1, 28, 28))
    """

    n_train: int = field(kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.n_train <= len(self.x):
            raise DataError(f"{self.name}: n_train must be in 1..{len(self.x)} (the number of rows); "
                            f"got {self.n_train}")

    @property
    def predefined_split(self) -> Split:
        """The published split as sorted int64 row indices: ``train`` then ``test``; ``val`` is empty."""
        return Split(train=np.arange(self.n_train, dtype=np.int64), val=np.empty(0, dtype=np.int64),
                     test=np.arange(self.n_train, len(self.x), dtype=np.int64))

    @property
    def x_train(self) -> np.ndarray:
        """The training images, a view of ``x``."""
        return self.x[: self.n_train]

    @property
    def y_train(self) -> np.ndarray:
        """The training labels, a view of ``y``."""
        assert self.y is not None
        return self.y[: self.n_train]

    @property
    def x_test(self) -> np.ndarray:
        """The test images, a view of ``x``."""
        return self.x[self.n_train:]

    @property
    def y_test(self) -> np.ndarray:
        """The test labels, a view of ``y``."""
        assert self.y is not None
        return self.y[self.n_train:]


def load_mnist(*, data_dir: str | Path | None = None) -> ImageDataset:
    """Load MNIST: 60000 training and 10000 test 28x28 handwritten digits, classes 0-9.

    The four gzipped IDX files are found and sha256-checked by :func:`~neuralab.data.registry.fetch`.

    Parameters
    ----------
    data_dir : str or Path, optional
        A folder searched first for the files (or for ``mnist/`` holding them).

    Returns
    -------
    ImageDataset
        ``x`` uint8 (70000, 1, 28, 28) with pixels 0-255 (0 is background), ``y`` int64 in 0-9, ``n_train``
        60000, ``classes`` 0-9, ``files`` the decompressed sha256 of each of the four files.

    Raises
    ------
    DataError
        When a file is missing (offline, with no local copy), corrupt, or malformed.
    """
    info = dataset_info("mnist")
    paths = {remote.filename: fetch("mnist", remote.filename, data_dir=data_dir) for remote in info.files}
    files = {remote.filename: remote.sha256 for remote in info.files}  # fetch has just verified each of them
    return _assemble(list(paths.values()), files, name="mnist", classes=list(range(10)))


def load_idx_folder(folder: str | Path, *, name: str | None = None,
                    classes: list[str] | None = None) -> ImageDataset:
    """Load an MNIST-like data set from a folder of four IDX files, raw or gzipped.

    Fashion-MNIST, KMNIST and EMNIST ship in this layout. (EMNIST's images are stored transposed; transpose the
    last two axes of ``x`` to view them upright.)

    Parameters
    ----------
    folder : str or Path
        Holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte``, each with or without ``.gz`` (the raw file is used when both exist).
    name : str, optional
        The data set's name; the folder's name by default.
    classes : list of str, optional
        A name for each class index, such as Fashion-MNIST's ``["T-shirt/top", "Trouser", ...]``. By default the
        integers ``0 .. max(y)``.

    Returns
    -------
    ImageDataset
        ``x`` uint8 (N, 1, H, W), ``y`` int64, ``n_train`` the number of training images, ``files`` the sha256
        of each file's decompressed content.

    Raises
    ------
    DataError
        When the folder or one of the files is missing (the message lists the four names), a file is malformed,
        or image and label counts or image sizes disagree.
    """
    folder = Path(folder).expanduser()
    paths = []
    for stem in IDX_FILENAMES:
        found = [folder / f for f in (stem, f"{stem}.gz") if (folder / f).is_file()]
        if not found:
            raise DataError(f"{folder} has no {stem}[.gz]; an IDX folder must hold all four of "
                            f"{', '.join(IDX_FILENAMES)} (each optionally .gz)")
        paths.append(found[0])
    files = {p.name: sha256_file(p, gunzipped=p.suffix == ".gz") for p in paths}
    return _assemble(paths, files, name=name or folder.name, classes=classes)


def _assemble(paths: list[Path], files: dict[str, str], *, name: str, classes: list | None) -> ImageDataset:
    """Read train images, train labels, test images, test labels and check that they fit together."""
    arrays = [load_idx(p) for p in paths]
    for (images, labels), (image_path, label_path) in zip((arrays[:2], arrays[2:]), (paths[:2], paths[2:])):
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(f"{image_path} must hold uint8 images of shape (N, H, W); got {images.dtype} of shape "
                            f"{images.shape}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"{label_path} must hold integer labels of shape (N,); got {labels.dtype} of shape "
                            f"{labels.shape}")
        if len(images) != len(labels):
            raise DataError(f"{image_path.name} has {len(images)} images but {label_path.name} has {len(labels)} "
                            "labels; they must match")
    train, test = arrays[0], arrays[2]
    if train.shape[1:] != test.shape[1:]:
        raise DataError(f"train images are {train.shape[1]}x{train.shape[2]} but test images are "
                        f"{test.shape[1]}x{test.shape[2]} ({paths[0].name}, {paths[2].name}); they must match")
    x = np.concatenate([train, test])[:, None]  # (N, 1, H, W)
    y = np.concatenate([arrays[1], arrays[3]]).astype(np.int64)
    if classes is None:
        classes = list(range(int(y.max()) + 1)) if len(y) else []
    return ImageDataset(x=x, y=y, task="classification", name=name, classes=classes, files=files,
                        n_train=len(train))
