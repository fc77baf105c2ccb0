"""Pretraining, then fine-tuning: copy a trained encoder into the first layers of another network.

Any model that exposes ``encoder_layers() -> list[nn.Module]`` (its encoder's Linear and BatchNorm layers, in
order) can initialise a network whose first layers have the same shapes: an autoencoder's encoder for a classifier
(Hinton & Salakhutdinov 2006, "Reducing the dimensionality of data with neural networks"; Vincent et al. 2010,
"Stacked denoising autoencoders"), and a stack of RBMs for a deep belief network's fine-tuning (Hinton, Osindero &
Teh 2006).
"""

from __future__ import annotations

from torch import nn

from neuralab.errors import NeuralabError

__all__ = ["transfer_encoder"]

_KINDS = (nn.Linear, nn.BatchNorm1d)


def transfer_encoder(source: nn.Module, target: nn.Module) -> int:
    """Copy ``source.encoder_layers()`` into the first Linear and BatchNorm layers of ``target``.

    The target needs the same layers first, in order: for an MLP fine-tuned from an autoencoder, ``hidden_sizes``
    starting with ``[*ae_hidden_sizes, latent_dim]`` and the same ``batch_norm``.

    Returns
    -------
    int
        The number of Linear layers copied.

    Raises
    ------
    NeuralabError
        When the source exposes no encoder, or the layers' shapes or batch norms do not match (both shapes are
        shown).
    """
    if not hasattr(source, "encoder_layers"):
        raise NeuralabError(f"a {type(source).__name__} has no encoder to pretrain from; use a run of a model with "
                            "encoder_layers(), such as an autoencoder")
    layers = [m for m in source.encoder_layers() if isinstance(m, _KINDS)]
    targets = [m for m in target.modules() if isinstance(m, _KINDS)][:len(layers)]
    source_shapes = [f"{type(m).__name__}{tuple(m.weight.shape)}" for m in layers]
    target_shapes = [f"{type(m).__name__}{tuple(m.weight.shape)}" for m in targets]
    if source_shapes != target_shapes:
        raise NeuralabError(f"the first layers {target_shapes} of the {type(target).__name__} do not match the "
                            f"encoder's {source_shapes}; build it with the encoder's input size, hidden sizes "
                            "starting with the encoder's widths and code size, and the same batch_norm")
    for s, t in zip(layers, targets):
        t.load_state_dict(s.state_dict())
    return sum(isinstance(s, nn.Linear) for s in layers)
