"""The data-set registry and file resolution: local folder, environment, cache, then download, always checked by sha256.

Every data file neuralab reads is pinned by URL and sha256 in :data:`DATASETS`. :func:`fetch` finds a file in this
order and verifies it wherever it is found:

1. ``data_dir`` (the ``--data-dir`` flag): the file directly in it, or in ``data_dir/<folder>``;
2. ``$NEURALAB_DATA/<folder>``, a shared read-only mirror laid out by folder;
3. the cache ``~/.cache/neuralab/<folder>`` (root overridable with ``$NEURALAB_CACHE``);
4. a download from the pinned URL into the cache: written to a temporary file in the same folder, verified, then
   renamed into place, so an interrupted or wrong download never leaves a file behind.

Offline, a missing file is a one-line :class:`~neuralab.errors.DataError` that says what was searched, why the
download failed and where to put the file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from neuralab.errors import DataError, did_you_mean

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "RemoteFile",
    "dataset_info",
    "fetch",
    "list_datasets",
    "search_dirs",
    "sha256_file",
]

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 20  # 1 MiB: hash and copy in bounded memory, even for MNIST's 47 MB of decompressed pixels


@dataclass(frozen=True)
class RemoteFile:
    """One pinned file of a data set.

    Parameters
    ----------
    filename : str
        The file's name, the same in every searched folder.
    url : str
        The canonical download URL (pinned to a commit where the host allows it).
    sha256 : str
        Hex sha256 of the file, or of its decompressed content when ``gunzipped_sha256`` is True.
    gunzipped_sha256 : bool, default False
        Check the content after gunzip. Needed for MNIST, whose local train-images ``.gz`` is a faithful
        re-compression of the official pixels with a different ``.gz`` checksum.
    """

    filename: str
    url: str
    sha256: str
    gunzipped_sha256: bool = False


@dataclass(frozen=True)
class DatasetInfo:
    """A registered data set: where its files live under a data root, and how to cite it.

    ``folder`` is the sub-path under any data root (``esol``, ``text/tinyshakespeare`` ...). A data set with
    ``files=()`` is embedded in a dependency (``digits`` ships with scikit-learn) and has nothing to fetch.
    """

    name: str
    description: str
    folder: str
    files: tuple[RemoteFile, ...]
    citation: str
    license: str


_GH = "https://raw.githubusercontent.com"
_HIPS = f"{_GH}/HIPS/neural-fingerprint/d26dae3a293a736261fee307b28b37e548c5f218/data/2015-05-24-delaney"
_BROWNLEE = f"{_GH}/jbrownlee/Datasets/d20fcb6402ae34e653d4513b00f39257bb37ed7f"
_CHAR_RNN = f"{_GH}/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare"
_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist"  # the mirror torchvision downloads from
_ML100K = "https://files.grouplens.org/datasets/movielens/ml-100k"
_BROWNLEE_LICENSE = "none stated in jbrownlee/Datasets; a long-public classic series"


def _timeseries(name: str, description: str, sha256: str, citation: str) -> DatasetInfo:
    """A one-file series from jbrownlee/Datasets, kept in the shared ``timeseries`` folder."""
    filename = f"{name}.csv"
    return DatasetInfo(name, description, "timeseries", (RemoteFile(filename, f"{_BROWNLEE}/{filename}", sha256),),
                       citation, _BROWNLEE_LICENSE)


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        name="digits",
        description="8x8 handwritten digits, 1797 images, pixel values 0-16, classes 0-9. Embedded: scikit-learn "
                    "ships it, so there is nothing to fetch; load it with load_dataset('digits').",
        folder="digits",
        files=(),
        citation="E. Alpaydin and C. Kaynak, Optical Recognition of Handwritten Digits, UCI Machine Learning "
                 "Repository, 1998, doi:10.24432/C50P49",
        license="CC BY 4.0 (UCI)",
    ),
    "esol": DatasetInfo(
        name="esol",
        description="ESOL (Delaney) aqueous solubility: 1128 molecules as SMILES with measured log10 solubility "
                    "in mol/L (target 'measured log solubility in mols per litre').",
        folder="esol",
        files=(RemoteFile("delaney-processed.csv", f"{_HIPS}/delaney-processed.csv",
                          "8c06a76f0c6487d29ab0f903e6a7a7139f189ab3c1178f159c8be8964602f189"),),
        citation="J. S. Delaney, ESOL: Estimating Aqueous Solubility Directly from Molecular Structure, J. Chem. "
                 "Inf. Comput. Sci. 44(3), 1000-1005, 2004, doi:10.1021/ci034243x; processed by Duvenaud et al., "
                 "NIPS 2015",
        license="MIT (HIPS/neural-fingerprint); data from the paper's supporting information",
    ),
    "mnist": DatasetInfo(
        name="mnist",
        description="MNIST handwritten digits: 60000 train and 10000 test 28x28 uint8 images in gzipped IDX. "
                    "Checksums are of the decompressed content.",
        folder="mnist",
        files=tuple(RemoteFile(f, f"{_MNIST}/{f}", sha256, gunzipped_sha256=True) for f, sha256 in (
            ("train-images-idx3-ubyte.gz", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            ("train-labels-idx1-ubyte.gz", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            ("t10k-images-idx3-ubyte.gz", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            ("t10k-labels-idx1-ubyte.gz", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        )),
        citation="Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, Gradient-based learning applied to document "
                 "recognition, Proc. IEEE 86(11), 1998",
        license="none on the original page; commonly cited as CC BY-SA 3.0 (LeCun and Cortes)",
    ),
    "movielens-100k": DatasetInfo(
        name="movielens-100k",
        description="MovieLens 100K: 100000 ratings (1-5) by 943 users on 1682 movies, with its own splits "
                    "u1-u5 (5-fold) and ua/ub (10 test ratings per user). u.item is Latin-1.",
        folder="movielens-100k",
        files=tuple(RemoteFile(filename, f"{_ML100K}/{filename}", sha256) for filename, sha256 in (
            ("u.data", "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
            ("u.item", "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
            ("u.user", "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
            ("u.genre", "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb"),
            ("u1.base", "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a"),
            ("u1.test", "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950"),
            ("u2.base", "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e"),
            ("u2.test", "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3"),
            ("u3.base", "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d"),
            ("u3.test", "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d"),
            ("u4.base", "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca"),
            ("u4.test", "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9"),
            ("u5.base", "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485"),
            ("u5.test", "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634"),
            ("ua.base", "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2"),
            ("ua.test", "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42"),
            ("ub.base", "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881"),
            ("ub.test", "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da"),
        )),
        citation="F. M. Harper and J. A. Konstan, The MovieLens Datasets: History and Context, ACM TiiS 5(4), "
                 "Article 19, 2015",
        license="GroupLens research-only usage licence: no redistribution, no commercial use; acknowledge the data",
    ),
    "airline-passengers": _timeseries(
        "airline-passengers",
        "Monthly international airline passengers in thousands, 1949-01 to 1960-12 (144 months).",
        "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
        "G. E. P. Box and G. M. Jenkins, Time Series Analysis: Forecasting and Control, 1976, Series G",
    ),
    "daily-min-temperatures": _timeseries(
        "daily-min-temperatures",
        "Daily minimum temperatures in Melbourne in degrees C, 1981-1990 (3650 days; 31 Dec of 1984 and 1988 "
        "are missing).",
        "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da",
        "Australian Bureau of Meteorology, via R. Hyndman's Time Series Data Library",
    ),
    "monthly-sunspots": _timeseries(
        "monthly-sunspots",
        "Zurich monthly sunspot numbers, 1749-01 to 1983-12 (2820 months).",
        "c4ec8cc57d9f6fb6ecdb3e1f37f25b6f4badd5124c55931052b0cd2fc3bc71f3",
        "D. F. Andrews and A. M. Herzberg, Data, Springer, 1985",
    ),
    "tinyshakespeare": DatasetInfo(
        name="tinyshakespeare",
        description="Tiny Shakespeare: 1.1 MB of ASCII text (65 distinct characters), the char-RNN corpus.",
        folder="text/tinyshakespeare",
        files=(RemoteFile("input.txt", f"{_CHAR_RNN}/input.txt",
                          "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),),
        citation="A. Karpathy, char-rnn, 2015, https://github.com/karpathy/char-rnn",
        license="public domain text; repository MIT",
    ),
    "plato-republic": DatasetInfo(
        name="plato-republic",
        description="Plato, The Republic, tr. B. Jowett (Project Gutenberg #1497), 1.2 MB of ASCII text with the "
                    "Gutenberg header and footer kept.",
        folder="text/plato-republic",
        files=(RemoteFile("republic.txt", f"{_BROWNLEE}/republic.txt",
                          "fd025e38db153a7223aa0e6f1eb85076280784d13bcc4807bfa3b3f79858bed6"),),
        citation="Plato, The Republic, translated by B. Jowett, Project Gutenberg EBook #1497",
        license="public domain in the USA; Project Gutenberg licence kept in the file",
    ),
}


def list_datasets() -> list[DatasetInfo]:
    """Return the registered data sets, in registry order."""
    return list(DATASETS.values())


def dataset_info(name: str) -> DatasetInfo:
    """Return the registry entry for ``name``.

    Raises
    ------
    DataError
        When ``name`` is not registered; the message lists the names and suggests the closest.
    """
    if name not in DATASETS:
        raise DataError(
            f"unknown dataset {name!r}{did_you_mean(str(name), DATASETS)}; expected one of: {', '.join(DATASETS)}"
        )
    return DATASETS[name]


def search_dirs(data_dir: str | Path | None = None, folder: str = "") -> list[Path]:
    """Return the folders searched for a data set's files, in order; the last one is the cache.

    This is the one place that reads the environment:

    - ``data_dir`` itself, then ``data_dir/<folder>`` (when ``data_dir`` is given);
    - ``$NEURALAB_DATA/<folder>`` (when the variable is set and not empty);
    - ``$NEURALAB_CACHE/<folder>``, by default ``~/.cache/neuralab/<folder>``: where downloads are written.

    Parameters
    ----------
    data_dir : str or Path, optional
        A folder given by the user (``--data-dir``).
    folder : str, default ""
        The data set's sub-path (:attr:`DatasetInfo.folder`); empty gives the roots.

    Returns
    -------
    list of Path
        Distinct folders, ``~`` expanded, whether or not they exist.
    """
    dirs: list[Path] = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        dirs += [root, root / folder]
    if env_data := os.environ.get("NEURALAB_DATA"):
        dirs.append(Path(env_data).expanduser() / folder)
    cache_root = os.environ.get("NEURALAB_CACHE") or "~/.cache/neuralab"
    dirs.append(Path(cache_root).expanduser() / folder)
    return list(dict.fromkeys(dirs))  # drops data_dir/"" == data_dir and other repeats, keeping the order


def sha256_file(path: str | Path, *, gunzipped: bool = False) -> str:
    """Return the hex sha256 of a file, read in chunks; of its decompressed content when ``gunzipped``.

    Raises
    ------
    DataError
        When the file cannot be read, or ``gunzipped`` is set and the file is not valid or complete gzip.
    """
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") if gunzipped else open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(
            f"{path} is not a complete gzip file ({_size(path)}; {e}); it is corrupt or truncated: delete it and "
            "fetch it again, or replace it with a good copy"
        ) from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    return digest.hexdigest()


def fetch(name: str, filename: str | None = None, *, data_dir: str | Path | None = None,
          download: bool = True) -> Path:
    """Find, download if needed, and verify a registered data file.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`, such as ``"esol"`` or ``"mnist"``.
    filename : str, optional
        One of the data set's files. ``None`` fetches all of them and returns their folder.
    data_dir : str or Path, optional
        A folder searched first, for the file itself or for ``<folder>/<file>``.
    download : bool, default True
        Try the pinned URL when no local copy exists. The download goes to the cache.

    Returns
    -------
    Path
        The verified file, or with ``filename=None`` the folder holding all the files.

    Raises
    ------
    DataError
        For an unknown data set or file name, a missing ``data_dir``, a file whose sha256 does not match (corrupt
        or truncated), a failed download with no local copy, or an embedded data set that has no files.

    Examples
    --------
    >>> path = fetch("esol", "delaney-processed.csv", data_dir="~/data")  # doctest: +SKIP
    """
    info = dataset_info(name)
    if not info.files:
        raise DataError(f"dataset {name!r} is embedded and has no files to fetch; load it with "
                        f"neuralab.data.load_dataset({name!r})")
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise DataError(f"data_dir {str(data_dir)!r} is not an existing folder; create it, fix the path, or leave "
                        "it out to use $NEURALAB_DATA and the cache")
    dirs = search_dirs(data_dir, info.folder)
    if filename is not None:
        return _fetch_one(info, _remote_file(info, filename), dirs, download)
    paths = [_fetch_one(info, remote, dirs, download) for remote in info.files]
    parents = list(dict.fromkeys(p.parent for p in paths))
    if len(parents) > 1:
        raise DataError(
            f"the files of dataset {name!r} are split between {', '.join(map(str, parents))}; put all of "
            f"{', '.join(r.filename for r in info.files)} in one folder, or fetch them one by one with "
            f"fetch({name!r}, filename)"
        )
    return parents[0]


def _remote_file(info: DatasetInfo, filename: str) -> RemoteFile:
    """The entry for ``filename`` in ``info``, or a DataError listing the data set's files."""
    names = [r.filename for r in info.files]
    for remote in info.files:
        if remote.filename == filename:
            return remote
    raise DataError(f"dataset {info.name!r} has no file {filename!r}{did_you_mean(str(filename), names)}; "
                    f"expected one of: {', '.join(names)}")


def _fetch_one(info: DatasetInfo, remote: RemoteFile, dirs: list[Path], download: bool) -> Path:
    """Return the first verified copy of ``remote`` in ``dirs``, downloading into ``dirs[-1]`` when none exists."""
    for folder in dirs:
        path = folder / remote.filename
        if path.is_file():
            _verify(path, remote)
            log.debug("using %s", path)
            return path
    cache = dirs[-1]
    if not download:
        reason = f"download=False, so {remote.url} was not tried"
    else:
        try:
            return _download(remote, cache)
        except (OSError, http.client.HTTPException) as e:
            reason = f"download from {remote.url} failed ({_reason(e)})"
    raise DataError(
        f"{remote.filename} of dataset {info.name!r} not found in {', '.join(map(str, dirs))}; {reason}; "
        f"put {remote.filename} in {cache}/ or pass --data-dir DIR (or set NEURALAB_DATA) to a folder that holds it"
    )


def _verify(path: Path, remote: RemoteFile, source: str | None = None) -> None:
    """Raise a DataError unless ``path`` has the pinned sha256; ``source`` names a download's URL."""
    try:
        actual = sha256_file(path, gunzipped=remote.gunzipped_sha256)
    except DataError:
        if source is None:
            raise
        actual = "unknown (not a complete gzip file)"
    if actual == remote.sha256:
        return
    what = "decompressed sha256" if remote.gunzipped_sha256 else "sha256"
    if source is None:
        raise DataError(
            f"{path} is corrupt or truncated: {what} {actual} ({_size(path)}), expected {remote.sha256}; delete it "
            f"so that it is fetched again, or replace it with the file from {remote.url}"
        )
    raise DataError(
        f"{remote.filename} downloaded from {source} has {what} {actual} ({_size(path)}), expected "
        f"{remote.sha256}: the download is corrupt or truncated and was not kept; try again, or put the right file "
        f"in {path.parent}/"
    )


def _download(remote: RemoteFile, folder: Path) -> Path:
    """Download ``remote`` into ``folder`` atomically: temp file, verify, rename; nothing is left on failure."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{remote.filename}.", suffix=".part")
    except OSError as e:
        raise OSError(f"cannot write to {folder}: {e.strerror or e}; set NEURALAB_CACHE to a writable folder") from e
    tmp = Path(tmp_name)
    log.info("downloading %s to %s", remote.url, folder)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
        _verify(tmp, remote, source=remote.url)
        path = folder / remote.filename
        os.replace(tmp, path)  # atomic on one file system: readers see no file or the whole verified file
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _reason(error: BaseException) -> str:
    """A short, one-line reason for a failed download."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _size(path: Path) -> str:
    """The size of ``path`` in bytes, for messages."""
    try:
        return f"{path.stat().st_size} bytes"
    except OSError:
        return "size unknown"
