"""Tests for neuralab.nn.optim: Quickprop's update rule and the optimiser factory."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.nn.optim import OPTIMIZERS, Quickprop, build_optimizer


def quickprop_path(w0: float, a: float, c: float, steps: int, **kwargs: float) -> list[float]:
    """Weights after each Quickprop step on E(w) = ½·a·(w - c)², whose slope is g = a·(w - c)."""
    w = nn.Parameter(torch.tensor([w0], dtype=torch.float64))
    opt = Quickprop([w], **kwargs)
    path = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * a * (w - c) ** 2).sum().backward()
        opt.step()
        path.append(w.item())
    return path


def test_quickprop_first_step_is_gradient_descent_and_secant_step_lands_on_minimum() -> None:
    # a = 2, c = 1, w0 = 3, lr = 0.75.
    # Step 1: g0 = 2·(3 - 1) = 4, previous step 0, so Δw1 = -lr·g0 = -3 and w1 = 0.
    # Step 2: g1 = 2·(0 - 1) = -2 has crossed the minimum (sign change), so there is no gradient term, and the
    # secant step is Δw2 = g1 / (g0 - g1) · Δw1 = -2 / 6 · (-3) = +1 (|1| <= 1.75·3, no growth limit): w2 = 1 = c.
    w1, w2 = quickprop_path(3.0, a=2.0, c=1.0, steps=2, lr=0.75)
    assert w1 == 0.0
    assert w2 == 1.0


def test_quickprop_adds_gradient_term_while_slope_keeps_its_sign() -> None:
    # a = 1, c = 0, w0 = 4, lr = 0.5.
    # Step 1: g0 = 4, Δw1 = -0.5·4 = -2, w1 = 2.
    # Step 2: g1 = 2, same sign as g0, so Fahlman adds the gradient term to the secant step:
    # secant g1 / (g0 - g1) · Δw1 = 2 / 2 · (-2) = -2 (factor 1 <= mu), gradient term -0.5·2 = -1, Δw2 = -3, w2 = -1.
    assert quickprop_path(4.0, a=1.0, c=0.0, steps=2, lr=0.5) == [2.0, -1.0]


def test_quickprop_growth_limit_caps_secant_step_at_mu_times_previous_step() -> None:
    # a = 1, c = 0, w0 = 4, lr = 0.1, mu = 1.75.
    # Step 1: g0 = 4, Δw1 = -0.4, w1 = 3.6.
    # Step 2: g1 = 3.6, secant factor 3.6 / (4 - 3.6) = 9 > mu, so the secant part is mu·Δw1 = -0.7; plus the
    # gradient term -0.1·3.6 = -0.36 (same sign): Δw2 = -1.06, w2 = 2.54.
    w1, w2 = quickprop_path(4.0, a=1.0, c=0.0, steps=2, lr=0.1, mu=1.75)
    assert w1 == pytest.approx(3.6, abs=1e-12)
    assert w2 == pytest.approx(2.54, abs=1e-12)


def test_quickprop_takes_max_step_when_slope_does_not_shrink() -> None:
    # E(w) = w (a straight line): g = 1 at every step, so g_prev - g = 0 and the secant divides by zero.
    # Step 1: Δw1 = -0.5·1 = -0.5. Step 2: max step mu·Δw1 = -0.875 plus gradient term -0.5: Δw2 = -1.375.
    # Step 3: mu·Δw2 - 0.5 = -2.40625 - 0.5 = -2.90625.
    w = nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    opt = Quickprop([w], lr=0.5, mu=1.75)
    path = []
    for _ in range(3):
        opt.zero_grad()
        w.sum().backward()
        opt.step()
        path.append(w.item())
    assert path == pytest.approx([-0.5, -1.875, -4.78125], abs=1e-12)


def test_quickprop_stays_at_minimum_without_nan() -> None:
    # After landing on c the slope is 0 and the next step is 0 / (g_prev - 0) · Δw = 0; then Δw_prev = 0 and the
    # rule restarts with -lr·g = 0. No division by zero anywhere.
    path = quickprop_path(3.0, a=2.0, c=1.0, steps=5, lr=0.75)
    assert path[1:] == [1.0, 1.0, 1.0, 1.0]


def test_quickprop_treats_each_element_independently() -> None:
    a = torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64)
    c = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    w = nn.Parameter(torch.tensor([3.0, 4.0, 4.0], dtype=torch.float64))
    # One shared lr, so compare with scalar runs at the same lr.
    opt = Quickprop([w], lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        (0.5 * a * (w - c) ** 2).sum().backward()
        opt.step()
    expected = [quickprop_path(w0, a=ai, c=ci, steps=3, lr=0.5)[-1] for w0, ai, ci in [(3, 2, 1), (4, 1, 0), (4, 1, 0)]]
    assert w.tolist() == pytest.approx(expected, abs=1e-12)


def test_quickprop_weight_decay_is_added_to_the_slope() -> None:
    # E = 0 (no data term), weight_decay = 0.5, w0 = 2: slope g0 = 0.5·2 = 1, Δw1 = -lr·g0 = -0.1, w1 = 1.9.
    w = nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    opt = Quickprop([w], lr=0.1, weight_decay=0.5)
    w.grad = torch.zeros_like(w)
    opt.step()
    assert w.item() == pytest.approx(1.9, abs=1e-12)


def least_squares() -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3
    torch.manual_seed(0)
    return nn.Linear(3, 1), x, y


def train(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return nn.functional.mse_loss(model(x), y).item()


def test_quickprop_reduces_least_squares_loss() -> None:
    model, x, y = least_squares()
    initial = nn.functional.mse_loss(model(x), y).item()
    final = train(model, Quickprop(model.parameters(), lr=0.1), x, y, steps=30)
    assert final < 0.01 * initial


def test_quickprop_state_dict_round_trip_continues_identically() -> None:
    model, x, y = least_squares()
    opt = Quickprop(model.parameters(), lr=0.05, mu=1.5)
    train(model, opt, x, y, steps=3)
    state = copy.deepcopy(opt.state_dict())
    assert {"prev_step", "prev_grad"} <= set(state["state"][0])

    clone = copy.deepcopy(model)
    resumed = Quickprop(clone.parameters(), lr=1.0)  # hyper-parameters come back from the state_dict
    resumed.load_state_dict(state)
    assert resumed.param_groups[0]["mu"] == 1.5
    train(model, opt, x, y, steps=4)
    train(clone, resumed, x, y, steps=4)
    for p, q in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"mu": -1.0}, {"weight_decay": -0.1}, {"lr": math.nan}])
def test_quickprop_rejects_bad_hyperparameters(kwargs: dict) -> None:
    with pytest.raises(NeuralabError, match=f"{next(iter(kwargs))} must be a finite float"):
        Quickprop([nn.Parameter(torch.zeros(1))], **kwargs)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_step_lowers_a_simple_loss(name: str) -> None:
    target = torch.tensor([1.0, -2.0, 0.5, 3.0])
    w = nn.Parameter(torch.zeros(4))
    opt = build_optimizer(name, [w], lr=0.01)

    def loss() -> torch.Tensor:
        return ((w - target) ** 2).sum()

    before = loss().item()
    opt.zero_grad()
    loss().backward()
    opt.step()
    assert loss().item() < before


def test_optimizer_presets_and_overrides() -> None:
    w = nn.Parameter(torch.zeros(2))
    assert build_optimizer("sgd", [w], lr=0.1).defaults["momentum"] == 0
    assert build_optimizer("momentum", [w], lr=0.1).defaults["momentum"] == 0.9
    nesterov = build_optimizer("nesterov", [w], lr=0.1)
    assert nesterov.defaults["nesterov"] is True and nesterov.defaults["momentum"] == 0.9
    assert build_optimizer("momentum", [w], lr=0.1, momentum=0.5).defaults["momentum"] == 0.5
    assert build_optimizer("adamw", [w], lr=0.1, weight_decay=0.1).defaults["weight_decay"] == 0.1
    assert build_optimizer("quickprop", [w], lr=0.1, mu=1.5).defaults["mu"] == 1.5


def test_unknown_optimizer_and_keyword_suggest_closest() -> None:
    w = nn.Parameter(torch.zeros(2))
    with pytest.raises(NeuralabError, match=r"unknown optimizer 'adm' \(did you mean 'adam'\?\); expected one of"):
        build_optimizer("adm", [w], lr=0.1)
    with pytest.raises(NeuralabError, match=r"'momentun' for optimizer 'sgd' \(did you mean 'momentum'\?\)"):
        build_optimizer("sgd", [w], lr=0.1, momentun=0.9)
    with pytest.raises(NeuralabError, match=r"'weight_decy'.*did you mean 'weight_decay'"):
        build_optimizer("quickprop", [w], lr=0.1, weight_decy=0.1)


@pytest.mark.parametrize("lr", [0, -0.1, math.inf, math.nan, "0.1", True, None])
def test_build_optimizer_rejects_bad_lr(lr: object) -> None:
    with pytest.raises(NeuralabError, match=r"^lr must be a finite float > 0; got"):
        build_optimizer("adam", [nn.Parameter(torch.zeros(2))], lr=lr)


def test_torch_value_errors_become_neuralab_errors() -> None:
    with pytest.raises(NeuralabError, match="optimizer 'sgd': Invalid momentum value"):
        build_optimizer("sgd", [nn.Parameter(torch.zeros(2))], lr=0.1, momentum=-1.0)
    with pytest.raises(NeuralabError, match="optimizer 'adam': .*empty parameter list"):
        build_optimizer("adam", [], lr=0.1)
