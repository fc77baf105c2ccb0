"""Biased matrix factorisation, the recommender baseline: Funk (2006), "Netflix Update: Try This at Home", and Koren,
Bell & Volinsky (2009), "Matrix Factorization Techniques for Recommender Systems".

A rating is predicted as ``r̂_ui = μ + b_u + b_i + p_u · q_i``: the global mean, a user bias, an item bias and the dot
product of a user's and an item's ``factors``-dimensional vectors. With ``factors=0`` it is the biases baseline,
and with ``biases=False`` as well, the global mean. The objective is the squared error over the observed ratings
plus, for each rating, ``reg · (b_u² + b_i² + |p_u|² + |q_i|²)`` (Surprise's ``SVD`` and Funk's regularisation),
averaged over the observed ratings of the batch.

Batches are rows of the rating matrix, ``(rows, input, target, implicit)`` as for every recommender here
(:mod:`neuralab.models.rbm_cf`): ``rows`` are the users' indices and ``target`` their ratings to fit or predict.
The model is symmetric, so a matrix of items by users trains it just as well. A row it has not seen (index −1: a
new user who gives a few ratings) is *folded in*: its vector and bias are the ridge-regression fit to the ratings
in ``input`` with the item vectors held fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models._checks import check_positive_ints
from neuralab.models.rbm_cf import _unpack, rating_errors

__all__ = ["MatrixFactorization"]


class MatrixFactorization(nn.Module):
    """``μ + b_row + b_column + p_row · q_column``, fitted to the observed entries of a rating matrix.

    Parameters
    ----------
    n_rows, n_columns
        The rating matrix's rows (users) and columns (items).
    factors
        The length of each row's and column's vector (0: biases only).
    biases
        Learn a bias per row and per column (False with ``factors=0``: the global mean alone).
    reg
        The regularisation per observed rating (Surprise's ``reg_all``, default 0.02).
    init_std
        The factors start from N(0, init_std²) (Surprise's default 0.1).
    levels
        The top rating: predictions are clipped to 1..levels when scored.
    mean
        The global mean μ; the task sets it from the training ratings.

    Examples
    --------
    >>> mf = MatrixFactorization(n_rows=3, n_columns=4, factors=2)
    >>> mf.predict_rows(torch.zeros(2, 4, dtype=torch.int8), rows=torch.tensor([0, 2])).shape
    torch.Size([2, 4])
    """

    def __init__(self, n_rows: int, n_columns: int, factors: int = 100, *, biases: bool = True, reg: float = 0.02,
                 init_std: float = 0.1, levels: int = 5, mean: float = 3.0) -> None:
        super().__init__()
        check_positive_ints(n_rows=n_rows, n_columns=n_columns, levels=levels)
        if isinstance(factors, bool) or not isinstance(factors, int) or factors < 0:
            raise NeuralabError(f"factors must be an int >= 0; got {factors!r}")
        if reg < 0 or init_std < 0:
            raise NeuralabError(f"reg and init_std must be >= 0; got {reg} and {init_std}")
        self.n_rows, self.n_columns, self.factors, self.levels, self.reg = n_rows, n_columns, factors, levels, reg
        self.register_buffer("mean", torch.tensor(float(mean)))  # μ, set from the training ratings by the task
        self.row_bias = nn.Parameter(torch.zeros(n_rows), requires_grad=biases)
        self.column_bias = nn.Parameter(torch.zeros(n_columns), requires_grad=biases)
        self.row_factors = nn.Parameter(torch.randn(n_rows, factors) * init_std)
        self.column_factors = nn.Parameter(torch.randn(n_columns, factors) * init_std)

    @torch.no_grad()
    def start_from(self, ratings: torch.Tensor) -> None:
        """μ from the training ratings ``(N, I)`` (0 = absent)."""
        seen = ratings[ratings > 0]
        if seen.numel():
            self.mean.fill_(float(seen.double().mean()))

    def _rows(self, rows: torch.Tensor | None, batch: int) -> torch.Tensor:
        if rows is None:
            raise NeuralabError("MatrixFactorization needs the rows' indices (a user it knows, or -1 for a new one)")
        rows = rows.long()
        if len(rows) != batch or (rows >= self.n_rows).any() or (rows < -1).any():
            raise NeuralabError(f"row indices must be in -1..{self.n_rows - 1}, one per row of ratings")
        return rows

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """The predicted rating of every column for known rows, ``(B,) → (B, I)``."""
        return (self.mean + self.row_bias[rows, None] + self.column_bias
                + self.row_factors[rows] @ self.column_factors.T)

    def fold_in(self, ratings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The bias and vector of new rows from their ratings (0 = absent), by ridge regression with the columns'
        vectors fixed: ``(B, I) → (B,), (B, F)``."""
        dtype = self.column_factors.dtype
        design = torch.cat([torch.ones(self.n_columns, 1, dtype=dtype, device=ratings.device),
                            self.column_factors.detach()], 1)  # (I, 1 + F): the bias, then the factors
        mask = (ratings > 0).to(dtype)  # (B, I)
        residual = (ratings.to(dtype) - self.mean - self.column_bias.detach()) * mask
        gram = torch.einsum("bi,if,ig->bfg", mask, design, design)
        ridge = max(self.reg, 1e-3) * torch.eye(design.shape[1], dtype=dtype, device=ratings.device)
        solution = torch.linalg.solve(gram + ridge, (residual @ design).unsqueeze(-1)).squeeze(-1)
        bias = solution[:, 0] if self.row_bias.requires_grad else torch.zeros_like(solution[:, 0])
        return bias, solution[:, 1:]

    def predict_rows(self, ratings: torch.Tensor, implicit: torch.Tensor | None = None,
                     rows: torch.Tensor | None = None) -> torch.Tensor:
        """The predicted rating of every column for each row, ``(B, I)``; rows with index −1 are folded in from
        their ``ratings``."""
        rows = self._rows(rows, len(ratings))
        known = rows >= 0
        out = torch.empty(len(rows), self.n_columns, dtype=self.column_factors.dtype, device=ratings.device)
        if known.any():
            out[known] = self(rows[known])
        if (~known).any():
            bias, vector = self.fold_in(ratings[~known])
            out[~known] = self.mean + bias[:, None] + self.column_bias + vector @ self.column_factors.T
        return out

    def loss(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mean squared error over the target ratings plus ``reg`` times each rating's squared parameters."""
        rows, _, target, _ = _unpack(batch)
        rows = self._rows(rows, len(target))
        seen = target > 0
        count = seen.sum().clamp(min=1)
        error = (self(rows) - target.to(self.column_factors.dtype))[seen]
        mse = error.pow(2).sum() / count
        if self.reg == 0:
            return {"loss": mse, "rmse": mse.detach().sqrt()}
        per_row = seen.sum(1).to(mse.dtype)  # ratings of each row
        per_column = seen.sum(0).to(mse.dtype)  # ratings of each column in the batch
        penalty = (per_row * (self.row_bias[rows] ** 2 + self.row_factors[rows].pow(2).sum(1))).sum() \
            + (per_column * (self.column_bias ** 2 + self.column_factors.pow(2).sum(1))).sum()
        return {"loss": mse + self.reg * penalty / count, "rmse": mse.detach().sqrt()}

    def column_vectors(self) -> torch.Tensor:
        """The columns' (items') factors, ``(I, F)``."""
        return self.column_factors.detach()

    def row_vectors(self, ratings: torch.Tensor, implicit: torch.Tensor | None = None,
                    rows: torch.Tensor | None = None) -> torch.Tensor:
        """The rows' factors (folded in for new rows), ``(B, F)``."""
        rows = self._rows(rows, len(ratings))
        out = self.row_factors.detach()[rows.clamp(min=0)].clone()
        if (rows < 0).any():
            out[rows < 0] = self.fold_in(ratings[rows < 0])[1]
        return out

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Sequence[torch.Tensor]] | None) -> dict[str, float]:
        """RMSE and MAE on the held-out ratings of the validation rows."""
        return rating_errors(self, batches)

    def extra_repr(self) -> str:
        return f"rows={self.n_rows}, columns={self.n_columns}, factors={self.factors}, reg={self.reg}"

