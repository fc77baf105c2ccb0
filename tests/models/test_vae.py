"""The VAE: shapes over a sweep, the ELBO against torch.distributions, the closed-form KL against Monte Carlo, KL
warm-up, importance-sampled NLL, binarisation, sampling, interpolation, a short training run and input errors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.distributions import Bernoulli, Normal, kl_divergence

from neuralab.errors import NeuralabError
from neuralab.models.vae import VAE

KEYS = {"loss", "reconstruction", "kl", "elbo", "beta"}

# (constructor keywords, input shape without batch)
CONFIGS = {
    "mlp_bernoulli": (dict(in_features=12, hidden_sizes=(8,), latent_dim=2), (12,)),
    "mlp_gaussian_image": (dict(in_features=16, image_size=4, hidden_sizes=(8, 6), latent_dim=2,
                                likelihood="gaussian"), (1, 4, 4)),
    "mlp_binarize_bn": (dict(in_features=12, hidden_sizes=(8,), latent_dim=2, binarize=True, batch_norm=True),
                        (12,)),
    "conv8": (dict(in_features=64, architecture="conv", image_size=8, conv_channels=(2, 4), latent_dim=3), (1, 8, 8)),
    "conv16_bn": (dict(in_features=2 * 16 * 16, architecture="conv", in_channels=2, image_size=16,
                       conv_channels=(2,), latent_dim=2, batch_norm=True, warmup_steps=5), (2, 16, 16)),
}


def make(seed: int = 0, **kwargs) -> VAE:
    torch.manual_seed(seed)
    return VAE(**kwargs)


@pytest.mark.parametrize("name", CONFIGS)
def test_vae_sweep_shapes_loss_gradients_seed_and_safetensors(name, tmp_path):
    kwargs, shape = CONFIGS[name]
    model = make(**kwargs)
    x = torch.rand(6, *shape)
    k = kwargs["latent_dim"]
    mu, logvar = model.encode_distribution(x)
    assert mu.shape == logvar.shape == (6, k)
    assert torch.equal(model.encode(x), mu)
    assert model.decode(mu).shape == (6, *shape)
    assert model(x).shape == x.shape
    assert model.sample(3).shape == (3, *shape)
    assert model.elbo(x).shape == model.anomaly_score(x).shape == model.importance_nll(x, k=4, chunk=3).shape == (6,)

    terms = model.loss((x, torch.zeros(6)))
    assert set(terms) == KEYS
    assert all(t.dim() == 0 and torch.isfinite(t) for t in terms.values())
    assert torch.allclose(terms["elbo"], -(terms["reconstruction"] + terms["kl"]))
    terms["loss"].backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{pname} got no gradient"

    again = make(**kwargs)
    for pname, p in again.named_parameters():
        assert torch.equal(p, model.get_parameter(pname)), f"{pname} differs with the same seed"
    save_file(model.state_dict(), tmp_path / "vae.safetensors")
    fresh = make(seed=3, **kwargs)
    fresh.load_state_dict(load_file(tmp_path / "vae.safetensors"))
    assert fresh.step.item() == 1
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_matches_torch_distributions(likelihood):
    model = make(in_features=10, hidden_sizes=(6,), latent_dim=3, likelihood=likelihood).eval()
    if likelihood == "gaussian":
        with torch.no_grad():
            model.log_sigma.uniform_(-1, 0.5)  # away from 0 so that the learned noise level matters
    x = torch.rand(4, 10)
    got = model.elbo(x, generator=torch.Generator().manual_seed(7))
    mu, logvar = model.encode_distribution(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(7))
    out = model.decoder(mu + (0.5 * logvar).exp() * eps)
    # Grey pixels are not in the Bernoulli's support; its log_prob is still the cross-entropy the VAE uses.
    px = (Bernoulli(logits=out, validate_args=False) if likelihood == "bernoulli"
          else Normal(out, model.log_sigma.exp()))
    expected = px.log_prob(x).sum(1) - kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0, 1)).sum(1)
    assert torch.allclose(got, expected.detach(), atol=1e-4)
    assert torch.allclose(model.anomaly_score(x, generator=torch.Generator().manual_seed(7)), -got)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_with_fixed_eps_averages_the_draws_and_matches_the_generator_path(likelihood):
    model = make(in_features=10, hidden_sizes=(6,), latent_dim=3, likelihood=likelihood).eval()
    x = torch.rand(5, 10)
    # One draw per row: the same numbers as drawing them from the generator.
    eps = torch.randn(5, 3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(model.elbo(x, eps=eps), model.elbo(x, generator=torch.Generator().manual_seed(4)))
    # S draws shared by every row, written out by hand: log p(x|z) averaged over the draws, minus the closed KL.
    shared = torch.randn(7, 1, 3, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        mu, logvar = model.encode_distribution(x)
        by_hand = torch.stack([model.log_likelihood(model.decoder(mu + (0.5 * logvar).exp() * e), x)
                               for e in shared]).mean(0) - VAE.kl_divergence(mu, logvar)
    got = model.elbo(x, eps=shared)
    assert got.shape == (5,)
    assert torch.allclose(got, by_hand, atol=1e-5)
    # Shared draws make a row's ELBO independent of the rows beside it.
    assert torch.allclose(model.elbo(x[2:4], eps=shared), got[2:4], atol=1e-6)
    assert torch.equal(model.elbo(x, eps=shared.expand(7, 5, 3)), got)


def test_elbo_refuses_eps_of_the_wrong_shape():
    model = make(in_features=10, hidden_sizes=(6,), latent_dim=3)
    with pytest.raises(NeuralabError, match=r"eps must have shape \(B, latent_dim\) = \(4, 3\).*got \(4, 2\)"):
        model.elbo(torch.rand(4, 10), eps=torch.randn(4, 2))
    with pytest.raises(NeuralabError, match=r"\(S, 1, 3\) for S draws; got \(2, 3, 3\)"):
        model.elbo(torch.rand(4, 10), eps=torch.randn(2, 3, 3))


def test_closed_form_kl_agrees_with_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g) * 0.5
    q = Normal(mu, (0.5 * logvar).exp())
    z = q.sample((100_000,))
    samples = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)  # (n, 2)
    estimate, stderr = samples.mean(0), samples.std(0) / 100_000 ** 0.5
    closed = VAE.kl_divergence(mu, logvar)
    assert closed.shape == (2,)
    assert torch.all((closed - estimate).abs() < 4 * stderr + 1e-3)


def test_kl_warmup_ramps_beta_and_the_step_buffer_is_checkpointed():
    model = make(in_features=8, hidden_sizes=(4,), latent_dim=2, beta=2.0, warmup_steps=4)
    x = torch.rand(3, 8)
    betas = [model.loss((x,))["beta"].item() for _ in range(6)]
    assert betas == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    assert model.state_dict()["step"].item() == 6
    model.eval()
    model.loss((x,))
    assert model.step.item() == 6  # evaluation does not advance the schedule
    resumed = make(seed=1, in_features=8, hidden_sizes=(4,), latent_dim=2, beta=2.0, warmup_steps=4)
    resumed.load_state_dict(model.state_dict())
    assert resumed.kl_weight().item() == 2.0
    terms = make(in_features=8, hidden_sizes=(4,), latent_dim=2, beta=0.5).loss((x,))
    assert terms["beta"].item() == 0.5
    assert torch.allclose(terms["loss"], terms["reconstruction"] + 0.5 * terms["kl"])


def test_validation_loss_uses_the_full_kl_weight_during_warm_up():
    model = make(in_features=8, hidden_sizes=(4,), latent_dim=2, beta=1.0, warmup_steps=100)
    x = torch.rand(3, 8)
    assert model.loss((x,))["beta"].item() == 0.0  # training: warm-up starts at zero
    model.eval()
    terms = model.loss((x,))
    assert terms["beta"].item() == 1.0
    assert torch.allclose(terms["loss"], -terms["elbo"])


def test_importance_nll_with_one_sample_is_minus_elbo_and_more_samples_tighten_it():
    model = make(in_features=10, hidden_sizes=(8,), latent_dim=2).eval()
    x = torch.rand(8, 10).repeat(250, 1)  # 2000 rows: 250 estimates per example
    neg_elbo = -model.elbo(x, generator=torch.Generator().manual_seed(0))
    nll_1 = model.importance_nll(x, k=1, generator=torch.Generator().manual_seed(0))
    diff = nll_1 - neg_elbo  # same z draws: only the KL estimate (Monte Carlo vs closed form) differs
    assert diff.mean().abs() < 4 * diff.std() / len(diff) ** 0.5 + 1e-4
    few = x[:32]
    nll_64 = model.importance_nll(few, k=64, chunk=20, generator=torch.Generator().manual_seed(1))
    assert nll_64.mean() < -model.elbo(few, generator=torch.Generator().manual_seed(2)).mean()
    assert torch.isfinite(nll_64).all()


def test_interpolation_runs_from_one_mean_to_the_other():
    model = make(in_features=16, image_size=4, hidden_sizes=(8,), latent_dim=2).eval()
    x_a, x_b = torch.rand(1, 4, 4), torch.rand(1, 1, 4, 4)
    path = model.interpolate(x_a, x_b, steps=5)
    assert path.shape == (5, 1, 4, 4)
    assert torch.allclose(path[0], model.decode(model.encode(x_a.reshape(1, -1)))[0], atol=1e-6)
    assert torch.allclose(path[-1], model.decode(model.encode(x_b))[0], atol=1e-6)
    assert not torch.allclose(path[0], path[-1])


def test_sampling_is_reproducible_with_a_generator():
    model = make(in_features=12, hidden_sizes=(8,), latent_dim=2)
    a = model.sample(4, generator=torch.Generator().manual_seed(3))
    b = model.sample(4, generator=torch.Generator().manual_seed(3))
    c = model.sample(4, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (4, 12) and a.min() >= 0 and a.max() <= 1


def test_dynamic_binarisation_applies_in_training_only():
    model = make(in_features=12, hidden_sizes=(8,), latent_dim=2, binarize=True)
    x = torch.rand(5, 12) * 0.8 + 0.1
    torch.manual_seed(0)
    trained_on = model.loss((x,))["elbo"]
    torch.manual_seed(0)
    binary = torch.bernoulli(x)
    assert set(binary.unique().tolist()) == {0.0, 1.0}
    assert torch.allclose(trained_on, model.elbo(binary).mean())
    model.eval()
    torch.manual_seed(0)
    evaluated_on = model.loss((x,))["elbo"]
    torch.manual_seed(0)
    assert torch.allclose(evaluated_on, model.elbo(x).mean())


def test_vae_loss_decreases_on_tiny_batch():
    model = make(in_features=16, hidden_sizes=(16,), latent_dim=2)
    x = torch.bernoulli(torch.rand(16, 16, generator=torch.Generator().manual_seed(0)))
    before = -model.elbo(x, generator=torch.Generator().manual_seed(1)).mean()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        model.loss((x,))["loss"].backward()
        optimizer.step()
    after = -model.elbo(x, generator=torch.Generator().manual_seed(1)).mean()
    assert after < before - 1.0


def test_bad_inputs_and_arguments_are_rejected():
    model = make(in_features=4, hidden_sizes=(), latent_dim=2)
    with pytest.raises(NeuralabError, match="0–255: divide by 255"):
        model.loss((torch.tensor([[0.0, 12.0, 255.0, 3.0]]),))
    with pytest.raises(NeuralabError, match="NaN"):
        model.elbo(torch.tensor([[0.0, float("nan"), 0.5, 0.5]]))
    with pytest.raises(NeuralabError, match="likelihood='bernoulli' needs inputs in"):
        model.encode(torch.tensor([[-1.0, 0.0, 0.5, 0.5]]))
    with pytest.raises(NeuralabError, match="k must be a positive int; got 0"):
        model.importance_nll(torch.rand(2, 4), k=0)
    with pytest.raises(NeuralabError, match="binarize=True .* likelihood='bernoulli'"):
        VAE(in_features=4, binarize=True, likelihood="gaussian")
    with pytest.raises(NeuralabError, match="likelihood must be one of bernoulli, gaussian"):
        VAE(in_features=4, likelihood="poisson")
    with pytest.raises(NeuralabError, match="needs image_size"):
        VAE(in_features=64, architecture="conv")
