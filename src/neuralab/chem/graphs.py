"""Molecular graphs for message passing: atoms are nodes, every bond is two directed edges.

Atom and bond features follow chemprop (Yang et al. 2019, "Analyzing Learned Molecular Representations for Property
Prediction", J. Chem. Inf. Model. 59(8)): one-hot blocks, each with a final "other" slot for values outside its list,
plus a few flags and the scaled mass. See :data:`ATOM_FEATURES` and :data:`BOND_FEATURES` for the exact blocks.

Edges come in pairs: for bond ``k`` of a molecule, edge ``2k`` runs begin→end and edge ``2k + 1`` end→begin, both
with the bond's features. Pairs survive :func:`collate_graphs`, so in a batch the reverse of edge ``e`` is ``e ^ 1``
(:attr:`GraphBatch.reverse_edges`). A molecule of one atom (methane, a sodium ion) has no edges; ``x`` always has at
least one row per molecule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem
from torch import Tensor
from torch.utils.data import Dataset

from neuralab.chem.standardize import MoleculeError, standardize
from neuralab.errors import DataError

__all__ = ["ATOM_FDIM", "ATOM_FEATURES", "BOND_FDIM", "BOND_FEATURES", "GraphBatch", "GraphDataset", "MolGraph",
           "collate_graphs", "graph_collate", "mol_to_graph"]

_HYB = Chem.rdchem.HybridizationType
_BOND = Chem.rdchem.BondType
_STEREO = Chem.rdchem.BondStereo

# Each block: the values that get their own slot; anything else goes to one extra "other" slot.
ATOM_FEATURES: dict[str, list] = {
    "element": ["H", "Li", "B", "C", "N", "O", "F", "Na", "Mg", "Si", "P", "S", "Cl", "K", "Ca", "Fe", "Cu", "Zn",
                "As", "Se", "Br", "Sn", "I", "Hg"],
    "degree": [0, 1, 2, 3, 4, 5],
    "formal_charge": [-2, -1, 0, 1, 2],
    "chirality": [Chem.rdchem.ChiralType.CHI_UNSPECIFIED, Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CW,
                  Chem.rdchem.ChiralType.CHI_TETRAHEDRAL_CCW, Chem.rdchem.ChiralType.CHI_OTHER],
    "num_hs": [0, 1, 2, 3, 4],
    "hybridization": [_HYB.S, _HYB.SP, _HYB.SP2, _HYB.SP2D, _HYB.SP3, _HYB.SP3D, _HYB.SP3D2],
}
BOND_FEATURES: dict[str, list] = {
    "bond_type": [_BOND.SINGLE, _BOND.DOUBLE, _BOND.TRIPLE, _BOND.AROMATIC],
    "stereo": [_STEREO.STEREONONE, _STEREO.STEREOANY, _STEREO.STEREOZ, _STEREO.STEREOE, _STEREO.STEREOCIS,
               _STEREO.STEREOTRANS],
}
_ATOM_FLAGS = ("aromatic", "in_ring", "mass/100")
_BOND_FLAGS = ("conjugated", "in_ring")
_ELEMENT_SLOT = {symbol: i for i, symbol in enumerate(ATOM_FEATURES["element"])}

ATOM_FDIM = sum(len(v) + 1 for v in ATOM_FEATURES.values()) + len(_ATOM_FLAGS)
BOND_FDIM = sum(len(v) + 1 for v in BOND_FEATURES.values()) + len(_BOND_FLAGS)


@dataclass
class MolGraph:
    """One molecule as a graph: ``x (n_atoms, ATOM_FDIM)``, ``edge_index (2, n_edges)`` as (src, dst) and
    ``edge_attr (n_edges, BOND_FDIM)``, with ``n_edges = 2 * n_bonds`` in begin→end, end→begin pairs."""

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor

    @property
    def num_atoms(self) -> int:
        return int(self.x.shape[0])


@dataclass
class GraphBatch:
    """Several molecules as one disconnected graph, the input of a message-passing network.

    Attributes
    ----------
    x : Tensor
        ``(n_atoms, ATOM_FDIM)`` float32 atom features.
    edge_index : Tensor
        ``(2, n_edges)`` int64 (src, dst) atom indices into ``x``; both directions of every bond, in pairs.
    edge_attr : Tensor
        ``(n_edges, BOND_FDIM)`` float32 bond features of each directed edge.
    batch : Tensor
        ``(n_atoms,)`` int64 index of each atom's molecule, in ``0..num_graphs - 1``, non-decreasing.
    num_graphs : int
        Number of molecules; ``len(batch)`` is this number, as the engine counts samples with ``len``.
    extra : Tensor or None
        Optional ``(num_graphs, F)`` per-molecule features (descriptors) that a model concatenates to its
        embedding; :func:`collate_graphs` leaves it None, a dataset's collate may set it.
    """

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor
    batch: Tensor
    num_graphs: int
    extra: Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> GraphBatch:
        """The same batch with every tensor (``extra`` included) on ``device``."""
        return GraphBatch(self.x.to(device, non_blocking=non_blocking),
                          self.edge_index.to(device, non_blocking=non_blocking),
                          self.edge_attr.to(device, non_blocking=non_blocking),
                          self.batch.to(device, non_blocking=non_blocking), self.num_graphs,
                          None if self.extra is None else self.extra.to(device, non_blocking=non_blocking))

    def __len__(self) -> int:
        return self.num_graphs

    @property
    def reverse_edges(self) -> Tensor:
        """``(n_edges,)`` index of the reverse of each edge: ``e ^ 1``, since edges come in pairs."""
        return torch.arange(self.edge_index.shape[1], device=self.edge_index.device) ^ 1


def mol_to_graph(mol: Chem.Mol | str) -> MolGraph:
    """Build the graph of one molecule.

    Parameters
    ----------
    mol : rdkit.Chem.Mol or str
        A molecule, used as given, or a SMILES string, standardised first (:func:`~neuralab.chem.standardize`).

    Returns
    -------
    MolGraph

    Raises
    ------
    MoleculeError
        For a bad SMILES or a molecule with no atoms.

    Examples
    --------
    >>> g = mol_to_graph("CCO")
    >>> tuple(g.x.shape), tuple(g.edge_index.shape), tuple(g.edge_attr.shape) == (4, BOND_FDIM)
    ((3, 60), (2, 4), True)
    """
    if isinstance(mol, str):
        mol = standardize(mol)
    if not isinstance(mol, Chem.Mol):
        raise MoleculeError(f"mol_to_graph expects an rdkit Mol or a SMILES str; got {type(mol).__name__}")
    if mol.GetNumAtoms() == 0:
        raise MoleculeError("mol_to_graph: the molecule has no atoms")
    x = np.stack([_atom_features(atom) for atom in mol.GetAtoms()])
    n_bonds = mol.GetNumBonds()
    edge_index = np.empty((2, 2 * n_bonds), dtype=np.int64)
    edge_attr = np.empty((2 * n_bonds, BOND_FDIM), dtype=np.float32)
    for k, bond in enumerate(mol.GetBonds()):
        a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        edge_index[:, 2 * k], edge_index[:, 2 * k + 1] = (a, b), (b, a)
        edge_attr[2 * k] = edge_attr[2 * k + 1] = _bond_features(bond)
    return MolGraph(torch.from_numpy(x), torch.from_numpy(edge_index), torch.from_numpy(edge_attr))


def collate_graphs(graphs: Sequence[MolGraph]) -> GraphBatch:
    """Join graphs into one :class:`GraphBatch`, offsetting each graph's atom indices by the atoms before it.

    Raises
    ------
    DataError
        For an empty list.
    """
    if len(graphs) == 0:
        raise DataError("collate_graphs needs at least one graph; got an empty list")
    sizes = torch.tensor([g.num_atoms for g in graphs])  # (B,)
    offsets = torch.cumsum(sizes, 0) - sizes  # (B,) atoms before each graph
    return GraphBatch(
        x=torch.cat([g.x for g in graphs]),
        edge_index=torch.cat([g.edge_index + off for g, off in zip(graphs, offsets.tolist(), strict=True)], dim=1),
        edge_attr=torch.cat([g.edge_attr for g in graphs]),
        batch=torch.repeat_interleave(torch.arange(len(graphs)), sizes),
        num_graphs=len(graphs),
    )


class GraphDataset(Dataset):
    """Molecular graphs with optional targets, for a ``DataLoader`` with ``collate_fn=graph_collate``.

    Items are ``(graph, y)`` with ``y`` a float32 tensor of shape ``(T,)``, or ``(graph,)`` without targets; a batch
    is ``(GraphBatch, y)`` with ``y`` of shape ``(B, T)``, matching a model's ``(B, out_features)`` output (1-D
    targets become ``T = 1``). The :meth:`collate` method lets :func:`neuralab.train.fit` batch it unaided.

    Parameters
    ----------
    graphs : sequence of MolGraph
    targets : array-like of shape (N,) or (N, T), optional

    Raises
    ------
    DataError
        When the number of targets differs from the number of graphs.

    Examples
    --------
    >>> from torch.utils.data import DataLoader
    >>> ds = GraphDataset([mol_to_graph(s) for s in ["C", "CCO", "c1ccccc1"]], [0.5, -0.2, -1.6])
    >>> batch, y = next(iter(DataLoader(ds, batch_size=3, collate_fn=graph_collate)))
    >>> batch.num_graphs, tuple(y.shape)
    (3, (3, 1))
    """

    def __init__(self, graphs: Sequence[MolGraph], targets: Sequence[float] | np.ndarray | Tensor | None = None
                 ) -> None:
        self.graphs = list(graphs)
        self.targets: Tensor | None = None
        if targets is not None:
            y = torch.as_tensor(np.asarray(targets, dtype=np.float32))
            y = y.reshape(len(y), -1) if y.ndim == 1 else y
            if y.ndim != 2 or len(y) != len(self.graphs):
                raise DataError(f"targets must have shape ({len(self.graphs)},) or ({len(self.graphs)}, T), one row "
                                f"per graph; got shape {tuple(y.shape)}")
            self.targets = y

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> tuple[MolGraph] | tuple[MolGraph, Tensor]:
        if self.targets is None:
            return (self.graphs[index],)
        return self.graphs[index], self.targets[index]

    @staticmethod
    def collate(items: Sequence[tuple[MolGraph] | tuple[MolGraph, Tensor]]) -> tuple[GraphBatch, ...]:
        """Batch items: see :func:`graph_collate`."""
        return graph_collate(items)


def graph_collate(items: Sequence[tuple[MolGraph] | tuple[MolGraph, Tensor]]) -> tuple[GraphBatch, ...]:
    """Batch :class:`GraphDataset` items into ``(GraphBatch, y)``, or ``(GraphBatch,)`` when they have no targets."""
    batch = collate_graphs([item[0] for item in items])
    if len(items[0]) == 1:
        return (batch,)
    return batch, torch.stack([item[1] for item in items])


def _one_hot(value: object, choices: list) -> list[float]:
    """One-hot of ``value`` over ``choices`` plus a final "other" slot."""
    out = [0.0] * (len(choices) + 1)
    out[choices.index(value) if value in choices else -1] = 1.0
    return out


def _atom_features(atom: Chem.Atom) -> np.ndarray:
    """The ``ATOM_FDIM`` features of one atom."""
    element = [0.0] * (len(_ELEMENT_SLOT) + 1)
    element[_ELEMENT_SLOT.get(atom.GetSymbol(), -1)] = 1.0
    features = (
        element
        + _one_hot(atom.GetTotalDegree(), ATOM_FEATURES["degree"])
        + _one_hot(atom.GetFormalCharge(), ATOM_FEATURES["formal_charge"])
        + _one_hot(atom.GetChiralTag(), ATOM_FEATURES["chirality"])
        + _one_hot(atom.GetTotalNumHs(), ATOM_FEATURES["num_hs"])
        + _one_hot(atom.GetHybridization(), ATOM_FEATURES["hybridization"])
        + [float(atom.GetIsAromatic()), float(atom.IsInRing()), atom.GetMass() * 0.01]
    )
    return np.asarray(features, dtype=np.float32)


def _bond_features(bond: Chem.Bond) -> np.ndarray:
    """The ``BOND_FDIM`` features of one bond."""
    features = (
        _one_hot(bond.GetBondType(), BOND_FEATURES["bond_type"])
        + [float(bond.GetIsConjugated()), float(bond.IsInRing())]
        + _one_hot(bond.GetStereo(), BOND_FEATURES["stereo"])
    )
    return np.asarray(features, dtype=np.float32)
