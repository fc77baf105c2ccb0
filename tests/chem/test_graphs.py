"""Molecular graphs: feature sizes, paired directed edges, collation offsets, one-atom molecules, DataLoader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem
from torch.utils.data import DataLoader

from neuralab.chem import (
    ATOM_FDIM,
    BOND_FDIM,
    GraphBatch,
    GraphDataset,
    MoleculeError,
    collate_graphs,
    graph_collate,
    mol_to_graph,
)
from neuralab.chem.graphs import ATOM_FEATURES, BOND_FEATURES
from neuralab.errors import DataError


def test_ethanol_has_three_atoms_and_four_directed_edges() -> None:
    g = mol_to_graph("CCO")
    assert g.x.shape == (3, ATOM_FDIM) and g.x.dtype == torch.float32
    assert g.edge_index.shape == (2, 4) and g.edge_index.dtype == torch.int64
    assert g.edge_attr.shape == (4, BOND_FDIM) and g.edge_attr.dtype == torch.float32
    pairs = set(map(tuple, g.edge_index.T.tolist()))
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1)}


def test_feature_sizes_are_the_sum_of_the_one_hot_blocks() -> None:
    assert ATOM_FDIM == sum(len(v) + 1 for v in ATOM_FEATURES.values()) + 3
    assert BOND_FDIM == sum(len(v) + 1 for v in BOND_FEATURES.values()) + 2


def test_edges_come_in_reverse_pairs_with_equal_features() -> None:
    g = mol_to_graph("CC(=O)Oc1ccccc1C(=O)O")
    n_bonds = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O").GetNumBonds()
    assert g.edge_index.shape[1] == 2 * n_bonds
    torch.testing.assert_close(g.edge_index[:, 0::2], g.edge_index[:, 1::2].flip(0))
    torch.testing.assert_close(g.edge_attr[0::2], g.edge_attr[1::2])


def test_each_one_hot_block_has_exactly_one_slot_set() -> None:
    g = mol_to_graph("[O-]C(=O)c1ccc[nH]1.[Na+]")
    x = g.x.numpy()
    start = 0
    for values in ATOM_FEATURES.values():
        width = len(values) + 1
        np.testing.assert_array_equal(x[:, start:start + width].sum(1), 1.0)
        start += width
    assert start == ATOM_FDIM - 3


def test_atom_features_of_an_aromatic_nitrogen() -> None:
    from neuralab.chem import standardize

    g = mol_to_graph("c1ccncc1")
    n = [a.GetSymbol() for a in standardize("c1ccncc1").GetAtoms()].index("N")  # the graph's atom order
    assert g.x[n, ATOM_FEATURES["element"].index("N")] == 1.0
    assert g.x[n, -3] == 1.0 and g.x[n, -2] == 1.0  # aromatic, in a ring
    torch.testing.assert_close(g.x[n, -1], torch.tensor(0.14007), atol=1e-4, rtol=0)


def test_rare_elements_fall_in_the_other_slot() -> None:
    g = mol_to_graph("[Ge](C)(C)(C)C")
    other = len(ATOM_FEATURES["element"])
    assert sorted(g.x[:, other].tolist()) == [0.0, 0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("smiles", ["C", "[Na+]", "[Na+].[Cl-]"])
def test_single_atom_molecule_has_no_edges(smiles: str) -> None:
    g = mol_to_graph(smiles)
    assert g.x.shape == (1, ATOM_FDIM)
    assert g.edge_index.shape == (2, 0) and g.edge_attr.shape == (0, BOND_FDIM)


def test_collate_offsets_atom_indices_and_numbers_molecules() -> None:
    graphs = [mol_to_graph(s) for s in ["CCO", "C", "c1ccccc1", "[Na+]", "CN"]]
    batch = collate_graphs(graphs)
    assert len(batch) == batch.num_graphs == 5
    assert batch.x.shape == (3 + 1 + 6 + 1 + 2, ATOM_FDIM)
    assert batch.edge_index.shape == (2, 4 + 0 + 12 + 0 + 2)
    assert batch.batch.tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 3, 4, 4]
    torch.testing.assert_close(batch.edge_index[:, -2:], torch.tensor([[11, 12], [12, 11]]))
    torch.testing.assert_close(batch.edge_index[:, 4:16], graphs[2].edge_index + 4)
    assert bool((batch.batch[batch.edge_index[0]] == batch.batch[batch.edge_index[1]]).all())  # no edge between mols
    rev = batch.reverse_edges
    torch.testing.assert_close(batch.edge_index[:, rev], batch.edge_index.flip(0))


def test_collate_of_only_bondless_molecules() -> None:
    batch = collate_graphs([mol_to_graph("C"), mol_to_graph("[Na+]")])
    assert batch.edge_index.shape == (2, 0) and batch.edge_index.dtype == torch.int64
    assert batch.batch.tolist() == [0, 1]


def test_batch_to_device_keeps_every_field_extra_included() -> None:
    batch = collate_graphs([mol_to_graph("CCO")])
    assert batch.extra is None and batch.to("cpu").extra is None
    batch.extra = torch.ones(1, 3)  # per-molecule descriptors, set by a dataset's collate
    moved = batch.to("cpu", non_blocking=True)
    assert isinstance(moved, GraphBatch) and moved.num_graphs == 1 and moved.x.device.type == "cpu"
    torch.testing.assert_close(moved.extra, torch.ones(1, 3))


def test_errors() -> None:
    with pytest.raises(DataError, match="collate_graphs needs at least one graph"):
        collate_graphs([])
    with pytest.raises(MoleculeError, match="unclosed ring"):
        mol_to_graph("C1CC")
    with pytest.raises(MoleculeError, match="no atoms"):
        mol_to_graph(Chem.Mol())
    with pytest.raises(DataError, match=r"targets must have shape \(2,\) or \(2, T\), one row per graph; got shape "
                                        r"\(3, 1\)"):
        GraphDataset([mol_to_graph("C"), mol_to_graph("CC")], [1.0, 2.0, 3.0])


def test_dataloader_yields_graph_batches_and_target_columns() -> None:
    smiles = ["C", "CCO", "c1ccccc1", "CC(=O)O", "[Na+]"]
    ds = GraphDataset([mol_to_graph(s) for s in smiles], np.arange(5, dtype=np.float64))
    batches = list(DataLoader(ds, batch_size=2, collate_fn=graph_collate))
    assert [b[0].num_graphs for b in batches] == [2, 2, 1]
    batch, y = batches[1]
    assert isinstance(batch, GraphBatch) and y.dtype == torch.float32
    torch.testing.assert_close(y, torch.tensor([[2.0], [3.0]]))
    assert GraphDataset.collate is not None and len(ds) == 5


def test_dataset_without_targets_yields_one_element_batches() -> None:
    ds = GraphDataset([mol_to_graph("CCO"), mol_to_graph("C")])
    (batch,) = next(iter(DataLoader(ds, batch_size=4, collate_fn=ds.collate)))
    assert batch.num_graphs == 2


def test_a_message_passing_network_trains_on_graph_batches() -> None:
    from neuralab.models.mpnn import (
        MPNN,  # the model written against this GraphBatch contract
    )

    torch.manual_seed(0)
    smiles = ["C", "CC", "CCC", "CCCC", "CCO", "c1ccccc1", "[Na+]", "CC(=O)O"]
    ds = GraphDataset([mol_to_graph(s) for s in smiles], [float(len(s)) for s in smiles])
    model = MPNN(ATOM_FDIM, BOND_FDIM, hidden_size=16, ffn_hidden_sizes=[8])
    batch, y = ds.collate([ds[i] for i in range(len(ds))])
    out = model(batch)
    assert out.shape == y.shape
    torch.nn.functional.mse_loss(out, y).backward()
    assert all(p.grad is not None for p in model.parameters())
