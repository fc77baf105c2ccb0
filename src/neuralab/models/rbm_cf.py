"""The RBM for collaborative filtering: Salakhutdinov, Mnih & Hinton (2007), "Restricted Boltzmann Machines for
Collaborative Filtering" (ICML).

Each user is one RBM over the items they rated, and every user's RBM shares the same weights. A rated item is a
softmax visible unit with one state per rating level (K = 5): ``v_ik = 1`` when the rating of item ``i`` is ``k``.
An item the user did not rate is *absent*: it has no unit, so it neither drives the hidden units nor is
reconstructed (it is not a zero rating). With binary hidden units ``h``:

    p(h_j = 1 | V)   = σ(c_j + Σ_i Σ_k v_ik W_ikj  [+ Σ_i r_i D_ij])
    p(v_ik = 1 | h)  = softmax_k(b_ik + Σ_j h_j W_ikj)

The bracketed term is the paper's *conditional* RBM: ``r`` marks every item the user is known to have rated (the
identities of the held-out queries included, not their ratings), which tells the model something even when the
rating is unknown. Training is contrastive divergence with T Gibbs steps, T growing over training (the paper's
"T is gradually increased"): ``cd_schedule`` maps epochs to T. The update is the CD estimate in closed form,
handed to the engine's optimiser (momentum, weight decay, the NaN check), as :class:`neuralab.models.RBM` does.

A prediction is the expected rating ``Σ_k k · p(v_qk = 1 | p̂)`` with the hidden units at their probabilities
``p̂ = p(h | V)``: one mean-field pass (the paper's equation 9). Everything is vectorised over a batch of users with
masks: a batch is ``(rows, input, target, implicit)``, where ``input`` holds the ratings the model may see (0 =
absent), ``target`` the ratings to predict and ``implicit`` which items were rated (:mod:`neuralab.tasks.
recommendation` builds them so that a held-out rating is never in ``input``). The same model over items instead of
users (each item an RBM over the users who rated it) is the I-RBM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models._checks import check_positive_ints

__all__ = ["RBMCF", "rating_errors"]


class RBMCF(nn.Module):
    """A restricted Boltzmann machine with softmax visible units over rated items.

    Parameters
    ----------
    n_columns
        Visible items (the columns of the rating matrix: items for a user-based RBM, users for the I-RBM).
    hidden_size
        Binary hidden units (the paper used 100).
    levels
        Rating levels K: ratings are 1..K.
    conditional
        The conditional RBM: an extra weight ``D`` from "which items were rated" to the hidden units.
    cd_schedule
        ``[[epoch, T], ...]``: from each epoch on (1-based), T Gibbs steps per update. The default grows T as
        1, 3, 5, 9 at epochs 1, 20, 30, 40.

    Examples
    --------
    >>> rbm = RBMCF(n_columns=6, hidden_size=4)
    >>> ratings = torch.tensor([[5, 0, 3, 0, 0, 1]], dtype=torch.int8)
    >>> rbm.predict_rows(ratings).shape            # the expected rating of every item, rated or not
    torch.Size([1, 6])
    """

    def __init__(self, n_columns: int, hidden_size: int = 100, *, levels: int = 5, conditional: bool = False,
                 cd_schedule: Sequence[Sequence[int]] = ((1, 1), (20, 3), (30, 5), (40, 9))) -> None:
        super().__init__()
        check_positive_ints(n_columns=n_columns, hidden_size=hidden_size, levels=levels)
        schedule = [tuple(step) for step in cd_schedule]
        if not schedule or any(len(s) != 2 or int(s[0]) < 1 or int(s[1]) < 1 for s in schedule):
            raise NeuralabError(f"cd_schedule must be pairs [epoch, T] with epoch >= 1 and T >= 1; got {cd_schedule!r}")
        self.cd_schedule = sorted((int(e), int(t)) for e, t in schedule)
        self.n_columns, self.hidden_size, self.levels, self.conditional = n_columns, hidden_size, levels, conditional
        self.weight = nn.Parameter(torch.randn(n_columns, levels, hidden_size) * 0.01)  # W (I, K, H)
        # b (I·K,), flat so that weight decay, which takes parameters of two or more dimensions, leaves it alone; the
        # task sets it to the log frequencies of each item's ratings.
        self.visible_bias = nn.Parameter(torch.zeros(n_columns * levels))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden_size))  # c (H,)
        self.implicit_weight = nn.Parameter(torch.zeros(n_columns, hidden_size)) if conditional else None  # D (I, H)

    # --- the model ------------------------------------------------------------------------------------------

    def _one_hot(self, ratings: torch.Tensor) -> torch.Tensor:
        """``(B, I)`` ratings in 0..K (0 = absent) → ``(B, I·K)`` one-hot rows, all zero for absent items."""
        if ratings.shape[-1] != self.n_columns:
            raise NeuralabError(f"RBMCF expects rows of {self.n_columns} ratings; got shape {tuple(ratings.shape)}")
        one_hot = F.one_hot(ratings.long().clamp(0, self.levels), self.levels + 1)[..., 1:]
        return one_hot.reshape(len(ratings), -1).to(self.weight.dtype)

    def _hidden_input(self, x: torch.Tensor, implicit: torch.Tensor | None) -> torch.Tensor:
        """``c + x W`` (+ ``r D``): ``(B, I·K) → (B, H)``."""
        pre = x @ self.weight.reshape(-1, self.hidden_size) + self.hidden_bias
        if self.implicit_weight is not None and implicit is not None:
            pre = pre + implicit.to(self.weight.dtype) @ self.implicit_weight
        return pre

    def hidden_probs(self, ratings: torch.Tensor, implicit: torch.Tensor | None = None) -> torch.Tensor:
        """``p(h = 1 | V)`` for rows of ratings, ``(B, I) → (B, H)``."""
        return torch.sigmoid(self._hidden_input(self._one_hot(ratings), implicit))

    def visible_probs(self, h: torch.Tensor) -> torch.Tensor:
        """``p(v_ik = 1 | h)`` for every item, ``(B, H) → (B, I, K)``."""
        logits = (h @ self.weight.reshape(-1, self.hidden_size).T).reshape(len(h), self.n_columns, self.levels)
        return torch.softmax(logits + self.visible_bias.reshape(self.n_columns, self.levels), dim=-1)

    def free_energy(self, ratings: torch.Tensor, implicit: torch.Tensor | None = None) -> torch.Tensor:
        """``F(V) = −Σ_ik b_ik v_ik − Σ_j softplus(c_j + (vW)_j [+ (rD)_j])`` per row, ``(B, I) → (B,)``: the
        quantity contrastive divergence lowers on the data and raises on the negatives."""
        x = self._one_hot(ratings)
        return -(x @ self.visible_bias) - F.softplus(self._hidden_input(x, implicit)).sum(-1)

    def forward(self, ratings: torch.Tensor, implicit: torch.Tensor | None = None) -> torch.Tensor:
        """The hidden units' probabilities: a code of each row's tastes, ``(B, H)``."""
        return self.hidden_probs(ratings, implicit)

    def predict_rows(self, ratings: torch.Tensor, implicit: torch.Tensor | None = None,
                     rows: torch.Tensor | None = None) -> torch.Tensor:
        """The expected rating of every item for each row, from the ratings it may see, ``(B, I) → (B, I)``: one
        mean-field pass up and back down (``rows`` is unused: each row is its own RBM)."""
        probs = self.visible_probs(self.hidden_probs(ratings, implicit))
        return probs @ torch.arange(1, self.levels + 1, dtype=probs.dtype, device=probs.device)

    def column_vectors(self) -> torch.Tensor:
        """Each visible item's weights, flattened over levels and hidden units: ``(I, K·H)``."""
        return self.weight.detach().reshape(self.n_columns, -1)

    def row_vectors(self, ratings: torch.Tensor, implicit: torch.Tensor | None = None,
                    rows: torch.Tensor | None = None) -> torch.Tensor:
        """Each row's code: its hidden units' total inputs, ``(B, H)`` (their logits; the probabilities saturate at
        0 and 1 for well-rated rows, which makes every popular item look alike)."""
        return self._hidden_input(self._one_hot(ratings), implicit)

    def gibbs_steps(self, epoch: int) -> int:
        """T at ``epoch`` (1-based), from ``cd_schedule``."""
        steps = self.cd_schedule[0][1]
        for start, value in self.cd_schedule:
            if epoch >= start:
                steps = value
        return steps

    @torch.no_grad()
    def start_from(self, ratings: torch.Tensor) -> None:
        """Visible biases ``b_ik = log p_ik`` from each item's rating frequencies in the training rows ``(N, I)``,
        shrunk towards the overall frequencies (one pseudo-rating), as Hinton's guide sets binary units' biases."""
        counts = F.one_hot(ratings.long().clamp(0, self.levels), self.levels + 1)[..., 1:].sum(0).double()  # (I, K)
        overall = (counts.sum(0) + 1) / (counts.sum() + self.levels)
        p = (counts + overall) / (counts.sum(1, keepdim=True) + 1)
        self.visible_bias.copy_(p.log().reshape(-1).to(self.visible_bias.dtype))

    # --- training through the engine ------------------------------------------------------------------------

    def train_step(self, batch: Sequence[torch.Tensor], optimizers: Any) -> dict[str, torch.Tensor]:
        """One CD-T update on a batch of rows, applied by the engine's optimiser.

        Only the rated items take part: the negative phase samples a rating for each of them from its softmax and
        leaves the absent ones absent. The gradient of ``mean F(data) − mean F(negatives)`` is ``−⟨v hᵀ⟩_data +
        ⟨v hᵀ⟩_T`` for ``W``, and alike for the biases and ``D``.
        """
        _, ratings, _, implicit = _unpack(batch)
        steps = self.gibbs_steps(int(getattr(optimizers, "epoch", 1) or 1))
        with torch.no_grad():
            mask = (ratings > 0).unsqueeze(-1).to(self.weight.dtype)  # (B, I, 1)
            x0 = self._one_hot(ratings)
            h0 = torch.sigmoid(self._hidden_input(x0, implicit))
            h = torch.bernoulli(h0)
            for step in range(steps):
                probs = self.visible_probs(h)  # (B, I, K)
                if step == 0:
                    expected = probs @ torch.arange(1, self.levels + 1, dtype=probs.dtype, device=probs.device)
                if step < steps - 1:  # a categorical draw per rated item: the first level whose cumulative
                    u = torch.rand(probs.shape[:-1] + (1,), device=probs.device, dtype=probs.dtype)  # p passes u
                    level = (probs.cumsum(-1) < u).sum(-1).clamp(max=self.levels - 1)
                    xk = (F.one_hot(level, self.levels).to(self.weight.dtype) * mask).reshape(len(ratings), -1)
                else:  # the last reconstruction keeps its probabilities: less noise (Hinton's guide, section 3)
                    xk = (probs * mask).reshape(len(ratings), -1)
                hk = torch.sigmoid(self._hidden_input(xk, implicit))
                h = torch.bernoulli(hk) if step < steps - 1 else hk
            n = len(ratings)
            grad_w = ((xk.T @ hk - x0.T @ h0) / n).reshape_as(self.weight)
            grad_b = (xk - x0).sum(0) / n
            grad_c = (hk - h0).mean(0)
            grads = {self.weight: grad_w, self.visible_bias: grad_b, self.hidden_bias: grad_c}
            if self.implicit_weight is not None:
                grads[self.implicit_weight] = implicit.to(self.weight.dtype).T @ (hk - h0) / n
            # Training fit: the ratings reconstructed by one mean-field pass from the same (seen) ratings.
            seen = ratings > 0
            error = (expected - ratings.to(expected.dtype))[seen]
        optimizers.apply_gradients(grads, error.pow(2).mean())
        return {"rmse": error.pow(2).mean().sqrt(), "cd_steps": torch.tensor(float(steps))}

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Sequence[torch.Tensor]] | None) -> dict[str, float]:
        """RMSE and MAE of the expected ratings on the held-out ratings of the validation rows."""
        return rating_errors(self, batches)


def _unpack(batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(rows, input, target, implicit)``; a bare ratings tensor is its own target."""
    if isinstance(batch, torch.Tensor):
        return torch.arange(len(batch)), batch, batch, None
    rows, ratings = batch[0], batch[1]
    target = batch[2] if len(batch) > 2 else ratings
    implicit = batch[3] if len(batch) > 3 else None
    return rows, ratings, target, implicit


@torch.no_grad()
def rating_errors(model: nn.Module, batches: Iterable[Sequence[torch.Tensor]] | None) -> dict[str, float]:
    """RMSE and MAE of ``model.predict_rows`` over the target ratings (``target > 0``) of batches ``(rows, input,
    target, implicit)``; predictions are clipped to the rating range. Shared by every recommender model."""
    if batches is None:
        return {}
    squared, absolute, count = 0.0, 0.0, 0
    for batch in batches:
        rows, ratings, target, implicit = _unpack(batch)
        predicted = model.predict_rows(ratings, implicit, rows).clamp(1, model.levels)
        seen = target > 0
        error = (predicted - target.to(predicted.dtype))[seen].double()
        squared += float(error.pow(2).sum())
        absolute += float(error.abs().sum())
        count += int(seen.sum())
    if count == 0:
        return {}
    return {"rmse": (squared / count) ** 0.5, "mae": absolute / count}
