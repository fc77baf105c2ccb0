"""GANs on tiny data: one step moves both players, D learns to tell real from a frozen G, the losses are the
papers', and the quality measures (FID, KID, classes, nearest images) agree with closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models import GAN
from neuralab.tasks._quality import (
    ClassifierFeatures,
    class_histogram,
    frechet_distance,
    image_quality,
    nearest_images,
)
from neuralab.train import FitData, OptimizerConfig, TrainerConfig, fit
from neuralab.train.step import Optimizers, build_optimizers

DIGITS = torch.tensor(load_digits().data / 16, dtype=torch.float32)
LABELS = torch.tensor(load_digits().target)


def tiny(**kwargs) -> GAN:
    torch.manual_seed(0)
    return GAN(64, **{**dict(image_size=8, latent_dim=8, channels=8, hidden_sizes=(32,)), **kwargs})


def optimizers(model: GAN, lr: float = 2e-4) -> Optimizers:
    return Optimizers(build_optimizers(model, OptimizerConfig(name="adam", lr=lr)), model)


@pytest.mark.parametrize("architecture", ["mlp", "dcgan"])
@pytest.mark.parametrize("loss", ["minimax", "non_saturating", "hinge", "wgan_gp"])
def test_one_step_moves_both_players(architecture, loss):
    model = tiny(architecture=architecture, loss=loss, conditional=True, n_critic=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logs = model.train_step((DIGITS[:16], LABELS[:16]), optimizers(model))
    for player in ("generator", "discriminator"):
        moved = [k for k in before if k.startswith(player) and "num_batches" not in k
                 and not torch.equal(before[k], model.state_dict()[k])]
        assert moved, f"{player} did not move"
    assert {"d_loss", "g_loss", "d_real", "d_fake", "d_accuracy_real", "d_accuracy_fake"} <= set(logs)
    assert all(torch.isfinite(v) for v in logs.values())


def test_the_discriminator_learns_to_tell_real_digits_from_a_frozen_generator():
    model = tiny(architecture="dcgan")
    model.generator.requires_grad_(False)
    opt = torch.optim.Adam(model.discriminator.parameters(), lr=1e-3)
    for step in range(60):
        real = DIGITS[torch.randint(0, len(DIGITS), (64,))].reshape(-1, 1, 8, 8) * 2 - 1
        with torch.no_grad():
            fake = model.generate(model.noise(64))
        loss = model._d_loss(model.discriminate(real), model.discriminate(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        real = DIGITS[:200].reshape(-1, 1, 8, 8) * 2 - 1
        accuracy = ((model.discriminate(real) > 0).float().mean() + (model.discriminate(
            model.generate(model.noise(200))) <= 0).float().mean()) / 2
    assert accuracy > 0.95


def test_the_losses_are_the_papers():
    model = tiny(loss="minimax")
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sig = torch.sigmoid
    d = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    assert model._d_loss(real, fake) == pytest.approx(float(d), rel=1e-5)
    assert model._g_loss(fake) == pytest.approx(float(torch.log(1 - sig(fake)).mean()), rel=1e-5)
    model.loss_name = "non_saturating"
    assert model._g_loss(fake) == pytest.approx(float(-torch.log(sig(fake)).mean()), rel=1e-5)
    model.loss_name, model.label_smoothing = "non_saturating", 0.1
    smoothed = -(0.9 * torch.log(sig(real)) + 0.1 * torch.log(1 - sig(real))).mean() - torch.log(1 - sig(fake)).mean()
    assert model._d_loss(real, fake) == pytest.approx(float(smoothed), rel=1e-5)
    model.loss_name = "hinge"
    hinge = torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
    assert model._d_loss(real, fake) == pytest.approx(float(hinge))
    model.loss_name = "wgan_gp"
    assert model._d_loss(real, fake) == pytest.approx(float(fake.mean() - real.mean()))


def test_the_gradient_penalty_is_zero_for_a_critic_of_unit_slope():
    model = tiny(architecture="mlp", loss="wgan_gp")

    class Slope(nn.Module):  # D(x) = u · x with |u| = 1: gradient norm 1 everywhere
        def forward(self, x, extra):
            u = torch.ones(64) / 8.0
            return x.flatten(1) @ u

    model.discriminator = Slope()
    real, fake = torch.rand(5, 1, 8, 8), torch.rand(5, 1, 8, 8)
    assert float(model._gradient_penalty(real, fake, None)) == pytest.approx(0.0, abs=1e-10)


def test_a_conditional_gan_draws_the_label_it_is_asked_for_and_refuses_bad_ones():
    model = tiny(conditional=True, n_classes=10)
    assert model.sample(4, labels=7).shape == (4, 1, 8, 8)
    assert model.sample(3, labels=torch.tensor([0, 1, 2])).shape == (3, 1, 8, 8)
    for bad in (10, -1, torch.tensor([1, 2])):
        with pytest.raises(NeuralabError, match="labels must be"):
            model.sample(3, labels=bad)
    with pytest.raises(NeuralabError, match="give the class labels"):
        model.sample(3)


def test_bad_settings_are_one_line_errors():
    for kwargs, match in ((dict(loss="lsgan"), "loss must be one of"), (dict(architecture="vit"), "mlp or dcgan"),
                          (dict(latent_dim=0), "latent_dim"), (dict(label_smoothing=0.7), "label_smoothing")):
        with pytest.raises(NeuralabError, match=match):
            tiny(**kwargs)
    with pytest.raises(NeuralabError, match="multiples of 4"):
        GAN(100, image_size=10, architecture="dcgan")


def test_a_gan_trains_through_the_engine_and_resumes_exactly(tmp_path):
    from neuralab.train import Checkpoint

    def run(epochs, resume=None):
        model = tiny(architecture="dcgan")
        checkpoint = Checkpoint(tmp_path, monitor="none")
        state = fit(model, FitData((DIGITS[:256],)), TrainerConfig(epochs=epochs, batch_size=64, seed=3),
                    [checkpoint], optimizer=OptimizerConfig(name="adam", lr=2e-4), resume=resume)
        return model, state

    full, _ = run(4)
    run(2)
    resumed, state = run(4, resume=tmp_path / "last.ckpt")
    assert state.epoch == 4
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


# --- quality measures ------------------------------------------------------------------------------------------

class Flat(nn.Module):
    """Features = the pixels themselves, and a linear "classifier" head so that ClassifierFeatures accepts it."""

    def __init__(self, d: int, classes: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Identity(), nn.Linear(d, classes))

    def forward(self, x):
        return self.net(x)


def test_fid_is_zero_for_identical_sets_and_the_closed_form_for_two_gaussians():
    rng = np.random.default_rng(0)
    d, n = 4, 20_000
    features = ClassifierFeatures(Flat(d), (1, 1, d))
    a = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32).reshape(n, 1, 1, d)
    same = image_quality(features, a, a.clone())
    assert same["fid"] == pytest.approx(0.0, abs=1e-3) and same["n"] == n
    mu, scale = np.array([1.0, 0.0, -0.5, 0.0]), np.array([1.0, 2.0, 0.5, 1.0])
    b = torch.tensor(rng.normal(size=(n, d)) * scale + mu, dtype=torch.float32).reshape(n, 1, 1, d)
    exact = frechet_distance(np.zeros(d), np.eye(d), mu, np.diag(scale ** 2))
    assert exact == pytest.approx(float(mu @ mu + np.sum((1 - scale) ** 2)))  # diagonal case by hand
    assert image_quality(features, a, b)["fid"] == pytest.approx(exact, rel=0.05)
    assert image_quality(features, a, b)["kid"] > 10 * abs(same["kid"])


def test_class_shares_warn_of_mode_collapse():
    features = ClassifierFeatures(Flat(3), (1, 1, 3))
    with torch.no_grad():
        features.last.weight.copy_(torch.eye(3)), features.last.bias.zero_()
    balanced = torch.eye(3).repeat(10, 1).reshape(30, 1, 1, 3)
    result = class_histogram(features, balanced, 3)
    assert result["share"] == pytest.approx([1 / 3] * 3, abs=1e-3) and result["n"] == 30
    collapsed = torch.tensor([[1.0, 0, 0]]).repeat(30, 1).reshape(30, 1, 1, 3)
    warning = class_histogram(features, collapsed, 3)["warning"]
    assert "mode collapse" in warning and "[1, 2] under 5%" in warning and "[0] over 20%" in warning


def test_nearest_images_finds_the_training_twin():
    training = torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    samples = training[[7, 3]] + 0.01
    assert torch.equal(nearest_images(samples, training), training[[7, 3]])
