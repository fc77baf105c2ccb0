"""The directed message-passing neural network, D-MPNN (Yang et al. 2019, "Analyzing Learned Molecular
Representations for Property Prediction", J. Chem. Inf. Model. 59(8), 3370-3388): the model behind chemprop.

Messages live on *directed bonds*, not on atoms. A message sent along v→w sums what flows into v from every
neighbour except w, so a message never flows straight back along the bond it came from (no "totters"):

    h0_vw     = act(W_i [x_v ‖ e_vw])
    m_vw^t+1  = Σ_{k ∈ N(v) \\ w} h_kv^t  =  (Σ_{k ∈ N(v)} h_kv^t) - h_wv^t
    h_vw^t+1  = act(h0_vw + W_h m_vw^t+1)
    a_v       = act(W_o [x_v ‖ Σ_{k ∈ N(v)} h_kv^T])
    molecule  = mean / sum / sum÷100 of a_v over its atoms, [‖ extra features], then an MLP.

The "all neighbours minus the reverse edge" form turns the update into one ``index_add_`` per step plus a gather of
the reverse edges, with no Python loop over atoms or molecules. As in chemprop, ``depth`` counts the layers of bond
states, ``h0`` included: ``depth=3`` runs two message updates.

The input is a batch of molecular graphs, duck-typed (``neuralab.chem.graphs.GraphBatch`` is one; this module does
not import it): ``x (n_atoms, atom_fdim)``, ``edge_index (2, n_edges)`` as (src, dst) with both directions of every
bond, ``edge_attr (n_edges, bond_fdim)``, ``batch (n_atoms,)`` the molecule of each atom, and ``num_graphs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from neuralab.errors import NeuralabError
from neuralab.models.mlp import MLP
from neuralab.nn import get_activation

__all__ = ["MPNN", "reverse_edge_index"]

Aggregation = Literal["mean", "sum", "norm"]
AGGREGATIONS = ("mean", "sum", "norm")
# chemprop's aggregation_norm: "norm" is a sum scaled to the size of a typical drug-like molecule.
NORM_SCALE = 100.0


def reverse_edge_index(edge_index: Tensor, num_nodes: int) -> Tensor:
    """For each directed edge ``u→v``, the position of its reverse ``v→u`` in ``edge_index``.

    Vectorised: each edge gets the key ``src * num_nodes + dst``; the reverse of an edge is found by binary search of
    its reversed key among the sorted keys. Works for edges in any order.

    Parameters
    ----------
    edge_index
        ``(2, n_edges)`` long tensor of (src, dst) pairs in which every edge appears in both directions.
    num_nodes
        Number of nodes; every index must be below it.

    Returns
    -------
    Tensor
        ``(n_edges,)`` long tensor ``rev`` with ``edge_index[:, rev[e]] == edge_index.flip(0)[:, e]``.

    Raises
    ------
    NeuralabError
        If an edge has no reverse, or a directed edge appears twice.
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise NeuralabError(f"edge_index must have shape (2, n_edges); got {tuple(edge_index.shape)}")
    src, dst = edge_index[0].long(), edge_index[1].long()
    n_edges = src.numel()
    if n_edges == 0:
        return src.new_empty(0)
    keys = src * num_nodes + dst  # (E,)
    sorted_keys, order = torch.sort(keys)
    if bool((sorted_keys[1:] == sorted_keys[:-1]).any()):
        raise NeuralabError("edge_index has a directed edge twice; each bond needs exactly one edge per direction")
    reverse_keys = dst * num_nodes + src  # (E,)
    pos = torch.searchsorted(sorted_keys, reverse_keys).clamp_(max=n_edges - 1)  # (E,)
    missing = sorted_keys[pos] != reverse_keys
    if bool(missing.any()):
        e = int(missing.nonzero()[0])
        raise NeuralabError(f"edge {int(src[e])}→{int(dst[e])} (column {e} of edge_index) has no reverse edge; "
                            "edge_index needs both directions of every bond")
    return order[pos]


class MPNN(nn.Module):
    """Directed message-passing network on bonds, with a pooled readout and an MLP head (chemprop's model).

    Parameters
    ----------
    atom_fdim
        Number of features per atom (columns of ``graph.x``).
    bond_fdim
        Number of features per directed bond (columns of ``graph.edge_attr``).
    hidden_size
        Width of the bond messages, atom states and the molecular embedding.
    depth
        Layers of bond states, the initial one included (chemprop's convention): ``depth - 1`` message updates.
    dropout
        Dropout probability after each message update, on the atom states and in the FFN.
    aggregation
        How atom states become a molecule: ``mean``, ``sum``, or ``norm`` (the sum divided by 100).
    ffn_hidden_sizes
        Hidden widths of the readout :class:`~neuralab.models.MLP`; empty for a linear readout.
    out_features
        Number of predicted properties.
    activation
        Name from :data:`neuralab.nn.ACTIVATIONS`, used in message passing and in the FFN.
    extra_features
        Size of a per-molecule feature vector (e.g. RDKit descriptors) concatenated to the embedding before the FFN
        (chemprop's ``features_generator``); 0 for none.

    Examples
    --------
    One molecule of two atoms and one bond (two directed edges):

    >>> from types import SimpleNamespace
    >>> graph = SimpleNamespace(x=torch.randn(2, 10), edge_index=torch.tensor([[0, 1], [1, 0]]),
    ...                         edge_attr=torch.randn(2, 4), batch=torch.zeros(2, dtype=torch.long), num_graphs=1)
    >>> model = MPNN(atom_fdim=10, bond_fdim=4, hidden_size=32, ffn_hidden_sizes=[16])
    >>> model.embed(graph).shape
    torch.Size([1, 32])
    >>> model(graph).shape
    torch.Size([1, 1])
    """

    def __init__(self, atom_fdim: int, bond_fdim: int, hidden_size: int = 300, depth: int = 3,
                 dropout: float = 0.0, aggregation: Aggregation = "mean", ffn_hidden_sizes: Sequence[int] = (300,),
                 out_features: int = 1, activation: str = "relu", extra_features: int = 0) -> None:
        super().__init__()
        _check_int("atom_fdim", atom_fdim, minimum=1)
        _check_int("bond_fdim", bond_fdim, minimum=0)
        _check_int("hidden_size", hidden_size, minimum=1)
        _check_int("depth", depth, minimum=1)
        _check_int("extra_features", extra_features, minimum=0)
        if not 0.0 <= dropout < 1.0:
            raise NeuralabError(f"dropout must be in [0, 1); got {dropout}")
        if aggregation not in AGGREGATIONS:
            raise NeuralabError(f"aggregation must be one of {', '.join(AGGREGATIONS)}; got {aggregation!r}")
        self.atom_fdim, self.bond_fdim, self.hidden_size = atom_fdim, bond_fdim, hidden_size
        self.depth, self.aggregation, self.extra_features = depth, aggregation, extra_features
        # Names follow the paper and chemprop. No bias on W_i/W_h, as in chemprop: h0 already offsets every update.
        self.W_i = nn.Linear(atom_fdim + bond_fdim, hidden_size, bias=False)
        # With depth 1 there is no update, and no unused parameter to confuse "every parameter gets a gradient".
        self.W_h = nn.Linear(hidden_size, hidden_size, bias=False) if depth > 1 else None
        self.W_o = nn.Linear(atom_fdim + hidden_size, hidden_size)
        self.act = get_activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.ffn = MLP(hidden_size + extra_features, ffn_hidden_sizes, out_features,
                       activation=activation if ffn_hidden_sizes else "relu", dropout=dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """chemprop's initialisation: Xavier-normal weights, zero biases (the FFN included)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def embed(self, graph: Any) -> Tensor:
        """The learned molecular fingerprint: pooled atom states, ``(num_graphs, hidden_size)``."""
        x, edge_attr = graph.x, graph.edge_attr
        self._check_graph(graph)
        src, dst = graph.edge_index[0], graph.edge_index[1]  # (E,), (E,)
        rev = reverse_edge_index(graph.edge_index, x.shape[0])  # (E,)
        # index_select rather than x[src]: its backward is index_add_, which is deterministic on the CPU, while
        # the backward of advanced indexing (index_put_ with accumulate) is not with several threads.
        h0 = self.act(self.W_i(torch.cat([x.index_select(0, src), edge_attr], dim=1)))  # (E, H)
        h = h0
        for _ in range(self.depth - 1):
            # (E, H): all messages into src, minus the one that came back along the reverse edge
            m = _sum_incoming(h, dst, x.shape[0]).index_select(0, src) - h.index_select(0, rev)
            h = self.dropout(self.act(h0 + self.W_h(m)))  # (E, H)
        incoming = _sum_incoming(h, dst, x.shape[0])  # (N, H); zero for an atom with no bonds
        atoms = self.dropout(self.act(self.W_o(torch.cat([x, incoming.to(x.dtype)], dim=1))))  # (N, H)
        return self._pool(atoms, graph.batch, int(graph.num_graphs))  # (B, H)

    def forward(self, graph: Any, extra: Tensor | None = None) -> Tensor:
        """Predictions ``(num_graphs, out_features)``.

        ``extra`` is the ``(num_graphs, extra_features)`` per-molecule feature tensor; when it is ``None`` and the
        model expects extra features, ``graph.extra`` is used, so that a batch carrying its own descriptors trains
        through ``fit``, which calls ``model(batch[0])``.
        """
        z = self.embed(graph)  # (B, H)
        if self.extra_features:
            extra = extra if extra is not None else getattr(graph, "extra", None)
            if extra is None:
                raise NeuralabError(f"this MPNN has extra_features={self.extra_features}; pass extra, a "
                                    f"({z.shape[0]}, {self.extra_features}) tensor, or give the batch an "
                                    "'extra' field")
            if extra.shape != (z.shape[0], self.extra_features):
                raise NeuralabError(f"extra must have shape ({z.shape[0]}, {self.extra_features}); got "
                                    f"{tuple(extra.shape)}")
            z = torch.cat([z, extra.to(z.dtype)], dim=1)  # (B, H + extra_features)
        elif extra is not None:
            raise NeuralabError("extra was given but this MPNN has extra_features=0; build it with "
                                f"extra_features={extra.shape[-1]}")
        return self.ffn(z)  # (B, out_features)

    def _pool(self, atoms: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        """Sum, mean or scaled sum of atom states per molecule."""
        pooled = atoms.new_zeros(num_graphs, atoms.shape[1]).index_add_(0, batch, atoms)  # (B, H)
        if self.aggregation == "mean":
            counts = torch.bincount(batch, minlength=num_graphs).clamp_(min=1)  # (B,)
            return pooled / counts.unsqueeze(1).to(pooled.dtype)
        if self.aggregation == "norm":
            return pooled / NORM_SCALE
        return pooled

    def _check_graph(self, graph: Any) -> None:
        """Shape checks with both shapes in the message."""
        x, edge_attr, edge_index, batch = graph.x, graph.edge_attr, graph.edge_index, graph.batch
        if x.dim() != 2 or x.shape[1] != self.atom_fdim:
            raise NeuralabError(f"graph.x must have shape (n_atoms, {self.atom_fdim}); got {tuple(x.shape)}")
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise NeuralabError(f"graph.edge_index must have shape (2, n_edges); got {tuple(edge_index.shape)}")
        if edge_attr.shape != (edge_index.shape[1], self.bond_fdim):
            raise NeuralabError(f"graph.edge_attr must have shape ({edge_index.shape[1]}, {self.bond_fdim}); got "
                                f"{tuple(edge_attr.shape)}")
        if batch.shape != (x.shape[0],):
            raise NeuralabError(f"graph.batch must have shape ({x.shape[0]},), one molecule index per atom; got "
                                f"{tuple(batch.shape)}")


def _sum_incoming(h: Tensor, dst: Tensor, num_nodes: int) -> Tensor:
    """Sum of the states of the edges that end at each node: ``(E, H) -> (N, H)``."""
    return h.new_zeros(num_nodes, h.shape[1]).index_add_(0, dst, h)


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    """Raise unless ``value`` is an int (not a bool) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise NeuralabError(f"{name} must be {kind}; got {value!r}")
