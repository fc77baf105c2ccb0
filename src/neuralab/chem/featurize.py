"""Molecular feature vectors: Morgan fingerprints (bits or counts), RDKit 2D descriptors and MACCS keys.

:func:`featurize` turns molecules into one ``float32`` matrix, the blocks of ``config.kinds`` side by side:

- ``morgan``: ECFP-like bits of radius ``radius`` folded to ``n_bits`` (Rogers and Hahn 2010, "Extended-Connectivity
  Fingerprints", J. Chem. Inf. Model. 50(5)), from RDKit's fast ``rdFingerprintGenerator``;
- ``morgan_counts``: the same environments, counted instead of set, so every count is >= the bit;
- ``rdkit2d``: every descriptor in ``rdkit.Chem.Descriptors.descList`` (217 in RDKit 2026.09);
- ``maccs``: the 167 MACCS structural keys.

Descriptors are computed one by one, so that one that raises (``SPS`` of H2 divides by zero) or gives NaN or
infinity (``BCUT2D_*`` for metals, partial charges for atoms without Gasteiger parameters) becomes NaN in its cell
instead of failing the molecule. Huge but finite values are kept: ``Ipc`` passes 1e13 on ESOL and grows without
bound with size; only values beyond the float32 range are clipped to its largest finite value. Scale descriptor
blocks with the ``robust`` scaler (:class:`neuralab.data.scaling.RobustScaler`), which clips outliers and maps NaN to
the median.

``Ipc`` and ``AvgIpc`` are NaN for molecules of more than :data:`IPC_MAX_ATOMS` heavy atoms. Both come from the
characteristic polynomial of the adjacency matrix, whose cost grows about as the fourth power of the size (0.02 s at
100 atoms, seconds at 150, minutes at 1,000) and whose coefficients then exceed double precision: ``AvgIpc`` of
n-alkanes climbs smoothly to 3.58 at 110 carbons and collapses to 1.40 at 120, so beyond the cut-off the values are
noise anyway. Every other descriptor together takes about a second at 500 heavy atoms
(:data:`neuralab.chem.standardize.MAX_HEAVY_ATOMS`).

With ``cache_dir`` the rows are cached on disk, keyed by the canonical SMILES and the configuration (RDKit's version
included, since descriptors change between releases). Each configuration has a folder of immutable ``.npz`` shards,
each holding ``keys`` (hashes of canonical SMILES) and ``x`` (their rows). A call reads every shard, computes only
the missing rows and adds them as one new shard, written to a temporary file and renamed into place; readers never
see a partial file, and concurrent writers write distinct shards. A shard that cannot be read is logged, deleted and
its rows recomputed. When a folder holds more than :data:`MAX_SHARDS` shards they are merged into one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import rdkit
from pydantic import BaseModel, ConfigDict, Field, field_validator
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import Descriptors, MACCSkeys, rdFingerprintGenerator

from neuralab.chem.standardize import MoleculeError, heavy_atoms, standardize
from neuralab.errors import DataError

__all__ = ["DESCRIPTOR_NAMES", "IPC_MAX_ATOMS", "MAX_SHARDS", "FeatureKind", "FeaturizerConfig", "feature_names",
           "featurize"]

log = logging.getLogger(__name__)

FeatureKind = Literal["morgan", "morgan_counts", "rdkit2d", "maccs"]
DESCRIPTOR_NAMES: list[str] = [name for name, _ in Descriptors.descList]
_DESCRIPTORS = [fn for _, fn in Descriptors.descList]
_MACCS_BITS = 167
_F32_MAX = float(np.finfo(np.float32).max)
MAX_SHARDS = 16
_CACHE_FORMAT = 2  # bump when the layout or a feature's definition changes (2: Ipc skipped on large molecules)
IPC_MAX_ATOMS = 100  # above this many heavy atoms Ipc and AvgIpc are NaN (see the module docstring)
_IPC = [j for j, name in enumerate(DESCRIPTOR_NAMES) if name in ("Ipc", "AvgIpc")]


class FeaturizerConfig(BaseModel):
    """Which features to compute, and the Morgan fingerprint's parameters.

    Parameters
    ----------
    kinds : list of {"morgan", "morgan_counts", "rdkit2d", "maccs"}, default ["morgan"]
        Feature blocks, concatenated in this order; at least one, none twice.
    radius : int, default 2
        Morgan radius (2 gives ECFP4-like environments).
    n_bits : int, default 2048
        Length of the folded Morgan bit and count vectors.
    use_chirality : bool, default False
        Include chirality in Morgan atom invariants.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: list[FeatureKind] = Field(default_factory=lambda: ["morgan"], min_length=1)
    radius: int = Field(2, ge=0)
    n_bits: int = Field(2048, ge=8)
    use_chirality: bool = False

    @field_validator("kinds")
    @classmethod
    def _distinct(cls, kinds: list[str]) -> list[str]:
        repeated = sorted({k for k in kinds if kinds.count(k) > 1})
        if repeated:
            raise ValueError(f"each kind may appear once; {', '.join(repeated)} is repeated")
        return kinds


def feature_names(config: FeaturizerConfig | None = None) -> list[str]:
    """Names of the columns :func:`featurize` returns for ``config``, one per column.

    Examples
    --------
    >>> feature_names(FeaturizerConfig(kinds=["maccs", "rdkit2d"]))[:2], feature_names()[-1]
    (['maccs_0', 'maccs_1'], 'morgan_2047')
    """
    config = config or FeaturizerConfig()
    names: list[str] = []
    for kind in config.kinds:
        if kind in ("morgan", "morgan_counts"):
            names += [f"{kind}_{i}" for i in range(config.n_bits)]
        elif kind == "rdkit2d":
            names += [f"rdkit2d_{name}" for name in DESCRIPTOR_NAMES]
        else:
            names += [f"maccs_{i}" for i in range(_MACCS_BITS)]
    return names


def featurize(mols_or_smiles: Sequence[Chem.Mol | str], config: FeaturizerConfig | None = None, *,
              cache_dir: str | Path | None = None) -> np.ndarray:
    """Compute the feature matrix of molecules.

    Parameters
    ----------
    mols_or_smiles : sequence of rdkit.Chem.Mol or str
        Molecules are used as given; SMILES strings are standardised first (:func:`~neuralab.chem.standardize`).
    config : FeaturizerConfig, optional
        What to compute; by default 2048 Morgan bits of radius 2.
    cache_dir : str or Path, optional
        Folder of the disk cache (created when missing); None computes everything.

    Returns
    -------
    np.ndarray
        ``float32`` of shape ``(N, len(feature_names(config)))``. Fingerprints are 0/1 or counts; descriptors may
        hold NaN (see the module docstring) but never infinity.

    Raises
    ------
    MoleculeError
        For a row that is None or a SMILES that does not parse; the message gives the row.
    DataError
        When ``mols_or_smiles`` is a single string rather than a sequence.

    Examples
    --------
    >>> featurize(["CCO", "c1ccccc1"], FeaturizerConfig(kinds=["maccs"])).shape
    (2, 167)
    """
    if isinstance(mols_or_smiles, str | Chem.Mol):
        raise DataError(f"featurize expects a sequence of molecules or SMILES; got one {type(mols_or_smiles).__name__}"
                        ": wrap it in a list")
    config = config or FeaturizerConfig()
    mols = [_as_mol(item, row) for row, item in enumerate(mols_or_smiles)]
    width = len(feature_names(config))
    keys = [_molecule_key(mol) for mol in mols]
    unique = list(dict.fromkeys(keys))
    folder = Path(cache_dir) / _config_key(config) if cache_dir is not None else None
    known = _read_cache(folder, width) if folder is not None else {}
    missing = [k for k in unique if k not in known]
    if missing:
        mol_of = dict(zip(keys, mols, strict=True))  # equal keys, equal molecules: any one will do
        rows = _compute([mol_of[k] for k in missing], config, width)
        known.update(zip(missing, rows, strict=True))
        if folder is not None:
            _write_cache(folder, config, missing, rows)
    out = np.empty((len(mols), width), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = known[key]
    return out


def _as_mol(item: object, row: int) -> Chem.Mol:
    """The molecule of one input row: a Mol as is, a string standardised; a MoleculeError naming the row."""
    if isinstance(item, Chem.Mol):
        if item.GetNumAtoms() == 0:
            raise MoleculeError(f"row {row}: the molecule has no atoms")
        return item
    if item is None:
        raise MoleculeError(f"row {row}: no molecule (None); drop rows whose SMILES did not parse first")
    try:
        return standardize(item)  # type: ignore[arg-type]
    except MoleculeError as e:
        raise MoleculeError(f"row {row}: {e}") from None


def _compute(mols: list[Chem.Mol], config: FeaturizerConfig, width: int) -> np.ndarray:
    """The feature rows of ``mols``, blocks in the order of ``config.kinds``."""
    out = np.empty((len(mols), width), dtype=np.float32)
    morgan = rdFingerprintGenerator.GetMorganGenerator(radius=config.radius, fpSize=config.n_bits,
                                                       includeChirality=config.use_chirality)
    with rdBase.BlockLogs():  # warnings about unusual atoms would otherwise reach stderr once per molecule
        for i, mol in enumerate(mols):
            blocks = []
            for kind in config.kinds:
                if kind == "morgan":
                    blocks.append(morgan.GetFingerprintAsNumPy(mol))
                elif kind == "morgan_counts":
                    blocks.append(morgan.GetCountFingerprintAsNumPy(mol))
                elif kind == "rdkit2d":
                    blocks.append(_descriptors(mol))
                else:
                    blocks.append(_maccs(mol))
            out[i] = np.concatenate([b.astype(np.float32, copy=False) for b in blocks])
    return out


def _descriptors(mol: Chem.Mol) -> np.ndarray:
    """All RDKit 2D descriptors of ``mol``: NaN for one that fails, is not finite or is skipped for the molecule's
    size (Ipc, AvgIpc), clipped to float32's range."""
    values = np.full(len(_DESCRIPTORS), np.nan, dtype=np.float64)
    skip = _IPC if heavy_atoms(mol) > IPC_MAX_ATOMS else []
    for j, fn in enumerate(_DESCRIPTORS):
        if j in skip:
            continue
        try:
            values[j] = float(fn(mol))
        except Exception as e:  # noqa: BLE001 - any failure of one descriptor is a missing value, by design
            log.debug("descriptor %s failed on %s: %s", DESCRIPTOR_NAMES[j], Chem.MolToSmiles(mol), e)
    values[~np.isfinite(values)] = np.nan
    return np.clip(values, -_F32_MAX, _F32_MAX)  # NaN stays NaN


def _maccs(mol: Chem.Mol) -> np.ndarray:
    """The 167 MACCS keys of ``mol`` as a uint8 vector."""
    bits = np.zeros(_MACCS_BITS, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(mol), bits)
    return bits


# ------------------------------------------------------------------------------------------------------------ cache


def _molecule_key(mol: Chem.Mol) -> bytes:
    """The cache key of a molecule: 32 hex digits of the sha256 of its canonical isomeric SMILES."""
    return hashlib.sha256(Chem.MolToSmiles(mol).encode()).hexdigest()[:32].encode()


def _config_json(config: FeaturizerConfig) -> str:
    """What the cached features depend on: the configuration, RDKit's version and the cache format."""
    return json.dumps({"config": config.model_dump(), "rdkit": rdkit.__version__, "format": _CACHE_FORMAT},
                      sort_keys=True, indent=1)


def _config_key(config: FeaturizerConfig) -> str:
    """The folder name of a configuration: 16 hex digits of the sha256 of :func:`_config_json`."""
    return hashlib.sha256(_config_json(config).encode()).hexdigest()[:16]


def _read_cache(folder: Path, width: int) -> dict[bytes, np.ndarray]:
    """Every cached row in ``folder`` by key; unreadable shards are deleted; many shards are merged into one."""
    known: dict[bytes, np.ndarray] = {}
    shards = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    good: list[Path] = []
    for shard in shards:
        try:
            with np.load(shard, allow_pickle=False) as data:
                keys, x = data["keys"], data["x"]
            if keys.ndim != 1 or x.dtype != np.float32 or x.shape != (len(keys), width):
                raise ValueError(f"keys {keys.shape} and x {x.shape} {x.dtype} do not match width {width}")
        except FileNotFoundError:  # merged away by a concurrent call: its rows are in the merged shard
            continue
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            log.warning("feature cache shard %s is unreadable (%s); deleting it and recomputing its rows", shard, e)
            shard.unlink(missing_ok=True)
            continue
        known.update(zip(keys.tolist(), x, strict=True))
        good.append(shard)
    if len(good) > MAX_SHARDS:
        _merge(folder, good, known)
    return known


def _write_cache(folder: Path, config: FeaturizerConfig, keys: list[bytes], rows: np.ndarray) -> None:
    """Add one shard of rows; a cache that cannot be written is logged and skipped, never fatal."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "config.json").exists():
            _atomic_write(folder / "config.json", _config_json(config).encode())  # for people, not read back
        _write_shard(folder, keys, rows)
    except OSError as e:
        log.warning("cannot write the feature cache in %s: %s", folder, e.strerror or e)


def _write_shard(folder: Path, keys: list[bytes], rows: np.ndarray) -> Path:
    """Write one ``.npz`` shard atomically under a unique name, and return its path."""
    path = folder / f"{uuid.uuid4().hex}.npz"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")  # not *.npz: readers never see it
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, keys=np.array(keys, dtype="S32"), x=np.ascontiguousarray(rows, dtype=np.float32))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _merge(folder: Path, shards: list[Path], known: dict[bytes, np.ndarray]) -> None:
    """Replace ``shards`` by one shard holding all their rows (written first, so no row is ever absent)."""
    try:
        _write_shard(folder, list(known), np.stack(list(known.values())))
        for shard in shards:
            shard.unlink(missing_ok=True)
    except OSError as e:
        log.warning("cannot merge the feature cache in %s: %s", folder, e.strerror or e)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
