"""Tests for neuralab.nn.regularizers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.nn.regularizers import Penalty, apply_max_norm, l1_penalty, l2_penalty


def hand_built() -> nn.Sequential:
    """Linear(2, 2) with W = [[1, -2], [3, 0]], b = [0.5, -1], then a LayerNorm (weight 1, bias 0) of size 2."""
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.0]]))
        model[0].bias.copy_(torch.tensor([0.5, -1.0]))
    return model


def test_l1_and_l2_on_hand_built_linear_skip_biases_and_norm_params() -> None:
    model = hand_built()
    assert l1_penalty(model).item() == 6.0  # |1| + |-2| + |3| + |0|
    assert l2_penalty(model).item() == 14.0  # 1 + 4 + 9 + 0


def test_include_bias_adds_biases_and_norm_params() -> None:
    model = hand_built()
    # Biases add 0.5 + 1 (L1) and 0.25 + 1 (L2); LayerNorm adds weight [1, 1] and bias [0, 0]: 2 (L1), 2 (L2).
    assert l1_penalty(model, include_bias=True).item() == 6.0 + 1.5 + 2.0
    assert l2_penalty(model, include_bias=True).item() == 14.0 + 1.25 + 2.0


def test_penalty_gradients() -> None:
    model = hand_built()
    (l1_penalty(model) + l2_penalty(model)).backward()
    w = model[0].weight.detach()
    assert torch.equal(model[0].weight.grad, torch.sign(w) + 2 * w)
    assert model[0].bias.grad is None


def test_half_l2_penalty_with_sgd_equals_weight_decay() -> None:
    torch.manual_seed(0)
    a, x = nn.Linear(3, 2), torch.randn(5, 3)
    b = nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    lam = 0.1
    opt_a = torch.optim.SGD(a.parameters(), lr=0.5)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.5, weight_decay=lam)
    for model, opt, penalty in [(a, opt_a, Penalty(l2=lam / 2, include_bias=True)), (b, opt_b, None)]:
        loss = model(x).pow(2).mean()
        if penalty is not None:
            loss = loss + penalty(model)
        loss.backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-7)


def test_penalty_combines_coefficients_and_reports_active() -> None:
    model = hand_built()
    penalty = Penalty(l1=0.1, l2=0.01)
    assert penalty.active
    assert penalty(model).item() == pytest.approx(0.1 * 6.0 + 0.01 * 14.0)
    inactive = Penalty()
    assert not inactive.active
    zero = inactive(model)
    assert zero.ndim == 0 and zero.item() == 0.0


@pytest.mark.parametrize("kwargs", [{"l1": -0.1}, {"l2": float("nan")}, {"l2": float("inf")}])
def test_penalty_rejects_bad_coefficients(kwargs: dict) -> None:
    with pytest.raises(NeuralabError, match=f"{next(iter(kwargs))} must be a finite float >= 0"):
        Penalty(**kwargs)


def test_penalty_on_module_without_weights_is_zero() -> None:
    assert l1_penalty(nn.ReLU()).item() == 0.0
    assert l2_penalty(nn.Sequential(nn.LayerNorm(3))).item() == 0.0


def test_max_norm_clamps_large_rows_and_leaves_small_rows_alone() -> None:
    layer = nn.Linear(2, 3)
    rows = torch.tensor([[3.0, 4.0], [0.6, 0.8], [0.0, 0.0]])  # norms 5, 1, 0
    with torch.no_grad():
        layer.weight.copy_(rows)
        layer.bias.fill_(10.0)
    apply_max_norm(layer, max_norm=2.0)
    assert torch.allclose(layer.weight[0], torch.tensor([1.2, 1.6]))  # rescaled to norm 2, same direction
    assert torch.equal(layer.weight[1:], rows[1:])  # inside the ball: untouched, bit for bit
    assert torch.equal(layer.bias, torch.full((3,), 10.0))  # biases are not constrained


def test_max_norm_is_per_output_channel_for_conv_and_recurses() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.mul_(100.0)
        model[0].weight[1].zero_().add_(0.01)  # one small filter
    small = model[0].weight[1].clone()
    apply_max_norm(model, max_norm=1.5)
    norms = model[0].weight.flatten(1).norm(dim=1)
    assert (norms <= 1.5 + 1e-6).all()
    assert torch.allclose(norms[[0, 2, 3]], torch.full((3,), 1.5))
    assert torch.equal(model[0].weight[1], small)
    assert (model[2].weight.norm(dim=1) <= 1.5 + 1e-6).all()


def test_max_norm_does_not_track_gradients_and_validates() -> None:
    layer = nn.Linear(2, 2)
    apply_max_norm(layer, 0.1)
    assert layer.weight.grad_fn is None and layer.weight.requires_grad
    with pytest.raises(NeuralabError, match="max_norm must be a finite float > 0; got 0"):
        apply_max_norm(layer, 0)
