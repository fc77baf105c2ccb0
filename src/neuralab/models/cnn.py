"""A LeNet-style convolutional network (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to
document recognition", Proc. IEEE 86(11), 2278-2324).

A stack of convolution blocks learns local, translation-equivariant features; pooling after some blocks halves the
resolution so that later filters see a larger part of the image; a fully connected head turns the final feature maps
into class logits::

    per block:  Conv2d → [BatchNorm2d] → activation → [Dropout2d]      (features)
    every ``pool_every`` blocks:  2×2 max or average pool, stride 2     (features)
    flatten → MLP(hidden_sizes) → logits                               (head)

The modern touches are batch normalisation (Ioffe & Szegedy 2015), ReLU and dropout; with ``activation="tanh"``,
``batch_norm=False``, ``pool="avg"``, ``conv_channels=(6, 16)``, ``kernel_size=5``, ``padding=0``,
``image_size=32`` and ``hidden_sizes=(120, 84)`` it is LeNet-5's shape.

The size of the flattened features is worked out from ``image_size`` when the model is built, by the usual shape
arithmetic (:func:`conv_output_size`), with no dummy forward pass. A pool that would shrink the map below 1×1 is an
error, unless ``pool_if_fits=True``: then a pool halves only the axes that are at least 2 pixels long, and is left
out where the map is already 1×1, so that tiny images and 1×n strips still make a valid network.

``model.features`` is the convolutional ``nn.Sequential`` (``model.features[0].weight`` holds the first-layer
filters) and ``model.head`` is the :class:`~neuralab.models.MLP`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models.mlp import MLP
from neuralab.nn import get_activation

__all__ = ["CNN", "conv_output_size"]

Pool = Literal["max", "avg", "none"]
POOLS = ("max", "avg", "none")
POOL_SIZE = 2  # LeNet's subsampling: 2×2 windows, stride 2


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis:
    ``⌊(size + 2·padding − kernel_size) / stride⌋ + 1``.

    Parameters
    ----------
    size
        Input length (height or width).
    kernel_size, stride, padding
        As in ``nn.Conv2d`` / ``nn.MaxPool2d`` (padding on each side).

    Returns
    -------
    int
        The output length; zero or negative when the kernel does not fit in the padded input.

    Examples
    --------
    >>> conv_output_size(28, kernel_size=5)
    24
    >>> conv_output_size(28, kernel_size=3, stride=2, padding=1)
    14
    """
    return (size + 2 * padding - kernel_size) // stride + 1


def _per_layer(name: str, value: int | Sequence[int], n: int, minimum: int) -> list[int]:
    """Broadcast an int to ``n`` layers, or check a sequence has one int >= minimum per layer."""
    values = [value] * n if isinstance(value, int) else list(value)
    if len(values) != n:
        raise NeuralabError(f"{name} must be an int or one value per conv layer ({n}); got {list(values)}")
    if any(not isinstance(v, int) or isinstance(v, bool) or v < minimum for v in values):
        raise NeuralabError(f"{name} must be int(s) >= {minimum}; got {value!r}")
    return values


def _image_hw(image_size: int | tuple[int, int]) -> tuple[int, int]:
    """``image_size`` as a checked (height, width) pair."""
    hw = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(hw) != 2 or any(not isinstance(s, int) or s < 1 for s in hw):
        raise NeuralabError(f"image_size must be a positive int or (height, width); got {image_size!r}")
    return hw  # type: ignore[return-value]


def _pool_window(height: int, width: int) -> int | tuple[int, int] | None:
    """The 2×2 pool window cut to the axes at least 2 pixels long: 2, (1, 2), (2, 1), or None on a 1×1 map."""
    kh, kw = (POOL_SIZE if size >= POOL_SIZE else 1 for size in (height, width))
    if kh == kw:
        return POOL_SIZE if kh == POOL_SIZE else None  # the plain int window, as without pool_if_fits
    return kh, kw


def _shrink(height: int, width: int, k: int | tuple[int, int], s: int | tuple[int, int], p: int,
            where: str) -> tuple[int, int]:
    """(height, width) after a k/s/p window (ints, or (height, width) pairs); raise, naming the layer, if the map
    would be smaller than 1×1."""
    (kh, kw), (sh, sw) = ((v, v) if isinstance(v, int) else v for v in (k, s))
    h, w = conv_output_size(height, kh, sh, p), conv_output_size(width, kw, sw, p)
    if h < 1 or w < 1:
        raise NeuralabError(f"the image shrinks below 1×1 at {where}: input {height}×{width} gives "
                            f"{max(h, 0)}×{max(w, 0)}; use a larger image_size, fewer conv layers or pools, "
                            f"padding, or a smaller kernel/stride")
    return h, w


class CNN(nn.Module):
    """Convolution blocks with periodic 2×2 pooling, then an MLP head; returns logits ``(B, out_features)``.

    Parameters
    ----------
    in_channels
        Channels of the input image: 1 for grey-scale (MNIST), 3 for RGB (CIFAR).
    image_size
        Input height and width (an int for a square image); fixes the size of the flattened features.
    conv_channels
        Output channels of each convolution; one block per entry (at least one).
    kernel_size, stride
        One int for every convolution, or one value per convolution.
    padding
        Zero padding on each side: an int, one int per convolution, or ``"same"``. With stride 1, ``"same"`` keeps
        the height and width (``nn.Conv2d(padding="same")``, exact for even kernels too); with a larger stride it
        pads ``(kernel_size - 1) // 2``, giving ``⌈size / stride⌉`` for odd kernels.
    pool
        ``"max"`` or ``"avg"`` 2×2 pooling with stride 2, or ``"none"``.
    pool_every
        Pool after every ``pool_every``-th block (1: after each block; 2: after blocks 2, 4, ...).
    batch_norm
        Batch-normalise each convolution's output, before the activation. The head has no batch norm.
    activation
        Name from :data:`neuralab.nn.ACTIVATIONS`, used in the conv blocks and the head's hidden layers.
    dropout
        Dropout probability in the head's hidden layers.
    conv_dropout
        Channel dropout (``nn.Dropout2d``: whole feature maps are zeroed) after each block's activation.
    hidden_sizes
        Widths of the head's hidden layers; empty for a single linear read-out.
    out_features
        Number of outputs (classes).
    pool_if_fits
        False: a pool that would shrink the map below 1×1 raises. True: each pool halves only the axes that are at
        least 2 pixels long (a 1×2 window on a 1-pixel-high strip) and is left out on a 1×1 map, so any image size
        gives a valid network. Convolutions never shrink the map with ``"same"`` padding, whatever their stride.

    Raises
    ------
    NeuralabError
        On a bad argument, or when the image would shrink below 1×1 (the message names the layer in ``features``);
        with ``pool_if_fits=True`` only a convolution can shrink it so (a kernel larger than the padded map).

    Examples
    --------
    >>> model = CNN(in_channels=1, image_size=28, conv_channels=(8, 16), out_features=10)
    >>> model(torch.zeros(4, 1, 28, 28)).shape
    torch.Size([4, 10])
    >>> model.feature_shape  # (C, H, W) after the conv stack: 28 → 14 → 7
    (16, 7, 7)
    """

    def __init__(self, in_channels: int = 1, image_size: int | tuple[int, int] = 28,
                 conv_channels: Sequence[int] = (32, 64), kernel_size: int | Sequence[int] = 3,
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | Literal["same"] = "same",
                 pool: Pool = "max", pool_every: int = 1, batch_norm: bool = True, activation: str = "relu",
                 dropout: float = 0.0, conv_dropout: float = 0.0, hidden_sizes: Sequence[int] = (128,),
                 out_features: int = 10, pool_if_fits: bool = False) -> None:
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1:
            raise NeuralabError(f"in_channels must be a positive int; got {in_channels!r}")
        height, width = _image_hw(image_size)
        n = len(conv_channels)
        if n == 0:
            raise NeuralabError("conv_channels must list at least one convolution; got []")
        channels = _per_layer("conv_channels", list(conv_channels), n, minimum=1)
        kernels = _per_layer("kernel_size", kernel_size, n, minimum=1)
        strides = _per_layer("stride", stride, n, minimum=1)
        same = isinstance(padding, str)
        if same and padding != "same":
            raise NeuralabError(f"padding must be an int, one int per conv layer, or 'same'; got {padding!r}")
        paddings = [(k - 1) // 2 for k in kernels] if same else _per_layer("padding", padding, n, minimum=0)
        if pool not in POOLS:
            raise NeuralabError(f"pool must be one of {', '.join(POOLS)}; got {pool!r}")
        if not isinstance(pool_every, int) or pool_every < 1:
            raise NeuralabError(f"pool_every must be a positive int; got {pool_every!r}")
        if not 0.0 <= conv_dropout < 1.0:
            raise NeuralabError(f"conv_dropout must be in [0, 1); got {conv_dropout}")
        self.in_channels, self.image_size, self.out_features = in_channels, (height, width), out_features

        layers: list[nn.Module] = []
        c = in_channels
        for i, (c_out, k, s, p) in enumerate(zip(channels, kernels, strides, paddings)):
            where = f"features[{len(layers)}] (Conv2d of block {i + 1}, kernel {k}, stride {s})"
            if same and s == 1:
                # torch pads even kernels asymmetrically to keep the size, which a symmetric int cannot.
                layers.append(nn.Conv2d(c, c_out, k, stride=1, padding="same"))
            else:
                height, width = _shrink(height, width, k, s, p, where)
                layers.append(nn.Conv2d(c, c_out, k, stride=s, padding=p))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(get_activation(activation))
            if conv_dropout > 0:
                layers.append(nn.Dropout2d(conv_dropout))
            window = _pool_window(height, width) if pool_if_fits else POOL_SIZE
            if pool != "none" and (i + 1) % pool_every == 0 and window is not None:
                where = f"features[{len(layers)}] ({pool} pool after block {i + 1})"
                height, width = _shrink(height, width, window, window, 0, where)
                pool_cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
                layers.append(pool_cls(window, stride=window))
            c = c_out
        self.features = nn.Sequential(*layers)
        self.feature_shape: tuple[int, int, int] = (c, height, width)
        self.head = MLP(in_features=c * height * width, hidden_sizes=hidden_sizes, out_features=out_features,
                        activation=activation if hidden_sizes else "relu", dropout=dropout)  # none: no hidden layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, out_features)`` for images ``(B, C, H, W)``, ``(B, H, W)`` (one channel) or flat
        ``(B, C*H*W)`` (in ``C, H, W`` order, as ``flatten`` writes it)."""
        c, (h, w) = self.in_channels, self.image_size
        if x.dim() == 2 and x.shape[1] == c * h * w:
            x = x.reshape(-1, c, h, w)  # (B, C, H, W)
        elif x.dim() == 3 and c == 1 and tuple(x.shape[1:]) == (h, w):
            x = x.unsqueeze(1)  # (B, 1, H, W)
        elif x.dim() != 4 or tuple(x.shape[1:]) != (c, h, w):
            accepted = f"(B, {c}, {h}, {w})" + (f", (B, {h}, {w})" if c == 1 else "") + f" or (B, {c * h * w})"
            raise NeuralabError(f"CNN expects input of shape {accepted}; got {tuple(x.shape)}")
        z = self.features(x)  # (B, C', H', W'), channels_last kept if the input had it
        return self.head(z.flatten(1))  # (B, C'·H'·W') → (B, out_features)
