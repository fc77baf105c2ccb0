"""Tests for neuralab.data.images: MNIST-like IDX folders, and the real MNIST when the mirror is present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from neuralab.data.datasets import ArrayDataset
from neuralab.data.idx import write_idx
from neuralab.data.images import (
    IDX_FILENAMES,
    ImageDataset,
    load_idx_folder,
    load_mnist,
)
from neuralab.data.registry import sha256_file
from neuralab.errors import DataError


def _write_folder(folder: Path, *, n_train: int = 12, n_test: int = 5, size: tuple[int, int] = (6, 7),
                  gz: bool = True) -> dict[str, np.ndarray]:
    """Write a tiny MNIST-like folder (the train labels count 0..3 cyclically) and return its arrays."""
    rng = np.random.default_rng(0)
    arrays = {
        IDX_FILENAMES[0]: rng.integers(0, 256, (n_train, *size), dtype=np.uint8),
        IDX_FILENAMES[1]: (np.arange(n_train) % 4).astype(np.uint8),
        IDX_FILENAMES[2]: rng.integers(0, 256, (n_test, *size), dtype=np.uint8),
        IDX_FILENAMES[3]: (np.arange(n_test) % 4).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_idx(folder / (f"{stem}.gz" if gz else stem), array)
    return arrays


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_folder_loads_train_then_test_as_uint8_nchw(tmp_path: Path, gz: bool) -> None:
    arrays = _write_folder(tmp_path / "fashion", gz=gz)
    ds = load_idx_folder(tmp_path / "fashion")
    assert isinstance(ds, ArrayDataset) and isinstance(ds, ImageDataset)
    assert ds.name == "fashion" and ds.task == "classification" and ds.classes == [0, 1, 2, 3]
    assert ds.x.shape == (17, 1, 6, 7) and ds.x.dtype == np.uint8
    assert ds.y is not None and ds.y.shape == (17,) and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train[:, 0], arrays[IDX_FILENAMES[0]])
    np.testing.assert_array_equal(ds.y_train, arrays[IDX_FILENAMES[1]])
    np.testing.assert_array_equal(ds.x_test[:, 0], arrays[IDX_FILENAMES[2]])
    np.testing.assert_array_equal(ds.y_test, arrays[IDX_FILENAMES[3]])
    split = ds.predefined_split
    np.testing.assert_array_equal(split.train, np.arange(12))
    np.testing.assert_array_equal(split.test, np.arange(12, 17))
    assert split.val.size == 0 and split.train.dtype == np.int64


def test_idx_folder_records_the_decompressed_sha256_of_each_file(tmp_path: Path) -> None:
    _write_folder(tmp_path / "gz")
    _write_folder(tmp_path / "raw", gz=False)
    gz, raw = load_idx_folder(tmp_path / "gz"), load_idx_folder(tmp_path / "raw")
    assert list(gz.files) == [f"{stem}.gz" for stem in IDX_FILENAMES] and list(raw.files) == list(IDX_FILENAMES)
    assert list(gz.files.values()) == list(raw.files.values())  # same content, so the same checksum
    assert raw.files[IDX_FILENAMES[0]] == sha256_file(tmp_path / "raw" / IDX_FILENAMES[0])


def test_idx_folder_takes_a_name_and_class_names(tmp_path: Path) -> None:
    _write_folder(tmp_path / "f")
    ds = load_idx_folder(tmp_path / "f", name="fashion-mnist", classes=["a", "b", "c", "d"])
    assert ds.name == "fashion-mnist" and ds.classes == ["a", "b", "c", "d"]


def test_missing_file_lists_the_four_expected_names(tmp_path: Path) -> None:
    _write_folder(tmp_path / "f")
    (tmp_path / "f" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"has no t10k-labels-idx1-ubyte\[\.gz\]; an IDX folder must hold all four of "
                                        r"train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                                        r"t10k-labels-idx1-ubyte"):
        load_idx_folder(tmp_path / "f")


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    _write_folder(tmp_path / "f")
    write_idx(tmp_path / "f" / "train-labels-idx1-ubyte.gz", np.zeros(11, dtype=np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz has 12 images but train-labels-idx1-ubyte.gz "
                                        r"has 11 labels"):
        load_idx_folder(tmp_path / "f")


def test_train_and_test_image_sizes_must_agree(tmp_path: Path) -> None:
    _write_folder(tmp_path / "f")
    write_idx(tmp_path / "f" / "t10k-images-idx3-ubyte.gz", np.zeros((5, 6, 6), dtype=np.uint8))
    with pytest.raises(DataError, match=r"train images are 6x7 but test images are 6x6"):
        load_idx_folder(tmp_path / "f")


def test_images_must_be_uint8_stacks(tmp_path: Path) -> None:
    _write_folder(tmp_path / "f")
    write_idx(tmp_path / "f" / "train-images-idx3-ubyte.gz", np.zeros((12, 42), dtype=np.uint8))
    with pytest.raises(DataError, match=r"must hold uint8 images of shape \(N, H, W\); got uint8 of shape \(12, 42\)"):
        load_idx_folder(tmp_path / "f")


def test_image_dataset_checks_n_train() -> None:
    with pytest.raises(DataError, match=r"toy: n_train must be in 1..3 \(the number of rows\); got 4"):
        ImageDataset(x=np.zeros((3, 1, 2, 2), np.uint8), y=np.zeros(3, np.int64), task="classification",
                     name="toy", n_train=4)


# ------------------------------------------------------------------------------------------------------- real mirror


def _mnist_mirror() -> Path | None:
    """The shared data mirror ($NEURALAB_DATA, else shared/data beside the repository) when it holds mnist/."""
    for candidate in (os.environ.get("NEURALAB_DATA"), Path(__file__).resolve().parents[3] / "shared" / "data"):
        if candidate and (Path(candidate) / "mnist").is_dir():
            return Path(candidate)
    return None


MIRROR = _mnist_mirror()


@pytest.fixture(scope="module")
def mnist() -> ImageDataset:
    """The real MNIST, loaded once for the module."""
    if MIRROR is None:
        pytest.skip("the real data mirror with mnist/ (shared/data or $NEURALAB_DATA) is absent")
    return load_mnist(data_dir=MIRROR)


def test_mnist_has_the_published_split_sizes_and_types(mnist: ImageDataset) -> None:
    assert mnist.name == "mnist" and mnist.classes == list(range(10)) and len(mnist) == 70000
    assert mnist.x.shape == (70000, 1, 28, 28) and mnist.x.dtype == np.uint8
    assert mnist.x_train.shape == (60000, 1, 28, 28) and mnist.x_test.shape == (10000, 1, 28, 28)
    assert len(mnist.predefined_split.train) == 60000 and len(mnist.predefined_split.test) == 10000
    assert mnist.x.min() == 0 and mnist.x.max() == 255


def test_mnist_label_counts_match_the_documented_ones(mnist: ImageDataset) -> None:
    assert np.bincount(mnist.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_records_the_registry_checksums(mnist: ImageDataset) -> None:
    assert sorted(mnist.files) == sorted(f"{stem}.gz" for stem in IDX_FILENAMES)
    assert mnist.files["t10k-labels-idx1-ubyte.gz"] == sha256_file(MIRROR / "mnist" / "t10k-labels-idx1-ubyte.gz",
                                                                   gunzipped=True)


def test_idx_folder_on_the_mirror_equals_load_mnist(mnist: ImageDataset) -> None:
    assert MIRROR is not None
    folder = load_idx_folder(MIRROR / "mnist")
    np.testing.assert_array_equal(folder.y, mnist.y)  # type: ignore[arg-type]
    assert folder.files == mnist.files and folder.n_train == 60000
