"""AutoRec: an autoencoder of a rating matrix's rows. Sedhain, Menon, Sanner & Xie (2015), "AutoRec: Autoencoders
Meet Collaborative Filtering" (WWW).

Each row of ratings ``r`` (0 where absent) is encoded to ``h = g(V r + μ)`` and decoded to ``r̂ = f(W h + b)``;
the loss is the squared error on the *observed* entries only, so absent ratings are never asked to be zero. Over
items (each row an item, its columns the users: I-AutoRec, the paper's better variant) it predicts user ``u``'s
rating of item ``i`` as ``r̂_i[u]``, the item's row reconstructed from the ratings it had in training. The paper's
``λ/2 (‖W‖² + ‖V‖²)`` is the engine's weight decay (``trainer.l2``); ``g`` is a sigmoid and ``f`` linear (the
identity), as in the paper.

Batches are ``(rows, input, target, implicit)`` as for every recommender here (:mod:`neuralab.models.rbm_cf`): the
loss reconstructs ``target`` from ``input``, so training rows have ``target = input`` and a held-out rating is never
in ``input``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models._checks import check_positive_ints
from neuralab.models.rbm_cf import _unpack, rating_errors
from neuralab.nn import get_activation

__all__ = ["AutoRec"]


class AutoRec(nn.Module):
    """A one-hidden-layer autoencoder of rating rows, trained on the observed entries.

    Parameters
    ----------
    n_columns
        The length of a row: users for I-AutoRec, items for U-AutoRec.
    hidden_size
        Hidden units (the paper's 500).
    activation, output_activation
        ``g`` and ``f`` (the paper's sigmoid and identity).
    dropout
        Dropout on the hidden units while training.
    levels
        The top rating: predictions are clipped to 1..levels when scored.

    Examples
    --------
    >>> model = AutoRec(n_columns=7, hidden_size=3)
    >>> model.predict_rows(torch.tensor([[5, 0, 0, 4, 0, 0, 1]], dtype=torch.int8)).shape
    torch.Size([1, 7])
    """

    def __init__(self, n_columns: int, hidden_size: int = 500, *, activation: str = "sigmoid",
                 output_activation: str = "linear", dropout: float = 0.0, levels: int = 5) -> None:
        super().__init__()
        check_positive_ints(n_columns=n_columns, hidden_size=hidden_size, levels=levels)
        if not 0.0 <= dropout < 1.0:
            raise NeuralabError(f"dropout must be in [0, 1); got {dropout}")
        self.n_columns, self.hidden_size, self.levels = n_columns, hidden_size, levels
        self.encoder = nn.Linear(n_columns, hidden_size)
        self.decoder = nn.Linear(hidden_size, n_columns)
        self.activation = get_activation(activation)
        self.output_activation = get_activation(output_activation)
        self.dropout = nn.Dropout(dropout)

    def _check(self, ratings: torch.Tensor) -> torch.Tensor:
        if ratings.shape[-1] != self.n_columns:
            raise NeuralabError(f"AutoRec expects rows of {self.n_columns} ratings; got shape {tuple(ratings.shape)}")
        return ratings.to(self.encoder.weight.dtype)

    def encode(self, ratings: torch.Tensor) -> torch.Tensor:
        """The hidden code of rows of ratings, ``(B, I) → (B, H)``."""
        return self.activation(self.encoder(self._check(ratings)))

    def forward(self, ratings: torch.Tensor) -> torch.Tensor:
        """The reconstructed rows, ``(B, I) → (B, I)``."""
        return self.output_activation(self.decoder(self.dropout(self.encode(ratings))))

    def predict_rows(self, ratings: torch.Tensor, implicit: torch.Tensor | None = None,
                     rows: torch.Tensor | None = None) -> torch.Tensor:
        """The predicted rating of every column for each row, from the ratings it may see."""
        return self(ratings)

    def loss(self, batch: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mean squared error over the observed target ratings."""
        _, ratings, target, _ = _unpack(batch)
        seen = target > 0
        error = (self(ratings) - target.to(self.encoder.weight.dtype))[seen]
        mse = error.pow(2).sum() / seen.sum().clamp(min=1)
        return {"loss": mse, "rmse": mse.detach().sqrt()}

    def column_vectors(self) -> torch.Tensor:
        """Each column's decoder weights, ``(I, H)``."""
        return self.decoder.weight.detach()

    def row_vectors(self, ratings: torch.Tensor, implicit: torch.Tensor | None = None,
                    rows: torch.Tensor | None = None) -> torch.Tensor:
        """Each row's hidden code, ``(B, H)``."""
        return self.encode(ratings)

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Sequence[torch.Tensor]] | None) -> dict[str, float]:
        """RMSE and MAE on the held-out ratings of the validation rows."""
        return rating_errors(self, batches)
