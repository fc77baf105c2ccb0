"""Autoencoders: shapes over a sweep, corruption, the sparsity and contractive terms against hand and finite-difference
computations, encoder transfer into an MLP, and input errors."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from neuralab.errors import NeuralabError
from neuralab.models.autoencoder import Autoencoder
from neuralab.models.mlp import MLP
from neuralab.models.pretrain import transfer_encoder

# (constructor keywords, input shape without batch, extra loss keys)
CONFIGS = {
    "mlp_flat": (dict(in_features=12, hidden_sizes=(8,), latent_dim=3), (12,), set()),
    "mlp_image": (dict(in_features=16, image_size=4, hidden_sizes=(8, 6), latent_dim=2, batch_norm=True,
                       dropout=0.1), (1, 4, 4), set()),
    "sparse_kl": (dict(in_features=12, hidden_sizes=(8,), latent_dim=4, code_activation="sigmoid", sparsity="kl",
                       sparsity_weight=0.5), (12,), {"sparsity"}),
    "sparse_l1_gaussian": (dict(in_features=12, hidden_sizes=(), latent_dim=3, sparsity="l1", sparsity_weight=0.1,
                                output="gaussian"), (12,), {"sparsity"}),
    "denoising": (dict(in_features=12, hidden_sizes=(8,), latent_dim=3, noise="masking", noise_level=0.3),
                  (12,), set()),
    "contractive": (dict(in_features=12, hidden_sizes=(8,), latent_dim=3, activation="tanh",
                         contractive_weight=0.1), (12,), {"contractive"}),
    "conv8": (dict(in_features=64, architecture="conv", image_size=8, conv_channels=(2, 4), latent_dim=3),
              (1, 8, 8), set()),
    "conv_rgb_rect_bn": (dict(in_features=3 * 8 * 16, architecture="conv", in_channels=3, image_size=(8, 16),
                              conv_channels=(2, 4), latent_dim=3, batch_norm=True, noise="salt_pepper",
                              noise_level=0.1, contractive_weight=0.01), (3, 8, 16), {"contractive"}),
}


def make(seed: int = 0, **kwargs) -> Autoencoder:
    torch.manual_seed(seed)
    return Autoencoder(**kwargs)


@pytest.mark.parametrize("name", CONFIGS)
def test_autoencoder_sweep_shapes_loss_gradients_seed_and_safetensors(name, tmp_path):
    kwargs, shape, extra = CONFIGS[name]
    model = make(**kwargs)
    x = torch.rand(6, *shape)
    assert model.encode(x).shape == (6, kwargs["latent_dim"])
    assert model.decode(model.encode(x)).shape == (6, *shape)
    assert model(x).shape == x.shape
    assert model.reconstruct(x.flatten(1)).shape == (6, math.prod(shape))  # flat in, flat out
    assert model.anomaly_score(x).shape == (6,)

    terms = model.loss((x, torch.zeros(6)))
    assert set(terms) == {"loss", "reconstruction", *extra}
    assert all(t.dim() == 0 and torch.isfinite(t) for t in terms.values())
    assert torch.allclose(terms["loss"], sum(v for k, v in terms.items() if k != "loss"))
    terms["loss"].backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{pname} got no gradient"

    again = make(**kwargs)
    for (pname, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b) or "running" in pname or "num_batches" in pname, f"{pname} differs with one seed"
    save_file(model.state_dict(), tmp_path / "ae.safetensors")
    fresh = make(seed=3, **kwargs)
    fresh.load_state_dict(load_file(tmp_path / "ae.safetensors"))
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))


def test_eval_loss_is_the_mean_anomaly_score_in_nats_per_image():
    model = make(in_features=12, hidden_sizes=(8,), latent_dim=3, noise="gaussian", noise_level=0.5).eval()
    x = torch.rand(5, 12)
    recon = torch.sigmoid(model.decoder(model.encode(x)))
    by_hand = -(x * recon.log() + (1 - x) * (1 - recon).log()).sum(1)
    assert torch.allclose(model.anomaly_score(x), by_hand, atol=1e-5)
    assert torch.allclose(model.loss((x,))["reconstruction"], by_hand.mean(), atol=1e-5)  # no noise in eval


@pytest.mark.parametrize("noise", ["masking", "salt_pepper"])
def test_corruption_hits_the_expected_fraction_and_leaves_x_alone(noise):
    model = make(in_features=100, hidden_sizes=(), latent_dim=2, noise=noise, noise_level=0.3)
    x = torch.full((40, 100), 0.5)
    noisy = model.corrupt(x, generator=torch.Generator().manual_seed(0))
    hit = noisy != 0.5
    assert torch.equal(x, torch.full((40, 100), 0.5))
    assert abs(hit.float().mean().item() - 0.3) < 0.03
    values = noisy[hit]
    if noise == "masking":
        assert torch.all(values == 0)
    else:
        assert set(values.unique().tolist()) == {0.0, 1.0}
        assert abs((values == 1).float().mean().item() - 0.5) < 0.05


def test_gaussian_corruption_has_the_given_std_and_stays_in_range_for_bernoulli():
    model = make(in_features=100, hidden_sizes=(), latent_dim=2, noise="gaussian", noise_level=0.05)
    x = torch.full((40, 100), 0.5)
    noisy = model.corrupt(x, generator=torch.Generator().manual_seed(0))
    assert abs((noisy - x).std().item() - 0.05) < 0.005
    model.noise_level = 2.0
    wild = model.corrupt(x, generator=torch.Generator().manual_seed(0))
    assert wild.min() == 0 and wild.max() == 1


def test_denoising_loss_reconstructs_the_clean_input_from_the_corrupted_one():
    model = make(in_features=20, hidden_sizes=(8,), latent_dim=3, noise="salt_pepper", noise_level=0.4)
    x = torch.rand(6, 20)
    torch.manual_seed(1)
    terms = model.loss((x,))
    torch.manual_seed(1)
    x_in = model.corrupt(x)  # the same draws as inside loss
    logits = model.decoder(model.encode(x_in))
    clean = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 6
    noisy = torch.nn.functional.binary_cross_entropy_with_logits(logits, x_in, reduction="sum") / 6
    assert torch.allclose(terms["reconstruction"], clean)
    assert not torch.allclose(terms["reconstruction"], noisy)


def test_kl_sparsity_term_matches_a_hand_computation():
    model = make(in_features=10, hidden_sizes=(6,), latent_dim=3, code_activation="sigmoid", sparsity="kl",
                 sparsity_weight=0.7, sparsity_target=0.1).eval()
    x = torch.rand(5, 10)
    h = model.encode(x)
    rho_hat = h.mean(0)
    assert torch.allclose(model.mean_activations(x), rho_hat)
    rho = 0.1
    by_hand = sum(rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r)) for r in rho_hat.tolist())
    assert model.loss((x,))["sparsity"].item() == pytest.approx(0.7 * by_hand, rel=1e-5)


def test_l1_sparsity_is_the_weighted_mean_absolute_code_sum():
    model = make(in_features=10, hidden_sizes=(), latent_dim=3, sparsity="l1", sparsity_weight=0.2).eval()
    x = torch.rand(5, 10)
    expected = 0.2 * model.encode(x).abs().sum(1).mean()
    assert torch.allclose(model.loss((x,))["sparsity"], expected)


def _finite_difference_penalty(model: Autoencoder, x: torch.Tensor, delta: float = 1e-6) -> torch.Tensor:
    """Σ_ij (∂h_j/∂x_i)² per example by central differences, one input coordinate at a time."""
    x = x.flatten(1)
    total = torch.zeros(len(x), dtype=x.dtype)
    for i in range(x.shape[1]):
        step = torch.zeros_like(x)
        step[:, i] = delta
        column = (model.encode(x + step) - model.encode(x - step)) / (2 * delta)  # (B, K)
        total += column.pow(2).sum(1)
    return total


def test_contractive_closed_form_equals_autograd_and_finite_differences():
    model = make(in_features=5, hidden_sizes=(), latent_dim=3, code_activation="sigmoid",
                 contractive_weight=0.5).double()
    x = torch.rand(4, 5, dtype=torch.float64) * 0.8 + 0.1
    closed = model.jacobian_penalty(x, method="closed_form")
    auto = model.jacobian_penalty(x, method="autograd")
    assert closed.shape == (4,)
    assert torch.allclose(closed, auto, atol=1e-12)
    assert torch.allclose(closed, _finite_difference_penalty(model, x), atol=1e-8)
    assert torch.allclose(model.jacobian_penalty(x), closed)  # "auto" picks the closed form here
    terms = model.loss((x,))
    assert torch.allclose(terms["contractive"], 0.5 * closed.mean())


@pytest.mark.parametrize("kwargs", [
    dict(in_features=6, hidden_sizes=(4,), latent_dim=2, activation="tanh", code_activation="tanh"),
    dict(in_features=16, architecture="conv", image_size=4, conv_channels=(2,), latent_dim=2, activation="tanh"),
], ids=["mlp", "conv"])
def test_contractive_autograd_path_matches_finite_differences_and_trains(kwargs):
    model = make(contractive_weight=1.0, **kwargs).double()
    x = torch.rand(3, kwargs["in_features"], dtype=torch.float64)
    assert torch.allclose(model.jacobian_penalty(x), _finite_difference_penalty(model, x), atol=1e-7)
    with pytest.raises(NeuralabError, match="closed_form"):
        model.jacobian_penalty(x, method="closed_form")
    model.loss((x,))["contractive"].backward()  # second-order gradient reaches the encoder
    assert next(model.encoder.parameters()).grad.abs().sum() > 0


def test_contractive_loss_works_under_no_grad_for_validation():
    model = make(in_features=6, hidden_sizes=(4,), latent_dim=2, contractive_weight=1.0).eval()
    with torch.no_grad():
        terms = model.loss((torch.rand(3, 6),))
    assert torch.isfinite(terms["contractive"])
    assert not any(t.requires_grad for t in terms.values())


def test_transfer_encoder_copies_linear_and_batchnorm_layers():
    ae = make(in_features=16, hidden_sizes=(8,), latent_dim=4, batch_norm=True)
    ae(torch.rand(10, 16))  # move the running statistics away from their defaults
    torch.manual_seed(5)
    mlp = MLP(16, [8, 4, 6], 3, batch_norm=True)
    assert transfer_encoder(ae, mlp) == 2
    ae.eval(), mlp.eval()
    x = torch.rand(5, 16)
    assert torch.allclose(mlp.net[:4](x), ae.encoder(x))  # Linear, BN, ReLU, Linear


def test_transfer_encoder_refuses_mismatched_layers_and_conv_autoencoders():
    ae = make(in_features=16, hidden_sizes=(8,), latent_dim=4)
    with pytest.raises(NeuralabError, match=r"do not match.*Linear\(4, 8\)"):
        transfer_encoder(ae, MLP(16, [8, 5], 3))
    with pytest.raises(NeuralabError, match="do not match"):
        transfer_encoder(ae, MLP(16, [8, 4], 3, batch_norm=True))
    conv = make(in_features=16, architecture="conv", image_size=4, conv_channels=(2,), latent_dim=2)
    with pytest.raises(NeuralabError, match="architecture='mlp'"):
        transfer_encoder(conv, MLP(16, [2], 3))


def test_pixels_in_0_255_and_nan_inputs_are_rejected_with_a_fix():
    model = make(in_features=4, hidden_sizes=(), latent_dim=2)
    with pytest.raises(NeuralabError, match="0–255: divide by 255"):
        model.encode(torch.tensor([[0.0, 12.0, 255.0, 3.0]]))
    with pytest.raises(NeuralabError, match="0–255"):
        model.loss((torch.tensor([[0.0, 12.0, 255.0, 3.0]]),))  # the first loss call is checked
    with pytest.raises(NeuralabError, match="NaN"):
        model.reconstruct(torch.tensor([[0.0, float("nan"), 0.5, 0.5]]))
    gaussian = make(in_features=4, hidden_sizes=(), latent_dim=2, output="gaussian")
    assert gaussian.encode(torch.tensor([[-3.0, 12.0, 255.0, 3.0]])).shape == (1, 2)
    with pytest.raises(NeuralabError, match=r"expects input of shape \(B, 4\); got \(2, 5\)"):
        model.encode(torch.rand(2, 5))


@pytest.mark.parametrize("kwargs, match", [
    (dict(architecture="conv", in_features=64), "needs image_size"),
    (dict(architecture="conv", in_features=100, image_size=10), r"divisible by 2\*\*len\(conv_channels\) = 4"),
    (dict(in_features=50, image_size=8), r"in_features \(50\) must equal"),
    (dict(sparsity="kl"), "code_activation='sigmoid'"),
    (dict(noise="blur"), "noise must be one of none, gaussian, masking, salt_pepper"),
    (dict(noise="masking", noise_level=1.5), "noise_level"),
    (dict(latent_dim=0), "latent_dim must be a positive int; got 0"),
])
def test_bad_arguments_name_the_culprit(kwargs, match):
    with pytest.raises(NeuralabError, match=match):
        Autoencoder(**{"hidden_sizes": (4,), **kwargs})
