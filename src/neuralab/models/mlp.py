"""The multi-layer perceptron (Rumelhart, Hinton & Williams 1986, "Learning representations by back-propagating
errors").

The last layer has no activation unless ``output_activation`` asks for one: a classifier returns logits (softmax
lives in the loss and in ``predict_proba``), a regressor returns values. ``activation`` acts between hidden layers,
so an MLP without hidden layers refuses one (it would be silently ignored). ``MLP(2, hidden_sizes=[],
out_features=1, output_activation="step")`` has the form of Rosenblatt's perceptron (1958), a threshold unit on a
weighted sum; trained by backpropagation it is not the perceptron's learning rule, which the foundations lab shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.nn import get_activation

__all__ = ["MLP"]


class MLP(nn.Module):
    """Fully connected layers: ``Linear → [BatchNorm] → activation → [Dropout]`` per hidden layer, then ``Linear``.

    Parameters
    ----------
    in_features
        Size of each input vector (inputs of shape ``(B, ...)`` are flattened).
    hidden_sizes
        Width of each hidden layer; empty for a single-layer perceptron.
    out_features
        Number of outputs: classes for a classifier, targets for a regressor.
    activation
        Name from :data:`neuralab.nn.ACTIVATIONS` for the hidden layers.
    dropout
        Probability of zeroing a hidden unit during training (Srivastava et al. 2014).
    batch_norm
        Insert batch normalisation after each hidden linear layer (Ioffe & Szegedy 2015).
    output_activation
        A name from :data:`neuralab.nn.ACTIVATIONS` applied to the outputs (``step`` for a threshold unit,
        ``sigmoid``...), or None for raw outputs (logits or values).

    Examples
    --------
    >>> model = MLP(in_features=64, hidden_sizes=[128], out_features=10)
    >>> model(torch.zeros(8, 64)).shape
    torch.Size([8, 10])
    """

    def __init__(self, in_features: int, hidden_sizes: Sequence[int] = (128,), out_features: int = 1,
                 activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False,
                 output_activation: str | None = None) -> None:
        super().__init__()
        if not isinstance(in_features, int) or in_features < 1:
            raise NeuralabError(f"in_features must be a positive int; got {in_features!r}")
        if not isinstance(out_features, int) or out_features < 1:
            raise NeuralabError(f"out_features must be a positive int; got {out_features!r}")
        if any(not isinstance(h, int) or h < 1 for h in hidden_sizes):
            raise NeuralabError(f"hidden_sizes must be positive ints; got {list(hidden_sizes)}")
        if not 0.0 <= dropout < 1.0:
            raise NeuralabError(f"dropout must be in [0, 1); got {dropout}")
        if not hidden_sizes and activation != "relu":
            raise NeuralabError(f"activation={activation!r} acts between hidden layers, and this MLP has none "
                                f"(hidden_sizes=[]), so it would be ignored; for a unit on the output, use "
                                f"output_activation={activation!r}")
        self.in_features, self.out_features = in_features, out_features
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden_sizes:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(get_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_features))
        if output_activation is not None:
            layers.append(get_activation(output_activation))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, in_features)
        if x.shape[1] != self.in_features:
            raise NeuralabError(f"MLP expects {self.in_features} input features; got input of shape "
                                f"{tuple(x.shape)}")
        return self.net(x)  # (B, out_features)
