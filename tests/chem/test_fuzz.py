"""Property tests for the molecule CSV reader: any bytes either load or raise a DataError, never another exception or
a hang, from pure random bytes and from near-valid CSVs whose cells look like SMILES and numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuralab.chem import MoleculeDataset, load_molecule_csv
from neuralab.errors import DataError

FUZZ = settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
SMILES_ALPHABET = "CNOSPFIBrcnos()[]=#@+-.123456789%/\\H*: "
COLUMNS = st.sampled_from([("smiles", None), ("smiles", "y"), ("SMILES", "logS")])

# A warning (numpy's overflow in a cast, say) is a silent wrong value: here it fails the example.
pytestmark = pytest.mark.filterwarnings("error")

@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for a test's examples (hypothesis runs them all inside one call of the test)."""
    return tmp_path_factory.mktemp("fuzz")


def loads_or_data_error(path: Path, data: bytes, smiles_column: str, target_column: str | None) -> None:
    """Write ``data`` to ``path`` and load it: a consistent data set, or a one-line DataError."""
    path.write_bytes(data)
    try:
        ds = load_molecule_csv(path, smiles_column=smiles_column, target_column=target_column)
    except DataError as e:
        assert "\n" not in str(e), str(e)
        return
    assert isinstance(ds, MoleculeDataset) and len(ds) > 0
    assert all((m is None) != (e is None) for m, e in zip(ds.mols, ds.errors))
    assert all("\n" not in e for e in ds.errors if e is not None)
    if target_column is not None:
        assert ds.y is not None and not np.isinf(ds.y).any()


SMILES = st.one_of(
    st.text(alphabet=SMILES_ALPHABET, max_size=40),
    st.sampled_from(["CCO", "c1ccccc1", "C1CC", "[Na+].[Cl-]", "C" * 600, "c" * 3000, "*" * 700, "[H]", " ", "",
                     "CC(=O)[O-].[Na+]", "C(C)(C)(C)(C)C", '"CCO"', '"C,C"']),
)
TARGETS = st.one_of(st.floats().map(repr), st.integers(-1000, 1000).map(str),
                    st.sampled_from(["", "NA", "nan", "-", "inf", "x", "1e999", "-1e39", " 2 "]), st.text(max_size=5))


@st.composite
def molecule_csvs(draw: st.DrawFn, smiles_column: str, target_column: str | None) -> bytes:
    """A header naming the columns (or a near miss, or none), then rows of SMILES-like and numeric cells, some
    short, some long, some with extra fields, joined by random newlines and led by an optional byte-order mark."""
    header = [smiles_column] + ([target_column] if target_column else []) + draw(st.sampled_from([[], ["name"]]))
    header = draw(st.sampled_from([header, header, header, header[::-1], [c.upper() for c in header], header[:1]]))
    rows = []
    for _ in range(draw(st.integers(0, 6) | st.integers(1, 3))):
        row = [draw(SMILES) if col.lower() == "smiles" else draw(TARGETS) for col in header]
        rows.append(draw(st.sampled_from([row, row, row, row[:-1], row + ["extra"]])))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(",".join(row) for row in [header, *rows]) + newline
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + text.encode("utf-8", errors="surrogatepass")


@FUZZ
@given(data=st.binary(max_size=2000), columns=COLUMNS)
def test_any_bytes_load_as_molecules_or_raise_data_error(folder: Path, data: bytes,
                                                         columns: tuple[str, str | None]) -> None:
    loads_or_data_error(folder / "any.csv", data, *columns)


@FUZZ
@given(data=st.data(), columns=COLUMNS)
def test_near_valid_molecule_csvs_load_or_raise_data_error(folder: Path, data: st.DataObject,
                                                          columns: tuple[str, str | None]) -> None:
    loads_or_data_error(folder / "near.csv", data.draw(molecule_csvs(*columns)), *columns)
