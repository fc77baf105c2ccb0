"""Data: the registry of pinned files and their resolution, splits, scalers and in-memory data sets.

Data sets return arrays and tensors and know nothing about models.
"""

from neuralab.data.datasets import LOADERS, ArrayDataset, load_dataset, load_digits
from neuralab.data.digit_images import load_digit_images, preprocess_digit, read_image
from neuralab.data.idx import load_idx, write_idx
from neuralab.data.images import (
    IDX_FILENAMES,
    ImageDataset,
    load_idx_folder,
    load_mnist,
)
from neuralab.data.registry import (
    DATASETS,
    DatasetInfo,
    RemoteFile,
    dataset_info,
    fetch,
    list_datasets,
    search_dirs,
    sha256_file,
)
from neuralab.data.scaling import (
    SCALERS,
    IdentityScaler,
    MinMaxScaler,
    RobustScaler,
    Standardizer,
    make_scaler,
)
from neuralab.data.splits import Split, cv_fold, kfold, split_indices
from neuralab.data.transforms import (
    Augment,
    elastic,
    normalize,
    random_rotation,
    random_shift,
    to_float,
)

__all__ = [
    "load_digit_images",
    "preprocess_digit",
    "read_image",
    "Augment",
    "IDX_FILENAMES",
    "ImageDataset",
    "elastic",
    "load_idx",
    "load_idx_folder",
    "load_mnist",
    "normalize",
    "random_rotation",
    "random_shift",
    "to_float",
    "write_idx",
    "DATASETS",
    "LOADERS",
    "SCALERS",
    "ArrayDataset",
    "DatasetInfo",
    "IdentityScaler",
    "MinMaxScaler",
    "RemoteFile",
    "RobustScaler",
    "Split",
    "Standardizer",
    "dataset_info",
    "fetch",
    "cv_fold",
    "kfold",
    "list_datasets",
    "load_dataset",
    "load_digits",
    "make_scaler",
    "search_dirs",
    "sha256_file",
    "split_indices",
]
