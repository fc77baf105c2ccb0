"""Tests for neuralab.data.registry: resolution order, checksums, offline errors and atomic downloads."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuralab.data import registry
from neuralab.data.registry import (
    DATASETS,
    DatasetInfo,
    fetch,
    list_datasets,
    search_dirs,
    sha256_file,
)
from neuralab.errors import DataError

from .conftest import PIXELS, TEXT, Env, sha, toy_info, write, write_toy

# ---------------------------------------------------------------------------------------------------------- registry


def test_registry_lists_every_required_dataset() -> None:
    expected = {"digits", "esol", "mnist", "movielens-100k", "airline-passengers", "daily-min-temperatures",
                "monthly-sunspots", "tinyshakespeare", "plato-republic"}
    assert expected <= set(DATASETS)
    assert [info.name for info in list_datasets()] == list(DATASETS)


@pytest.mark.parametrize("info", list(DATASETS.values()), ids=list(DATASETS))
def test_every_entry_is_pinned_by_https_url_and_sha256(info: DatasetInfo) -> None:
    assert info.citation and info.license and info.description and info.folder
    for remote in info.files:
        assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
        assert remote.url.startswith("https://") and remote.url.endswith("/" + remote.filename)
        if "raw.githubusercontent.com" in remote.url:  # pinned to a commit, never a moving branch
            assert re.search(r"/[0-9a-f]{40}/", remote.url)
    assert len({r.filename for r in info.files}) == len(info.files)


def test_mnist_checksums_are_of_decompressed_content() -> None:
    files = DATASETS["mnist"].files
    assert len(files) == 4 and all(r.gunzipped_sha256 for r in files)
    assert all(r.url.startswith("https://ossci-datasets.s3.amazonaws.com/mnist/") for r in files)


def test_unknown_dataset_lists_names_and_suggests_closest() -> None:
    with pytest.raises(DataError, match=r"unknown dataset 'mnsit' \(did you mean 'mnist'\?\); expected one of: .*esol"):
        fetch("mnsit")


def test_unknown_filename_lists_the_datasets_files(toy: DatasetInfo) -> None:
    with pytest.raises(DataError, match=r"no file 'table.cvs' \(did you mean 'table.csv'\?\).*pixels.gz"):
        fetch("toy", "table.cvs")


def test_embedded_dataset_has_nothing_to_fetch() -> None:
    assert DATASETS["digits"].files == ()
    with pytest.raises(DataError, match=r"'digits' is embedded.*load_dataset\('digits'\)"):
        fetch("digits")


# -------------------------------------------------------------------------------------------------------- resolution


def test_search_dirs_orders_data_dir_then_env_then_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURALAB_DATA", str(tmp_path / "shared"))
    monkeypatch.setenv("NEURALAB_CACHE", str(tmp_path / "cache"))
    assert search_dirs(tmp_path / "mine", "text/x") == [
        tmp_path / "mine", tmp_path / "mine" / "text/x", tmp_path / "shared" / "text/x", tmp_path / "cache" / "text/x",
    ]
    assert search_dirs(None, "esol") == [tmp_path / "shared" / "esol", tmp_path / "cache" / "esol"]


def test_search_dirs_defaults_to_home_cache_and_ignores_empty_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NEURALAB_DATA", "")
    monkeypatch.delenv("NEURALAB_CACHE", raising=False)
    assert search_dirs(folder="esol") == [tmp_path / ".cache" / "neuralab" / "esol"]


def test_data_dir_beats_env_beats_cache(tmp_path: Path, env: Env, toy: DatasetInfo,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURALAB_DATA", str(env.data))
    mine = tmp_path / "mine"
    for root in (mine, env.data, env.cache):
        write_toy(root / "toy")
    assert fetch("toy", "table.csv", data_dir=mine) == mine / "toy" / "table.csv"
    (mine / "toy" / "table.csv").unlink()
    assert fetch("toy", "table.csv", data_dir=mine) == env.data / "toy" / "table.csv"
    (env.data / "toy" / "table.csv").unlink()
    assert fetch("toy", "table.csv", data_dir=mine) == env.cache / "toy" / "table.csv"


def test_file_directly_in_data_dir_beats_its_folder(tmp_path: Path, env: Env, toy: DatasetInfo) -> None:
    write_toy(tmp_path / "toy")
    write(tmp_path / "table.csv", TEXT)
    assert fetch("toy", "table.csv", data_dir=tmp_path) == tmp_path / "table.csv"
    assert fetch("toy", "pixels.gz", data_dir=tmp_path) == tmp_path / "toy" / "pixels.gz"


def test_fetch_all_returns_the_folder(env: Env, toy: DatasetInfo) -> None:
    write_toy(env.cache / "toy")
    assert fetch("toy") == env.cache / "toy"


def test_fetch_all_refuses_files_split_between_folders(tmp_path: Path, env: Env, toy: DatasetInfo) -> None:
    write(tmp_path / "table.csv", TEXT)
    write_toy(env.cache / "toy")
    with pytest.raises(DataError, match=r"split between .*put all of table.csv, pixels.gz in one folder"):
        fetch("toy", data_dir=tmp_path)


def test_missing_data_dir_is_an_error(tmp_path: Path, env: Env, toy: DatasetInfo) -> None:
    with pytest.raises(DataError, match=r"data_dir '.*nowhere' is not an existing folder"):
        fetch("toy", "table.csv", data_dir=tmp_path / "nowhere")


def test_nested_folder_resolves_under_every_root(tmp_path: Path, env: Env, dead_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.DATASETS, "toy", toy_info(dead_url, folder="text/toy"))
    monkeypatch.setenv("NEURALAB_DATA", str(env.data))
    write_toy(env.data / "text" / "toy")
    assert fetch("toy", "pixels.gz") == env.data / "text" / "toy" / "pixels.gz"


# ----------------------------------------------------------------------------------------------------------- offline


def test_offline_error_names_file_places_url_and_where_to_put_it(tmp_path: Path, env: Env,
                                                                  toy: DatasetInfo) -> None:
    cache = env.cache / "toy"
    with pytest.raises(DataError) as caught:
        fetch("toy", "table.csv", data_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("table.csv of dataset 'toy' not found in ")
    assert str(tmp_path / "toy") in message and str(cache) in message
    assert f"download from {toy.files[0].url} failed (" in message
    assert f"put table.csv in {cache}/ or pass --data-dir" in message
    assert not any(cache.iterdir())  # no partial file left behind


def test_download_false_never_touches_the_network(env: Env, toy: DatasetInfo,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("urlopen called with download=False")

    monkeypatch.setattr(registry.urllib.request, "urlopen", no_network)
    with pytest.raises(DataError, match=r"download=False, so http://127\.0\.0\.1:\d+/pixels\.gz was not tried; "
                                        r"put pixels\.gz in .*toy/"):
        fetch("toy", "pixels.gz", download=False)


def test_timeout_reason_is_reported(env: Env, toy: DatasetInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    def timeout(*args: object, **kwargs: object) -> None:
        raise TimeoutError("timed out")

    monkeypatch.setattr(registry.urllib.request, "urlopen", timeout)
    with pytest.raises(DataError, match=r"table\.csv failed \(timed out\)"):
        fetch("toy", "table.csv")


# --------------------------------------------------------------------------------------------------------- checksums


def test_sha256_file_hashes_raw_and_decompressed_content(tmp_path: Path) -> None:
    path = write(tmp_path / "x.gz", gzip.compress(PIXELS))
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_file(path, gunzipped=True) == sha(PIXELS)


def test_sha256_file_of_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot read .*absent\.csv"):
        sha256_file(tmp_path / "absent.csv")


def test_corrupt_file_names_the_file_both_checksums_and_the_fix(env: Env, toy: DatasetInfo) -> None:
    path = write(env.cache / "toy" / "table.csv", TEXT.replace(b"3", b"8"))
    actual = sha(path.read_bytes())
    with pytest.raises(DataError, match=(
        rf"{re.escape(str(path))} is corrupt or truncated: sha256 {actual} \({len(TEXT)} bytes\), "
        rf"expected {toy.files[0].sha256}; delete it"
    )):
        fetch("toy", "table.csv")


def test_truncated_file_is_reported_with_its_size(env: Env, toy: DatasetInfo) -> None:
    write(env.cache / "toy" / "table.csv", TEXT[:7])
    with pytest.raises(DataError, match=r"table\.csv is corrupt or truncated: sha256 [0-9a-f]{64} \(7 bytes\)"):
        fetch("toy", "table.csv")


def test_truncated_gzip_is_a_data_error_naming_the_file(env: Env, toy: DatasetInfo) -> None:
    whole = gzip.compress(PIXELS)
    write(env.cache / "toy" / "pixels.gz", whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"pixels\.gz is not a complete gzip file .*corrupt or truncated"):
        fetch("toy", "pixels.gz")


def test_non_gzip_file_is_a_data_error_naming_the_file(env: Env, toy: DatasetInfo) -> None:
    write(env.cache / "toy" / "pixels.gz", b"<html>not found</html>")
    with pytest.raises(DataError, match=r"pixels\.gz is not a complete gzip file"):
        fetch("toy", "pixels.gz")


def test_gzip_with_other_content_reports_decompressed_checksum(env: Env, toy: DatasetInfo) -> None:
    write(env.cache / "toy" / "pixels.gz", gzip.compress(PIXELS[:-1]))
    with pytest.raises(DataError, match=r"pixels\.gz is corrupt or truncated: decompressed sha256"):
        fetch("toy", "pixels.gz")


def test_recompressed_gzip_with_same_content_verifies(env: Env, toy: DatasetInfo) -> None:
    write(env.cache / "toy" / "pixels.gz", gzip.compress(PIXELS, compresslevel=1, mtime=12345))
    assert fetch("toy", "pixels.gz") == env.cache / "toy" / "pixels.gz"


def test_corrupt_copy_is_reported_not_skipped(tmp_path: Path, env: Env, toy: DatasetInfo) -> None:
    write(tmp_path / "table.csv", b"wrong")
    write_toy(env.cache / "toy")
    with pytest.raises(DataError, match="corrupt or truncated"):
        fetch("toy", "table.csv", data_dir=tmp_path)


# --------------------------------------------------------------------------------------------------------- downloads


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on a free port serving a temporary folder: (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_download_over_http_writes_verified_files_into_cache(env: Env, server: tuple[str, Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, root = server
    monkeypatch.setitem(registry.DATASETS, "toy", toy_info(url))
    write_toy(root)
    folder = fetch("toy")
    assert folder == env.cache / "toy"
    assert (folder / "table.csv").read_bytes() == TEXT
    assert gzip.decompress((folder / "pixels.gz").read_bytes()) == PIXELS
    assert sorted(os.listdir(folder)) == ["pixels.gz", "table.csv"]  # no temporary files left


def test_download_from_file_url(tmp_path: Path, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source"
    write_toy(source)
    monkeypatch.setitem(registry.DATASETS, "toy", toy_info(source.as_uri()))
    assert fetch("toy", "table.csv") == env.cache / "toy" / "table.csv"
    assert (env.cache / "toy" / "table.csv").read_bytes() == TEXT


def test_wrong_download_is_not_kept(env: Env, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, root = server
    monkeypatch.setitem(registry.DATASETS, "toy", toy_info(url))
    write(root / "table.csv", TEXT[:-3])  # the server sends a truncated file
    with pytest.raises(DataError, match=r"table\.csv downloaded from http://.* has sha256 .*was not kept"):
        fetch("toy", "table.csv")
    assert list((env.cache / "toy").iterdir()) == []


def test_truncated_gzip_download_is_not_kept(env: Env, server: tuple[str, Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, root = server
    monkeypatch.setitem(registry.DATASETS, "toy", toy_info(url))
    write(root / "pixels.gz", gzip.compress(PIXELS)[:40])
    with pytest.raises(DataError, match=r"pixels\.gz downloaded from .*not a complete gzip file.*was not kept"):
        fetch("toy", "pixels.gz")
    assert list((env.cache / "toy").iterdir()) == []


def test_http_404_is_reported(env: Env, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = server
    monkeypatch.setitem(registry.DATASETS, "toy", toy_info(url))
    with pytest.raises(DataError, match=r"table\.csv failed \(HTTP 404 .*\); put table\.csv in"):
        fetch("toy", "table.csv")


def test_interrupted_download_leaves_nothing(env: Env, toy: DatasetInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def __enter__(self) -> Broken:
            return self

        def __exit__(self, *args: object) -> None:
            pass

        def read(self, size: int) -> bytes:
            raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(registry.urllib.request, "urlopen", lambda *a, **k: Broken())
    with pytest.raises(DataError, match=r"failed \(connection reset by peer\)"):
        fetch("toy", "table.csv")
    assert list((env.cache / "toy").iterdir()) == []


# ------------------------------------------------------------------------------------------------------- real mirror


def _mirror() -> Path | None:
    """The real data mirror: $NEURALAB_DATA, else shared/data beside the repository; None when absent."""
    candidates = [os.environ.get("NEURALAB_DATA"), Path(__file__).resolve().parents[3] / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "esol").is_dir():
            return Path(candidate)
    return None


MIRROR = _mirror()
REAL_FILES = [(info.name, r.filename) for info in DATASETS.values() for r in info.files]


@pytest.mark.skipif(MIRROR is None, reason="the real data mirror (shared/data or $NEURALAB_DATA) is absent")
@pytest.mark.parametrize(("name", "filename"), REAL_FILES, ids=[f"{n}/{f}" for n, f in REAL_FILES])
def test_every_registered_file_verifies_against_the_real_mirror(name: str, filename: str, env: Env) -> None:
    assert MIRROR is not None
    path = fetch(name, filename, data_dir=MIRROR, download=False)
    assert path == MIRROR / DATASETS[name].folder / filename
