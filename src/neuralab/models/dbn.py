"""The deep belief network: RBMs stacked and trained greedily, one layer after another (Hinton, Osindero & Teh 2006,
"A Fast Learning Algorithm for Deep Belief Nets").

The first RBM models the data; each next one models the hidden units' probabilities of the one below, given the
data. Training goes through the engine in one run: the epochs are shared out between the layers (the first
``epochs / layers`` train layer 0, and so on), each layer has its own parameter group and so its own optimiser,
and only the current layer changes. The stack then initialises a classifier, which backpropagation fine-tunes
(``model.init_from`` a DBN run: :meth:`DBN.encoder_layers`). Samples come from Gibbs sampling in the top RBM,
passed down to the pixels through the lower layers' generative weights. Up-down generative fine-tuning (the
paper's wake-sleep variant) is not implemented.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models.rbm import RBM

__all__ = ["DBN"]


class _Layer:
    """The engine's optimisers as one RBM sees them: its ``update`` goes to the layer's own parameter group."""

    def __init__(self, optimizers: Any, group: str) -> None:
        self.optimizers, self.group = optimizers, group

    def update(self, loss: torch.Tensor, group: int | str = 0, **kwargs: Any) -> torch.Tensor:
        return self.optimizers.update(loss, self.group, **kwargs)

    def apply_gradients(self, gradients: Any, loss: torch.Tensor, group: int | str = 0) -> torch.Tensor:
        return self.optimizers.apply_gradients(gradients, loss, self.group)


class DBN(nn.Module):
    """A stack of RBMs, trained greedily.

    Parameters
    ----------
    in_features
        Visible units of the first RBM.
    hidden_sizes
        Each RBM's hidden units, bottom to top (Hinton et al. 2006: 500, 500, 2000).
    visible
        The first RBM's visible units, ``bernoulli`` or ``gaussian``; the layers above see probabilities.
    k, persistent, n_chains, binarize
        As in :class:`~neuralab.models.rbm.RBM`, for every layer (``binarize`` for the first).
    epochs_per_layer
        Epochs for each layer before the next one starts; by default the run's epochs shared out evenly (the last
        layer takes what is left).
    in_channels, image_size
        The inputs' image layout, for figures.
    """

    def __init__(self, in_features: int, hidden_sizes: Sequence[int] = (500, 500, 2000), *, visible: str = "bernoulli",
                 k: int = 1, persistent: bool = False, n_chains: int = 100, binarize: bool = False,
                 epochs_per_layer: int | None = None, in_channels: int = 1,
                 image_size: int | Sequence[int] | None = None) -> None:
        super().__init__()
        if len(hidden_sizes) == 0:
            raise NeuralabError("hidden_sizes must list at least one layer, e.g. [500, 500, 2000]")
        if epochs_per_layer is not None and (not isinstance(epochs_per_layer, int) or epochs_per_layer < 1):
            raise NeuralabError(f"epochs_per_layer must be a positive int or None; got {epochs_per_layer!r}")
        sizes = [in_features, *hidden_sizes]
        self.layers = nn.ModuleList(
            RBM(sizes[i], sizes[i + 1], visible=visible if i == 0 else "bernoulli", k=k, persistent=persistent,
                n_chains=n_chains, binarize=binarize and i == 0) for i in range(len(hidden_sizes)))
        self.in_features, self.hidden_sizes, self.epochs_per_layer = in_features, list(hidden_sizes), epochs_per_layer
        self.in_channels = in_channels
        self.image_size = [image_size, image_size] if isinstance(image_size, int) else image_size
        # The layer trained last: a buffer, so that a saved DBN knows how far its training went.
        self.register_buffer("trained_layer", torch.tensor(0))

    @property
    def visible(self) -> nn.Module:
        """The data's units (the first RBM's), for tasks that initialise them from the data."""
        return self.layers[0].visible

    @property
    def current(self) -> int:
        """The layer being (or last) trained, 0 at the bottom."""
        return int(self.trained_layer)

    @current.setter
    def current(self, layer: int) -> None:
        self.trained_layer.fill_(layer)

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """One parameter group per layer, ``layer0`` at the bottom: each layer gets its own optimiser."""
        return {f"layer{i}": list(layer.parameters()) for i, layer in enumerate(self.layers)}

    def layer_at(self, epoch: int, epochs: int) -> int:
        """The layer trained in ``epoch`` (1-based) of ``epochs``."""
        per = self.epochs_per_layer or max(1, math.ceil(epochs / len(self.layers)))
        return min((epoch - 1) // per, len(self.layers) - 1)

    def up(self, x: torch.Tensor, layers: int) -> torch.Tensor:
        """The probabilities of the hidden units of ``layers`` stacked RBMs, given data ``x`` (mean field)."""
        h = self.layers[0]._flat(x)
        for layer in self.layers[:layers]:
            h = layer.hidden_probs(h)
        return h

    def down(self, h: torch.Tensor, layers: int) -> torch.Tensor:
        """From the hidden units of layer ``layers − 1`` down to the visible units' means."""
        for layer in reversed(self.layers[:layers]):
            h = layer.visible_mean(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The top layer's hidden probabilities: the features the stack learned."""
        return self.up(x, len(self.layers))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Up through every trained layer and back down, in the shape of ``x``."""
        layers = self.current + 1
        return self.down(self.up(x, layers), layers).reshape(x.shape)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """The first RBM's free energy of the data (the stack as a whole has no tractable one)."""
        return self.layers[0].free_energy(v)

    def encoder_layers(self) -> list[nn.Module]:
        """Every layer's ``Linear(V → H)``, bottom to top: an MLP with these widths is fine-tuned from them."""
        return [layer.weight for layer in self.layers]

    def train_step(self, batch: Sequence[torch.Tensor], optimizers: Any) -> dict[str, torch.Tensor]:
        """A contrastive-divergence update of the current layer, on the data passed up through the layers below."""
        self.current = self.layer_at(optimizers.epoch, optimizers.epochs)
        with torch.no_grad():
            x = self.up(batch[0], self.current)
        out = self.layers[self.current].train_step((x,), _Layer(optimizers, f"layer{self.current}"))
        return {**out, "layer": torch.tensor(float(self.current))}

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Sequence[torch.Tensor]] | None) -> dict[str, float]:
        """The current layer's monitors on the validation data passed up to it, and the reconstruction error of the
        whole trained stack (up and back down to the pixels)."""
        if batches is None:
            return {}
        batches = list(batches)
        layer = self.layers[self.current]
        result = layer.evaluate([(self.up(b[0], self.current),) for b in batches])
        result = {f"layer_{key}": value for key, value in result.items()}
        total = sum(float((self.layers[0]._flat(b[0]) - self.reconstruct(b[0]).flatten(1)).pow(2).sum())
                    for b in batches)
        result["reconstruction_error"] = total / max(sum(len(b[0]) for b in batches), 1)
        return result

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, *, steps: int = 1000,
               start: torch.Tensor | None = None) -> torch.Tensor:
        """Gibbs sampling in the top RBM (from noise, or from ``start`` data passed up), then down to the pixels."""
        top = len(self.layers) - 1
        begin = None if start is None else self.up(start, top)
        v_top = self.layers[top].sample(n, generator, steps=steps, start=begin)
        return self.down(v_top, top)

    def train_state_dict(self) -> dict[str, Any]:
        return {"layers": [layer.train_state_dict() for layer in self.layers]}

    def load_train_state_dict(self, state: dict[str, Any] | None) -> None:
        for layer, saved in zip(self.layers, (state or {}).get("layers", [])):
            layer.load_train_state_dict(saved)
