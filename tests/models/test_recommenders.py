"""The recommender models: RBM-CF's contrastive divergence checked against autograd, absent ratings that play no part,
matrix factorisation's regularisation and fold-in worked by hand, AutoRec's observed-only loss, and the metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuralab.errors import NeuralabError
from neuralab.models import RBMCF, AutoRec, MatrixFactorization
from neuralab.models.rbm_cf import rating_errors
from neuralab.tasks._ratings import ranking_metrics


class Recorder:
    """Stands in for the engine's optimisers: keeps what a train_step hands over."""

    epoch = 1

    def __init__(self):
        self.gradients, self.losses = None, []

    def apply_gradients(self, gradients, loss, group=0):
        self.gradients = {p: g.clone() for p, g in gradients.items()}
        self.losses.append(loss)
        return loss


def ratings(rows: int = 6, columns: int = 7, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    values = torch.randint(1, 6, (rows, columns), generator=g)
    return (values * (torch.rand(rows, columns, generator=g) < 0.6)).to(torch.int8)


def free_energy(model: RBMCF, x: torch.Tensor, implicit: torch.Tensor) -> torch.Tensor:
    """F(V) = −b·v − Σ_j softplus(c_j + (vW)_j + (rD)_j) for one-hot rows x ``(B, I·K)``."""
    pre = x @ model.weight.reshape(-1, model.hidden_size) + model.hidden_bias
    if model.implicit_weight is not None:
        pre = pre + implicit.float() @ model.implicit_weight
    return -(x @ model.visible_bias) - F.softplus(pre).sum(-1)


@pytest.mark.parametrize("conditional", [False, True])
def test_the_cd_update_is_the_gradient_of_the_free_energy_difference(conditional):
    torch.manual_seed(0)
    model = RBMCF(n_columns=7, hidden_size=5, conditional=conditional, cd_schedule=[[1, 1]])
    with torch.no_grad():
        model.weight.normal_(0, 0.3)
        if conditional:
            model.implicit_weight.normal_(0, 0.3)
    v = ratings()
    implicit = (v > 0) | (torch.rand(v.shape) < 0.2)
    torch.manual_seed(1)
    recorder = Recorder()
    model.train_step((torch.arange(len(v)), v, v, implicit), recorder)
    # Replay the same draws to get the negative phase, then backpropagate mean F(data) − mean F(negatives).
    torch.manual_seed(1)
    with torch.no_grad():
        x0 = model._one_hot(v)
        h = torch.bernoulli(torch.sigmoid(model._hidden_input(x0, implicit)))
        xk = (model.visible_probs(h) * (v > 0).unsqueeze(-1)).reshape(len(v), -1)
    surrogate = free_energy(model, x0, implicit).mean() - free_energy(model, xk, implicit).mean()
    params = [model.weight, model.visible_bias, model.hidden_bias] + ([model.implicit_weight] if conditional else [])
    expected = torch.autograd.grad(surrogate, params)
    for param, grad in zip(params, expected):
        assert torch.allclose(recorder.gradients[param], grad, atol=1e-6)


def test_an_absent_rating_plays_no_part_it_is_not_a_zero_rating():
    torch.manual_seed(0)
    model = RBMCF(n_columns=5, hidden_size=4)
    row = torch.tensor([[4, 0, 2, 0, 5]], dtype=torch.int8)
    before = model.hidden_probs(row)
    with torch.no_grad():  # the weights of the absent items 1 and 3 change: the row's hidden units must not
        model.weight[[1, 3]] += 5.0
    assert torch.allclose(model.hidden_probs(row), before)
    recorder = Recorder()
    model.train_step((torch.tensor([0]), row, row, None), recorder)
    grad = recorder.gradients[model.weight]
    assert grad[[1, 3]].abs().max() == 0 and grad[[0, 2, 4]].abs().max() > 0


def test_only_the_conditional_rbm_reads_which_items_were_rated():
    torch.manual_seed(0)
    row = torch.tensor([[4, 0, 2, 0, 5]], dtype=torch.int8)
    plain, conditional = RBMCF(n_columns=5, hidden_size=3), RBMCF(n_columns=5, hidden_size=3, conditional=True)
    with torch.no_grad():
        conditional.implicit_weight.normal_(0, 1)
    some, more = row > 0, torch.ones_like(row, dtype=torch.bool)
    assert torch.equal(plain.predict_rows(row, some), plain.predict_rows(row, more))
    assert not torch.allclose(conditional.predict_rows(row, some), conditional.predict_rows(row, more))


def test_predictions_are_expected_ratings_and_t_follows_the_schedule():
    model = RBMCF(n_columns=4, hidden_size=3, cd_schedule=[[1, 1], [3, 5]])
    predicted = model.predict_rows(torch.tensor([[1, 0, 0, 5]], dtype=torch.int8))
    assert ((predicted >= 1) & (predicted <= 5)).all()
    assert [model.gibbs_steps(e) for e in (1, 2, 3, 9)] == [1, 1, 5, 5]
    with pytest.raises(NeuralabError, match="cd_schedule"):
        RBMCF(n_columns=4, cd_schedule=[[0, 1]])


def test_visible_units_are_one_softmax_over_the_levels_not_independent_binomials():
    """The pitfall of public RBM recommenders: K binary units per item, each on or off on its own. Ours are one
    softmax per item: the levels' probabilities sum to 1, and the prediction is the expectation over them."""
    torch.manual_seed(0)
    model = RBMCF(n_columns=3, hidden_size=4)
    torch.nn.init.normal_(model.weight, std=1.0)
    h = torch.bernoulli(torch.full((6, 4), 0.5))
    probs = model.visible_probs(h)
    logits = (h @ model.weight.reshape(-1, 4).T).reshape(6, 3, 5) + model.visible_bias.reshape(3, 5)
    assert torch.allclose(probs.sum(-1), torch.ones(6, 3)) and torch.allclose(probs, torch.softmax(logits, -1))
    ratings = torch.tensor([[1, 0, 5]], dtype=torch.int8)
    expected = (model.visible_probs(model.hidden_probs(ratings)) * torch.arange(1, 6)).sum(-1)
    assert torch.allclose(model.predict_rows(ratings), expected)


def test_visible_biases_start_from_each_items_rating_frequencies():
    model = RBMCF(n_columns=2, hidden_size=2)
    data = torch.tensor([[5, 1], [5, 0], [4, 0], [5, 0]], dtype=torch.int8)
    model.start_from(data)
    probs = model.visible_probs(torch.zeros(1, 2))[0]  # W starts near 0: the biases alone
    assert probs[0].argmax() == 4 and probs[0, 4] > 0.6 and probs[1].argmax() == 0


def test_matrix_factorisation_loss_is_mse_plus_reg_per_rating_by_hand():
    model = MatrixFactorization(n_rows=2, n_columns=3, factors=2, reg=0.1, mean=3.0)
    with torch.no_grad():
        model.row_factors.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model.column_factors.copy_(torch.tensor([[1.0, 1.0], [0.5, 0.0], [0.0, 2.0]]))
        model.row_bias.copy_(torch.tensor([0.5, -0.5]))
        model.column_bias.copy_(torch.tensor([0.0, 0.2, 0.0]))
    target = torch.tensor([[5, 0, 3], [0, 4, 0]], dtype=torch.int8)
    out = model.loss((torch.tensor([0, 1]), target, target, None))
    # predictions: (0,0) 3+.5+0+1 = 4.5, (0,2) 3+.5+0+0 = 3.5, (1,1) 3−.5+.2+0 = 2.7
    mse = ((5 - 4.5) ** 2 + (3 - 3.5) ** 2 + (4 - 2.7) ** 2) / 3
    penalty = (2 * (0.25 + 1) + 1 * (0.25 + 1)) + (1 * (0 + 2) + 1 * (0.04 + 0.25) + 1 * (0 + 4))
    assert out["loss"].item() == pytest.approx(mse + 0.1 * penalty / 3, rel=1e-6)
    assert out["rmse"].item() == pytest.approx(math.sqrt(mse), rel=1e-6)


def test_a_new_row_is_folded_in_by_ridge_regression():
    torch.manual_seed(0)
    model = MatrixFactorization(n_rows=3, n_columns=6, factors=2, reg=0.01, mean=3.0)
    new = torch.tensor([[5, 0, 1, 4, 0, 2]], dtype=torch.int8)
    bias, vector = model.fold_in(new)
    seen = (new[0] > 0).numpy()
    design = np.c_[np.ones(6), model.column_factors.detach().numpy()][seen]
    residual = new[0].numpy()[seen] - 3.0 - model.column_bias.detach().numpy()[seen]
    expected = np.linalg.solve(design.T @ design + 0.01 * np.eye(3), design.T @ residual)
    assert np.allclose(np.r_[bias.numpy(), vector[0].numpy()], expected, atol=1e-4)
    predicted = model.predict_rows(new, rows=torch.tensor([-1]))
    assert predicted.shape == (1, 6)
    with pytest.raises(NeuralabError, match="row indices"):
        model.predict_rows(new, rows=torch.tensor([3]))


def test_autorec_learns_only_from_observed_ratings():
    torch.manual_seed(0)
    model = AutoRec(n_columns=5, hidden_size=3)
    target = torch.tensor([[4, 0, 2, 0, 5]], dtype=torch.int8)
    model.loss((torch.tensor([0]), target, target, None))["loss"].backward()
    assert model.decoder.bias.grad[[1, 3]].abs().max() == 0 and model.decoder.bias.grad[[0, 2, 4]].abs().max() > 0


def test_rating_errors_are_over_held_out_entries_only():
    class Fixed(torch.nn.Module):
        levels = 5

        def predict_rows(self, ratings, implicit=None, rows=None):
            return torch.full(ratings.shape, 3.0)

    target = torch.tensor([[5, 0], [0, 2]], dtype=torch.int8)
    result = rating_errors(Fixed(), [(torch.arange(2), torch.zeros_like(target), target, None)])
    assert result == {"rmse": pytest.approx(math.sqrt((4 + 1) / 2)), "mae": pytest.approx(1.5)}


def test_ranking_metrics_by_hand():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    known = torch.tensor([[True, False, False, False], [False, False, False, False]])
    relevant = torch.tensor([[False, False, True, False], [True, False, False, True]])
    result = ranking_metrics(scores, known, relevant, k=2)
    # user 0 ranks items 1, 2 (0 is known): one hit at rank 2; user 1 ranks 3, 2: one hit at rank 1 of 2 relevant
    assert result["precision_at_2"] == pytest.approx((0.5 + 0.5) / 2)
    assert result["recall_at_2"] == pytest.approx((1.0 + 0.5) / 2)
    ndcg0 = (1 / math.log2(3)) / 1.0
    ndcg1 = 1.0 / (1 + 1 / math.log2(3))
    assert result["ndcg_at_2"] == pytest.approx((ndcg0 + ndcg1) / 2)
    assert result["coverage"] == pytest.approx(3 / 4) and result["users"] == 2
