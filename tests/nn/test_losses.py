"""Tests for neuralab.nn.losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuralab.errors import NeuralabError
from neuralab.nn.losses import LOSSES, get_loss


@pytest.fixture
def regression() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(16, generator=gen), torch.randn(16, generator=gen)


def test_mse_half_is_half_of_mse(regression: tuple[torch.Tensor, torch.Tensor]) -> None:
    y, t = regression
    assert torch.allclose(get_loss("mse", half=True)(y, t), 0.5 * get_loss("mse")(y, t))


def test_mse_half_gradient_is_residual_over_n() -> None:
    y = torch.tensor([1.0, 2.0, 4.0, 0.0], requires_grad=True)
    t = torch.tensor([0.0, 2.0, 1.0, 1.0])
    get_loss("mse", half=True)(y, t).backward()
    assert torch.allclose(y.grad, (y.detach() - t) / 4)


@pytest.mark.parametrize(
    ("name", "kwargs", "reference"),
    [
        ("mse", {}, lambda y, t: F.mse_loss(y, t)),
        ("mae", {}, lambda y, t: F.l1_loss(y, t)),
        ("huber", {}, lambda y, t: F.huber_loss(y, t, delta=1.0)),
        ("huber", {"delta": 0.3}, lambda y, t: F.huber_loss(y, t, delta=0.3)),
        ("bce", {}, lambda y, t: F.binary_cross_entropy_with_logits(y, t)),
        (
            "bce",
            {"pos_weight": 3.0},
            lambda y, t: F.binary_cross_entropy_with_logits(y, t, pos_weight=torch.tensor(3.0)),
        ),
    ],
)
def test_losses_agree_with_torch_functional(name: str, kwargs: dict, reference, regression) -> None:
    y, t = regression
    if name == "bce":
        t = (t > 0).float()
    assert torch.allclose(get_loss(name, **kwargs)(y, t), reference(y, t))


def test_huber_is_quadratic_inside_delta_and_linear_outside() -> None:
    loss = get_loss("huber", delta=1.0)
    # e = 0.5: ½·0.25 = 0.125; e = 3: 1·(3 - ½) = 2.5.
    assert loss(torch.tensor([0.5]), torch.tensor([0.0])).item() == pytest.approx(0.125)
    assert loss(torch.tensor([3.0]), torch.tensor([0.0])).item() == pytest.approx(2.5)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_agrees_with_torch(label_smoothing: float) -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 4, generator=gen)
    target = torch.randint(0, 4, (8,), generator=gen)
    expected = F.cross_entropy(logits, target, label_smoothing=label_smoothing)
    loss = get_loss("cross_entropy", label_smoothing=label_smoothing)
    assert torch.allclose(loss(logits, target), expected)
    assert torch.allclose(loss(logits, target.view(8, 1)), expected)  # (N, 1) targets are accepted


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "bce"])
def test_column_prediction_with_flat_target_is_aligned_not_broadcast(name: str, regression) -> None:
    y, t = regression
    t = (t > 0).float() if name == "bce" else t
    loss = get_loss(name)
    flat = loss(y, t)
    assert torch.allclose(loss(y.view(-1, 1), t), flat)
    assert torch.allclose(loss(y, t.view(-1, 1)), flat)


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "bce"])
def test_shape_mismatch_error_shows_both_shapes(name: str) -> None:
    with pytest.raises(NeuralabError, match=rf"{name}: prediction shape \(4, 2\) .* target shape \(4,\)"):
        get_loss(name)(torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(NeuralabError, match=r"\(3, 1\).*\(4,\)"):
        get_loss(name)(torch.zeros(3, 1), torch.zeros(4))


def test_regression_accepts_integer_targets_and_backpropagates() -> None:
    y = torch.zeros(3, 1, requires_grad=True)
    get_loss("mse")(y, torch.tensor([1, 2, 3])).backward()
    assert y.grad is not None and y.grad.shape == (3, 1)


def test_cross_entropy_rejects_out_of_range_class_with_clear_message() -> None:
    loss = get_loss("cross_entropy")
    with pytest.raises(NeuralabError, match=r"class 3 but the logits have 3 classes; expected .* 0\.\.2"):
        loss(torch.zeros(4, 3), torch.tensor([0, 1, 3, 2]))
    with pytest.raises(NeuralabError, match=r"class -1"):
        loss(torch.zeros(2, 3), torch.tensor([-1, 0]))


def test_cross_entropy_rejects_float_targets_and_bad_shapes() -> None:
    loss = get_loss("cross_entropy")
    with pytest.raises(NeuralabError, match="integer class indices; got dtype torch.float32"):
        loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(NeuralabError, match=r"logits shape \(2, 3\) does not match target shape \(3,\)"):
        loss(torch.zeros(2, 3), torch.tensor([0, 1, 2]))


def test_every_loss_returns_a_finite_scalar_with_gradient() -> None:
    for name in LOSSES:
        pred = torch.randn(6, 3 if name == "cross_entropy" else 1, requires_grad=True)
        target = torch.randint(0, 3, (6,)) if name == "cross_entropy" else torch.rand(6)
        value = get_loss(name)(pred, target)
        value.backward()
        assert value.ndim == 0 and torch.isfinite(value)
        assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_unknown_loss_and_keyword_suggest_closest() -> None:
    with pytest.raises(NeuralabError, match=r"unknown loss 'crossentropy' \(did you mean 'cross_entropy'\?\)"):
        get_loss("crossentropy")
    with pytest.raises(NeuralabError, match=r"'label_smooth'.*did you mean 'label_smoothing'"):
        get_loss("cross_entropy", label_smooth=0.1)
    with pytest.raises(NeuralabError, match=r"'delt'.*did you mean 'delta'"):
        get_loss("huber", delt=2.0)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("huber", {"delta": 0.0}, "delta must be a finite float > 0"),
        ("cross_entropy", {"label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\]"),
        ("bce", {"pos_weight": -1.0}, "pos_weight must be a finite float > 0"),
    ],
)
def test_out_of_range_loss_keywords_raise(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(NeuralabError, match=message):
        get_loss(name, **kwargs)
