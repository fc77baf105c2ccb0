"""One test that sweeps every model in ``neuralab.models.MODELS`` (timm's way): a model added to the dict is swept
automatically, and fails here until :data:`CASES` says how to build it and what it eats.

For each model, built from its defaults plus the few arguments in its case (kept tiny), the sweep checks:

- the output shape, and no NaN or Inf in the output or the loss;
- a backward pass through ``model.loss(batch)`` (its ``"loss"`` when it returns a dict), or through a simple loss on
  the output when the model has no objective of its own, gives every parameter a finite, non-zero gradient,
  except the few a case lists in ``no_gradient`` with the reason;
- the same seed twice builds identical parameters and buffers;
- the ``state_dict`` round-trips through safetensors into a fresh instance, with identical outputs in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from neuralab.chem.graphs import ATOM_FDIM, BOND_FDIM, collate_graphs, mol_to_graph
from neuralab.models import MODELS

B = 3  # examples per batch
SMILES = ("CCO", "c1ccccc1O", "CC(=O)N")  # ethanol, phenol, acetamide: chains, a ring, a double bond


@dataclass(frozen=True)
class Case:
    """How to sweep one model: minimal constructor arguments, tiny inputs, and the expected output shape."""

    kwargs: dict[str, Any]  # added to the model's defaults; sizes kept tiny
    inputs: Callable[[torch.Generator], tuple[Any, ...]]  # the arguments of forward
    out_shape: tuple[int, ...]
    # The batch for model.loss, built from forward's inputs and the generator; None when the model has no loss.
    loss_batch: Callable[[tuple[Any, ...], torch.Generator], Any] | None = None
    # Parameters that legitimately get no gradient, or an all-zero one, from this batch: name → the reason.
    no_gradient: dict[str, str] = field(default_factory=dict)
    # For models trained by their own train_step (no loss method): the differentiable quantity that step descends.
    surrogate: Callable[[nn.Module, tuple[Any, ...]], Tensor] | None = None
    # Why every seed builds the same weights, for a model whose start is not random (a table of zeros).
    seed_free: str | None = None


def _pixels(d: int) -> Callable[[torch.Generator], tuple[Tensor]]:
    """Inputs ``(B, d)`` in [0, 1], as the Bernoulli autoencoders want."""
    return lambda g: (torch.rand(B, d, generator=g),)


def _tokens(vocab: int, length: int) -> Callable[[torch.Generator], tuple[Tensor]]:
    """Integer tokens ``(B, length)`` in ``[0, vocab)``."""
    return lambda g: (torch.randint(0, vocab, (B, length), generator=g),)


def _ratings(g: torch.Generator, columns: int = 6) -> Tensor:
    """Rows of ratings ``(B, columns)`` in 1..5, about two thirds of them present, the rest 0 (absent)."""
    values = torch.randint(1, 6, (B, columns), generator=g)
    return (values * (torch.rand(B, columns, generator=g) < 0.67)).to(torch.int8)


CASES: dict[str, Case] = {
    "mlp": Case(dict(in_features=5, hidden_sizes=(8,)), lambda g: (torch.randn(B, 5, generator=g),), (B, 1)),
    "mpnn": Case(dict(atom_fdim=ATOM_FDIM, bond_fdim=BOND_FDIM, hidden_size=8, ffn_hidden_sizes=(8,)),
                 lambda g: (collate_graphs([mol_to_graph(s) for s in SMILES]),), (len(SMILES), 1)),
    "cnn": Case(dict(image_size=8, conv_channels=(2, 4), hidden_sizes=(8,)),
                lambda g: (torch.randn(B, 1, 8, 8, generator=g),), (B, 10)),
    "autoencoder": Case(dict(in_features=12, hidden_sizes=(8,), latent_dim=2), _pixels(12), (B, 12),
                        loss_batch=lambda inputs, g: inputs),
    "vae": Case(dict(in_features=12, hidden_sizes=(8,), latent_dim=2), _pixels(12), (B, 12),
                loss_batch=lambda inputs, g: inputs),
    "rnn": Case(dict(in_features=2, hidden_size=8), lambda g: (torch.randn(B, 4, 2, generator=g),), (B, 1)),
    "char_rnn": Case(dict(vocab_size=7, embedding_dim=4, hidden_size=8), _tokens(7, 5), (B, 5, 7),
                     loss_batch=lambda inputs, g: (inputs[0], torch.randint(0, 7, inputs[0].shape, generator=g))),
    "skipgram": Case(dict(vocab_size=9, embedding_dim=4), lambda g: (torch.randint(0, 9, (B,), generator=g),),
                     (B, 4), loss_batch=lambda inputs, g: (inputs[0], torch.randint(0, 9, (B,), generator=g)),
                     no_gradient={"input.weight": "word2vec starts the context vectors at zero, so the loss does not "
                                                "depend on the word vectors until the first update"}),
    # Contrastive divergence descends F(data) − F(negatives): the free energy reaches every parameter.
    "rbm": Case(dict(in_features=12, hidden_size=6), _pixels(12), (B, 6),
                surrogate=lambda m, inputs: m.free_energy(inputs[0]).mean()),
    "dbn": Case(dict(in_features=12, hidden_sizes=(6, 4)), _pixels(12), (B, 4),
                surrogate=lambda m, inputs: sum(layer.free_energy(m.up(inputs[0], i)).mean()
                                                for i, layer in enumerate(m.layers))),
    # Recommenders eat rows of ratings, 0 for an absent one; RBM-CF's CD descends its free energy.
    "rbm_cf": Case(dict(n_columns=6, hidden_size=4, conditional=True), lambda g: (_ratings(g), _ratings(g) > 0),
                   (B, 4), surrogate=lambda m, inputs: m.free_energy(*inputs).mean()),
    "autorec": Case(dict(n_columns=6, hidden_size=4), lambda g: (_ratings(g),), (B, 6),
                    loss_batch=lambda inputs, g: (torch.arange(B), inputs[0], inputs[0], None)),
    "mf": Case(dict(n_rows=4, n_columns=6, factors=2), lambda g: (torch.tensor([0, 1, 3]),), (B, 6),
               loss_batch=lambda inputs, g: (inputs[0], _ratings(g), _ratings(g), None)),
    # A GAN's forward is its generator (noise and labels → images); its train_step plays D against G, so the
    # surrogate is D's score of G's images, which reaches both players.
    "gan": Case(dict(in_features=64, image_size=8, latent_dim=4, channels=4, conditional=True, n_classes=3),
                lambda g: (torch.randn(B, 4, generator=g), torch.tensor([0, 2, 1])), (B, 1, 8, 8),
                surrogate=lambda m, inputs: m.discriminate(m.generate(*inputs), inputs[1]).mean()),
    # Agents map observations to action values or logits; they train by acting (tests/models/test_rl.py), so the
    # sweep backpropagates a surrogate through every network that learns (the target network is copied, not trained).
    "tabular_q": Case(dict(n_states=5, n_actions=3), lambda g: (torch.tensor([0, 4, 2]),), (B, 3),
                      surrogate=lambda m, inputs: m(*inputs).sum(), seed_free="Q-learning starts from a table of 0"),
    "dqn": Case(dict(in_features=4, n_actions=2, hidden_sizes=(8,)), lambda g: (torch.randn(B, 4, generator=g),),
                (B, 2)),
    "reinforce": Case(dict(in_features=4, n_actions=2, hidden_sizes=(8,)), lambda g: (torch.randn(B, 4, generator=g),),
                      (B, 2), surrogate=lambda m, inputs: m(*inputs).pow(2).mean() + m.critic(inputs[0]).mean()),
    "ppo": Case(dict(in_features=4, n_actions=2, hidden_sizes=(8,)), lambda g: (torch.randn(B, 4, generator=g),),
                (B, 2), surrogate=lambda m, inputs: m(*inputs).pow(2).mean() + m.critic(inputs[0]).mean()),
}


def build(name: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return MODELS[name](**CASES[name].kwargs)


def objective(model: nn.Module, case: Case, inputs: tuple[Any, ...], out: Tensor, g: torch.Generator) -> Tensor:
    """The model's own loss when it has one (its ``"loss"`` entry for a dict), the surrogate its train_step descends,
    else the mean square output."""
    if case.surrogate is not None:
        return case.surrogate(model, inputs)
    if case.loss_batch is None:
        assert not hasattr(model, "loss"), "the model defines loss: give its case a loss_batch"
        return out.float().pow(2).mean()
    loss = model.loss(case.loss_batch(inputs, g))
    return loss["loss"] if isinstance(loss, dict) else loss


def test_the_sweep_table_lists_only_registered_models():
    assert set(CASES) <= set(MODELS), f"CASES has entries for unregistered models: {sorted(set(CASES) - set(MODELS))}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_builds_runs_backpropagates_seeds_and_round_trips(name, tmp_path):
    if name not in CASES:
        pytest.fail(f"neuralab.models.MODELS[{name!r}] has no entry in CASES in {__file__}: add its minimal "
                    "constructor arguments, a tiny input batch and the expected output shape")
    case = CASES[name]
    g = torch.Generator().manual_seed(0)
    model = build(name, seed=0)
    inputs = case.inputs(g)

    out = model(*inputs)
    assert tuple(out.shape) == case.out_shape, f"{name}: output {tuple(out.shape)}, expected {case.out_shape}"
    assert torch.isfinite(out).all(), f"{name}: NaN or Inf in the output"

    model.zero_grad(set_to_none=True)
    loss = objective(model, case, inputs, out, g)
    assert loss.dim() == 0 and torch.isfinite(loss), f"{name}: the loss is {loss}"
    loss.backward()
    params = dict(model.named_parameters())
    assert set(case.no_gradient) <= set(params), f"{name}: no_gradient names unknown parameters"
    infinite = [p for p, t in params.items() if t.grad is not None and not torch.isfinite(t.grad).all()]
    assert not infinite, f"{name}: non-finite gradients in {infinite}"
    trained = {p: t for p, t in params.items() if t.requires_grad and p not in case.no_gradient}
    missing = [p for p, t in trained.items() if t.grad is None]
    assert not missing, f"{name}: no gradient reached {missing} (explain them in the case's no_gradient if legitimate)"
    zero = [p for p, t in trained.items() if not t.grad.any()]
    assert not zero, f"{name}: all-zero gradients in {zero} (explain them in the case's no_gradient if legitimate)"

    first, second, other = (build(name, seed).state_dict() for seed in (0, 0, 1))
    differ = [k for k in first if not torch.equal(first[k], second[k])]
    assert not differ, f"{name}: two builds with seed 0 differ in {differ}"
    if case.seed_free is None:
        assert any(not torch.equal(first[k], other[k]) for k in params), f"{name}: seeds 0 and 1 build the same weights"

    save_file(model.state_dict(), tmp_path / f"{name}.safetensors")
    fresh = build(name, seed=1)  # different weights until the file is loaded
    fresh.load_state_dict(load_file(tmp_path / f"{name}.safetensors"))
    model.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(model(*inputs), fresh(*inputs)), f"{name}: outputs differ after the safetensors round trip"
