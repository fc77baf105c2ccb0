"""The RBM against enumeration on tiny models: free energy, log Z (exact and by AIS), the contrastive-divergence
gradient, and what training does."""

import math

import pytest
import torch

from neuralab.errors import NeuralabError
from neuralab.models import DBN, RBM
from neuralab.models.ais import (
    _all_states,
    ais_log_partition,
    base_rate_biases,
    exact_log_partition,
)
from neuralab.train import FitData, OptimizerConfig, TrainerConfig, fit


def tiny(visible: str = "bernoulli", v: int = 8, h: int = 5, scale: float = 1.0, seed: int = 0) -> RBM:
    torch.manual_seed(seed)
    rbm = RBM(in_features=v, hidden_size=h, visible=visible)
    with torch.no_grad():
        rbm.weight.weight.normal_(0, scale), rbm.weight.bias.normal_(0, 0.5), rbm.visible.bias.normal_(0, 0.5)
    return rbm


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_free_energy_is_minus_log_sum_over_hidden_states_of_exp_minus_energy(visible):
    rbm = tiny(visible, scale=0.5)
    v = torch.bernoulli(torch.full((6, 8), 0.5)) if visible == "bernoulli" else torch.randn(6, 8)
    states = _all_states(5)
    energies = torch.stack([rbm.energy(v, h.expand(6, -1)) for h in states], 1)  # (6, 32)
    assert torch.allclose(rbm.free_energy(v), -torch.logsumexp(-energies, 1), atol=1e-5)


def test_exact_log_z_is_the_same_summed_over_visible_or_over_hidden_states():
    rbm = tiny(v=10, h=12)
    by_visible = exact_log_partition(rbm)
    wide = RBM(in_features=30, hidden_size=12)
    with torch.no_grad():  # the same hidden layer, visible units past 20: only the hidden sum is possible
        wide.weight.weight[:, :10], wide.weight.bias[:], wide.visible.bias[:10] = rbm.weight.weight, \
            rbm.weight.bias, rbm.visible.bias
        wide.weight.weight[:, 10:] = 0
    # the 20 weightless visible units with zero bias add 20·log 2
    assert exact_log_partition(wide) == pytest.approx(by_visible + 20 * math.log(2), abs=1e-6)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_ais_agrees_with_the_exact_log_z_within_its_error_bars(visible):
    rbm = tiny(visible, v=10, h=6, scale=1.0 if visible == "bernoulli" else 0.3)
    data = torch.bernoulli(torch.full((50, 10), 0.3))
    base = base_rate_biases(data) if visible == "bernoulli" else None
    result = ais_log_partition(rbm, runs=200, betas=torch.linspace(0, 1, 2000), base_biases=base, seed=1)
    exact = exact_log_partition(rbm)
    assert result.log_z_low <= exact <= result.log_z_high, (result, exact)
    assert result.log_z == pytest.approx(exact, abs=0.05)


def test_ais_refuses_a_schedule_that_does_not_run_from_0_to_1():
    with pytest.raises(NeuralabError, match="betas must rise from 0 to 1"):
        ais_log_partition(tiny(), betas=torch.linspace(0.1, 1, 10))


def test_long_gibbs_chains_give_the_exact_log_likelihood_gradient():
    """CD-∞: negatives from chains run to equilibrium make the surrogate's gradient the exact one."""
    rbm = tiny(v=6, h=4, scale=0.5, seed=3)
    data = torch.bernoulli(torch.full((64, 6), 0.3), generator=torch.Generator().manual_seed(0))
    states = _all_states(6)
    # The exact gradient of the mean log-likelihood with respect to W: <h vᵀ>_data − <h vᵀ>_model.
    p_model = torch.softmax(-rbm.free_energy(states).detach().double(), 0)
    model_term = (rbm.hidden_probs(states).detach().double().T * p_model) @ states.double()
    data_term = rbm.hidden_probs(data).detach().double().T @ data.double() / len(data)
    exact = data_term - model_term  # (H, V), the ascent direction
    torch.manual_seed(1)
    with torch.no_grad():
        negatives = rbm.gibbs(torch.bernoulli(torch.full((20000, 6), 0.5)), steps=200)
    surrogate = rbm.free_energy(data).mean() - rbm.free_energy(negatives).mean()
    (grad,) = torch.autograd.grad(surrogate, rbm.weight.weight)
    assert torch.allclose(-grad.double(), exact, atol=0.02), (-grad, exact)


def toy_data(n: int = 400) -> torch.Tensor:
    """Two prototypes of 8 bits with 5% of the bits flipped."""
    prototypes = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1]], dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    x = prototypes[torch.randint(0, 2, (n,), generator=g)]
    flips = torch.bernoulli(torch.full(x.shape, 0.05), generator=g)
    return (x + flips) % 2


@pytest.mark.parametrize("persistent", [False, True])
def test_contrastive_divergence_raises_the_exact_log_likelihood(persistent):
    x = toy_data()
    rbm = RBM(in_features=8, hidden_size=4, persistent=persistent, n_chains=50, k=1)

    def log_likelihood() -> float:
        with torch.no_grad():
            return float((-rbm.free_energy(x)).mean() - exact_log_partition(rbm))

    before = log_likelihood()
    fit(rbm, FitData((x,)), TrainerConfig(epochs=15, batch_size=20), optimizer=OptimizerConfig(name="sgd", lr=0.1))
    after = log_likelihood()
    assert after > before + 1.0 and after > -4.0, (before, after)  # two prototypes, 5% noise: about −3.2 at best


def test_the_sparsity_target_pulls_the_hidden_units_mean_activation_towards_it():
    x = toy_data()
    means = {}
    for cost in (0.0, 1.0):
        rbm = RBM(in_features=8, hidden_size=16, sparsity_target=0.05, sparsity_cost=cost)
        fit(rbm, FitData((x,)), TrainerConfig(epochs=10, batch_size=20, seed=1),
            optimizer=OptimizerConfig(name="sgd", lr=0.1))
        with torch.no_grad():
            means[cost] = float(rbm(x).mean())
    assert means[1.0] < means[0.0] and means[1.0] < 0.15


def test_persistent_chains_are_kept_in_checkpoints_and_resume_is_exact(tmp_path):
    from neuralab.train import Checkpoint

    x = toy_data(200)
    config = TrainerConfig(epochs=4, batch_size=20)
    torch.manual_seed(0)
    whole = RBM(in_features=8, hidden_size=4, persistent=True, n_chains=10)
    fit(whole, FitData((x,), (x[:40],)), config, optimizer=OptimizerConfig(name="sgd", lr=0.1))
    torch.manual_seed(0)
    half = RBM(in_features=8, hidden_size=4, persistent=True, n_chains=10)
    fit(half, FitData((x,), (x[:40],)), config.model_copy(update={"epochs": 2}), [Checkpoint(tmp_path)],
        optimizer=OptimizerConfig(name="sgd", lr=0.1))
    torch.manual_seed(0)
    resumed = RBM(in_features=8, hidden_size=4, persistent=True, n_chains=10)
    fit(resumed, FitData((x,), (x[:40],)), config, [Checkpoint(tmp_path)],
        optimizer=OptimizerConfig(name="sgd", lr=0.1), resume=tmp_path / "last.ckpt")
    assert torch.equal(resumed.weight.weight, whole.weight.weight)
    assert torch.equal(resumed.chains, whole.chains)


def test_validation_reports_the_monitors_of_the_practical_guide():
    x = toy_data()
    rbm = RBM(in_features=8, hidden_size=4)
    state = fit(rbm, FitData((x[:300],), (x[300:],)), TrainerConfig(epochs=2, batch_size=20),
                optimizer=OptimizerConfig(name="sgd", lr=0.1))
    logs = state.history[-1]
    assert {"train_reconstruction_error", "train_free_energy", "val_reconstruction_error", "val_free_energy",
            "val_pseudo_log_likelihood", "val_free_energy_gap"} <= set(logs)
    assert "train_loss" not in logs, "an RBM has no loss to log"
    assert logs["val_pseudo_log_likelihood"] < 0


def test_a_dbn_trains_its_layers_one_after_another():
    x = toy_data()
    dbn = DBN(in_features=8, hidden_sizes=(6, 4))
    state = fit(dbn, FitData((x,), (x[:50],)), TrainerConfig(epochs=4, batch_size=20),
                optimizer=OptimizerConfig(name="sgd", lr=0.1))
    assert [h["train_layer"] for h in state.history] == [0.0, 0.0, 1.0, 1.0]
    assert state.optimizers.names == ["layer0", "layer1"]
    assert dbn.current == 1 and [m.weight.shape for m in dbn.encoder_layers()] == [(6, 8), (4, 6)]
    assert dbn.sample(3, torch.Generator().manual_seed(0), steps=5).shape == (3, 8)


class Capture:
    """Stands in for the engine's optimisers: keeps the gradients a train_step hands over."""

    def apply_gradients(self, gradients, loss, group=0):
        self.gradients, self.loss = gradients, loss
        return loss


@pytest.mark.parametrize("visible, sparsity", [("bernoulli", 0.0), ("gaussian", 0.0), ("bernoulli", 0.5)])
def test_the_closed_form_cd_gradient_equals_backpropagating_the_surrogate(visible, sparsity):
    rbm = tiny(visible, v=7, h=5, scale=0.3)
    rbm.sparsity_target, rbm.sparsity_cost = 0.1, sparsity
    x = torch.rand(16, 7) if visible == "bernoulli" else torch.randn(16, 7)
    torch.manual_seed(5)
    capture = Capture()
    rbm.train_step((x,), capture)
    torch.manual_seed(5)  # the same negatives
    with torch.no_grad():
        negatives = rbm.gibbs(rbm.visible.sample(rbm.visible_mean(torch.bernoulli(rbm.hidden_probs(x)))), 0)
    surrogate = rbm.free_energy(x).mean() - rbm.free_energy(negatives).mean()
    if sparsity:
        q = rbm.hidden_probs(x).mean(0)
        surrogate = surrogate + sparsity * torch.nn.functional.binary_cross_entropy(q, torch.full_like(q, 0.1),
                                                                                     reduction="sum")
    params = [rbm.weight.weight, rbm.weight.bias, rbm.visible.bias]
    expected = torch.autograd.grad(surrogate, params)
    for param, grad in zip(params, expected):
        assert torch.allclose(capture.gradients[param], grad, atol=1e-5)
    assert capture.loss == pytest.approx(float(surrogate.detach()), abs=1e-4)
