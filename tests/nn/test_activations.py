"""Tests for neuralab.nn.activations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.nn.activations import ACTIVATIONS, Step, get_activation


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_builds_and_keeps_the_shape(name: str) -> None:
    x = torch.randn(4, 3)
    y = get_activation(name)(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_step_is_heaviside_with_one_at_zero() -> None:
    x = torch.tensor([-2.0, -1e-6, 0.0, 1e-6, 3.0])
    assert torch.equal(Step()(x), torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0]))


def test_step_keeps_the_input_dtype() -> None:
    assert Step()(torch.zeros(2, dtype=torch.float64)).dtype == torch.float64


def test_plain_step_has_zero_gradient() -> None:
    x = torch.randn(10, requires_grad=True)
    Step()(x).mul(torch.arange(10.0)).sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.zeros(10))


def test_straight_through_step_passes_gradient_inside_unit_interval() -> None:
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.7, 1.0, 2.5], requires_grad=True)
    Step(straight_through=True)(x).sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]))


def test_straight_through_step_passes_gradcheck_as_hardtanh_surrogate() -> None:
    # The STE is by design not the derivative of the step, so gradcheck it in the form y = step(x) - step(x) +
    # hardtanh(x), where the step terms are equal in value (numerical derivative: hardtanh') and only the first is
    # differentiated (analytical derivative: the STE). The two agree iff the STE backward is hardtanh'.
    step = Step(straight_through=True)

    def surrogate(x: torch.Tensor) -> torch.Tensor:
        return step(x) - step(x).detach() + F.hardtanh(x).detach()

    gen = torch.Generator().manual_seed(0)
    x = torch.empty(50, dtype=torch.float64).uniform_(-2.0, 2.0, generator=gen)
    x = x[(x.abs() - 1).abs() > 1e-3].requires_grad_()  # keep away from the kinks at ±1
    assert torch.autograd.gradcheck(surrogate, (x,), eps=1e-6, atol=1e-8)


def test_perceptron_of_plain_steps_cannot_learn_but_straight_through_can() -> None:
    # Logical OR, linearly separable: the straight-through perceptron learns it, the plain one does not move.
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    t = torch.tensor([[0.0], [1.0], [1.0], [1.0]])
    for straight_through, should_learn in [(False, False), (True, True)]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 1), Step(straight_through=straight_through))
        with torch.no_grad():
            model[0].weight.fill_(-0.5)
            model[0].bias.fill_(-0.2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(50):
            opt.zero_grad()
            F.mse_loss(model(x), t).backward()
            opt.step()
        learned = torch.equal(model(x), t)
        assert learned == should_learn


def test_softmax_defaults_to_last_dimension() -> None:
    x = torch.randn(2, 3, 5)
    assert torch.allclose(get_activation("softmax")(x), torch.softmax(x, dim=-1))
    assert torch.allclose(get_activation("softmax", dim=1)(x), torch.softmax(x, dim=1))


def test_linear_is_identity_and_kwargs_reach_the_module() -> None:
    x = torch.randn(3, 2)
    assert torch.equal(get_activation("linear")(x), x)
    assert get_activation("leaky_relu", negative_slope=0.3).negative_slope == 0.3
    assert get_activation("step", straight_through=True).straight_through is True
    assert get_activation("gelu", approximate="tanh").approximate == "tanh"


def test_unknown_activation_lists_names_and_suggests_closest() -> None:
    with pytest.raises(NeuralabError, match=r"unknown activation 'rellu' \(did you mean 'relu'\?\).*leaky_relu"):
        get_activation("rellu")


def test_unknown_activation_keyword_names_closest_valid_one() -> None:
    with pytest.raises(NeuralabError, match=r"'negative_slop'.*did you mean 'negative_slope'"):
        get_activation("leaky_relu", negative_slop=0.1)
    with pytest.raises(NeuralabError, match="takes no keywords"):
        get_activation("sigmoid", inplace=True)
