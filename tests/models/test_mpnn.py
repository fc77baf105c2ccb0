"""The D-MPNN on tiny hand-built graphs: no RDKit, a small dataclass with the fields of a ``GraphBatch``."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from torch.utils.data import DataLoader

from neuralab.errors import NeuralabError
from neuralab.models.mpnn import MPNN, reverse_edge_index
from neuralab.train import FitData, OptimizerConfig, TrainerConfig, fit

ATOM_FDIM, BOND_FDIM = 5, 3


@dataclass
class Graphs:
    """A batch of molecular graphs, duck-typing ``neuralab.chem.graphs.GraphBatch``."""

    x: Tensor  # (N, atom_fdim)
    edge_index: Tensor  # (2, E) both directions of every bond
    edge_attr: Tensor  # (E, bond_fdim)
    batch: Tensor  # (N,)
    num_graphs: int

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Graphs:
        return Graphs(self.x.to(device, non_blocking=non_blocking),
                      self.edge_index.to(device, non_blocking=non_blocking),
                      self.edge_attr.to(device, non_blocking=non_blocking),
                      self.batch.to(device, non_blocking=non_blocking), self.num_graphs)

    def __len__(self) -> int:
        return self.num_graphs


def molecule(n_atoms: int, seed: int, ring: bool = True) -> Graphs:
    """A random tree of ``n_atoms`` atoms, plus one ring-closing bond when there is room; both edge directions share
    the bond's features, as they do in chemprop."""
    g = torch.Generator().manual_seed(seed)
    bonds = [(int(torch.randint(0, i, (1,), generator=g)), i) for i in range(1, n_atoms)]
    if ring and n_atoms >= 4 and (0, n_atoms - 1) not in bonds:
        bonds.append((0, n_atoms - 1))
    bond_attr = torch.randn(len(bonds), BOND_FDIM, generator=g)
    pairs = torch.tensor(bonds, dtype=torch.long).reshape(-1, 2)
    edge_index = torch.cat([pairs.T, pairs.T.flip(0)], dim=1)  # (2, 2 * n_bonds)
    return Graphs(torch.randn(n_atoms, ATOM_FDIM, generator=g), edge_index, torch.cat([bond_attr, bond_attr]),
                  torch.zeros(n_atoms, dtype=torch.long), 1)


def collate(graphs: list[Graphs]) -> Graphs:
    """Stack molecules into one disconnected graph, offsetting atom and molecule indices."""
    offsets = torch.tensor([0] + [len(g.x) for g in graphs]).cumsum(0)
    return Graphs(
        x=torch.cat([g.x for g in graphs]),
        edge_index=torch.cat([g.edge_index + int(off) for g, off in zip(graphs, offsets)], dim=1),
        edge_attr=torch.cat([g.edge_attr for g in graphs]),
        batch=torch.cat([torch.full((len(g.x),), i, dtype=torch.long) for i, g in enumerate(graphs)]),
        num_graphs=len(graphs),
    )


def shuffled(graph: Graphs, seed: int) -> Graphs:
    """The same molecules with atoms renumbered within each molecule and edges in a random order."""
    g = torch.Generator().manual_seed(seed)
    atoms_of = [(graph.batch == b).nonzero().flatten() for b in range(graph.num_graphs)]
    perm = torch.cat([idx[torch.randperm(len(idx), generator=g)] for idx in atoms_of])  # perm[new] = old
    new_of_old = torch.empty_like(perm)
    new_of_old[perm] = torch.arange(len(perm))
    edge_order = torch.randperm(graph.edge_index.shape[1], generator=g)
    return Graphs(graph.x[perm], new_of_old[graph.edge_index[:, edge_order]], graph.edge_attr[edge_order],
                  graph.batch[perm], graph.num_graphs)


def small_model(seed: int = 0, **kwargs) -> MPNN:
    torch.manual_seed(seed)
    options = dict(hidden_size=16, depth=3, ffn_hidden_sizes=[8])
    options.update(kwargs)
    return MPNN(ATOM_FDIM, BOND_FDIM, **options)


def four_molecules() -> Graphs:
    return collate([molecule(6, 0), molecule(1, 1), molecule(4, 2), molecule(9, 3)])


@pytest.mark.parametrize("options", [
    {},
    {"aggregation": "sum", "depth": 1},
    {"aggregation": "norm", "dropout": 0.2, "activation": "tanh"},
    {"extra_features": 2, "out_features": 3, "ffn_hidden_sizes": []},
])
def test_mpnn_shape_finite_and_every_parameter_gets_a_gradient(options):
    model = small_model(**options)
    graph = four_molecules()
    extra = torch.randn(4, 2) if options.get("extra_features") else None
    out = model(graph, extra)
    assert out.shape == (4, options.get("out_features", 1))
    assert model.embed(graph).shape == (4, 16)
    assert torch.isfinite(out).all()
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_same_seed_gives_identical_parameters_and_other_seed_does_not():
    a, b, c = small_model(3).state_dict(), small_model(3).state_dict(), small_model(4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_state_dict_round_trips_through_safetensors(tmp_path):
    model, graph = small_model(0, extra_features=2).eval(), four_molecules()
    extra = torch.randn(4, 2)
    save_file(model.state_dict(), tmp_path / "mpnn.safetensors")
    clone = small_model(1, extra_features=2).eval()
    clone.load_state_dict(load_file(tmp_path / "mpnn.safetensors"))
    assert torch.equal(model(graph, extra), clone(graph, extra))


def test_output_is_invariant_to_atom_numbering_and_edge_order():
    model, graph = small_model(0).eval(), four_molecules()
    expected = model(graph)
    for seed in range(3):
        torch.testing.assert_close(model(shuffled(graph, seed)), expected, atol=1e-5, rtol=1e-5)


def test_reverse_edge_index_is_correct_on_shuffled_edges():
    graph = shuffled(four_molecules(), seed=7)
    rev = reverse_edge_index(graph.edge_index, len(graph.x))
    assert torch.equal(graph.edge_index[:, rev], graph.edge_index.flip(0))
    assert torch.equal(rev[rev], torch.arange(len(rev)))
    assert len(reverse_edge_index(torch.empty(2, 0, dtype=torch.long), 3)) == 0


def test_reverse_edge_index_rejects_a_missing_or_duplicated_edge():
    with pytest.raises(NeuralabError, match="1→2 .* has no reverse"):
        reverse_edge_index(torch.tensor([[0, 1, 1], [1, 0, 2]]), 3)
    with pytest.raises(NeuralabError, match="directed edge twice"):
        reverse_edge_index(torch.tensor([[0, 1, 0], [1, 0, 1]]), 2)


def test_batched_molecules_match_each_molecule_alone():
    model = small_model(0, aggregation="sum").eval()
    mols = [molecule(6, 0), molecule(1, 1), molecule(4, 2), molecule(9, 3)]
    together = model(collate(mols))
    alone = torch.cat([model(m) for m in mols])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_single_atom_molecule_is_embedded_from_its_own_features():
    model = small_model(0).eval()
    atom = molecule(1, 5)
    assert atom.edge_index.shape == (2, 0)
    zeros = torch.zeros(1, model.hidden_size)
    expected = model.act(model.W_o(torch.cat([atom.x, zeros], dim=1)))  # no bonds: no messages
    torch.testing.assert_close(model.embed(atom), expected)
    assert torch.isfinite(model(collate([atom, atom]))).all()


def test_norm_aggregation_is_the_sum_over_one_hundred():
    graph = four_molecules()
    summed = small_model(0, aggregation="sum").eval().embed(graph)
    normed = small_model(0, aggregation="norm").eval().embed(graph)
    torch.testing.assert_close(normed, summed / 100)


def test_extra_features_are_read_from_the_batch_when_not_passed():
    model, graph = small_model(0, extra_features=2).eval(), four_molecules()
    extra = torch.randn(4, 2)
    graph.extra = extra
    torch.testing.assert_close(model(graph), model(replace(graph), extra))


def test_bad_arguments_and_shapes_raise_clear_errors():
    with pytest.raises(NeuralabError, match="aggregation must be one of mean, sum, norm; got 'max'"):
        MPNN(ATOM_FDIM, BOND_FDIM, aggregation="max")
    with pytest.raises(NeuralabError, match="depth must be a positive int; got 0"):
        MPNN(ATOM_FDIM, BOND_FDIM, depth=0)
    model = small_model(0, extra_features=2)
    with pytest.raises(NeuralabError, match=r"pass extra, a \(4, 2\) tensor"):
        model(four_molecules())
    with pytest.raises(NeuralabError, match=r"extra must have shape \(4, 2\); got \(4, 3\)"):
        model(four_molecules(), torch.randn(4, 3))
    bad = four_molecules()
    bad.x = bad.x[:, :4]
    with pytest.raises(NeuralabError, match=r"graph.x must have shape \(n_atoms, 5\); got \(20, 4\)"):
        small_model(0)(bad)


def test_bf16_autocast_forward_is_finite():
    model = small_model(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(four_molecules())
    assert out.shape == (4, 1) and torch.isfinite(out.float()).all()


def test_mpnn_overfits_eight_tiny_graphs_through_fit():
    mols = [molecule(int(n), seed) for seed, n in enumerate([1, 3, 4, 5, 6, 7, 8, 9])]
    targets = torch.randn(8, 1, generator=torch.Generator().manual_seed(0))
    dataset = list(zip(mols, targets))
    loader = DataLoader(dataset, batch_size=8, shuffle=False,
                        collate_fn=lambda items: (collate([g for g, _ in items]), torch.stack([y for _, y in items])))
    model = small_model(0, hidden_size=32, ffn_hidden_sizes=[32])
    state = fit(model, FitData(loader), TrainerConfig(epochs=200, device="cpu"),
                optimizer=OptimizerConfig(name="adam", lr=3e-3), loss="mse")
    assert state.history[-1]["train_loss"] < 0.1 * state.history[0]["train_loss"]


def test_embedding_matches_a_loop_over_edges_of_the_paper_equations():
    model = small_model(0, depth=3).double().eval()
    graph = shuffled(collate([molecule(6, 0), molecule(3, 1)]), seed=2)
    x, edge_attr = graph.x.double(), graph.edge_attr.double()
    edges = graph.edge_index.T.tolist()
    h0 = model.act(model.W_i(torch.cat([x[graph.edge_index[0]], edge_attr], dim=1)))
    h = h0
    for _ in range(model.depth - 1):  # m_vw = sum of h_kv over neighbours k of v other than w
        m = torch.stack([sum((h[j] for j, (k, v2) in enumerate(edges) if v2 == v and k != w),
                             torch.zeros(model.hidden_size, dtype=torch.float64)) for v, w in edges])
        h = model.act(h0 + model.W_h(m))
    incoming = torch.stack([sum((h[j] for j, (_, v2) in enumerate(edges) if v2 == v),
                                torch.zeros(model.hidden_size, dtype=torch.float64)) for v in range(len(x))])
    atoms = model.act(model.W_o(torch.cat([x, incoming], dim=1)))
    expected = torch.stack([atoms[graph.batch == b].mean(0) for b in range(graph.num_graphs)])
    torch.testing.assert_close(model.embed(replace(graph, x=x, edge_attr=edge_attr)), expected)
