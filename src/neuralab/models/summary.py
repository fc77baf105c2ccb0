"""A layer-by-layer summary of a model: output shape, parameters, receptive field and FLOPs for one sample.

:func:`summarize` runs one forward pass on a batch of one (zeros, eval mode, no gradients) with a forward hook on
every leaf module, so the rows come in the order the layers run. :func:`format_summary` prints them as a table.

Receptive field
    The standard recursion for a chain of convolutions and pools (Araujo, Norris & Sim 2019, "Computing receptive
    fields of convolutional neural networks", Distill): start with ``r = 1`` and jump ``j = 1`` (pixels between
    two neighbouring outputs); a layer with kernel ``k`` and stride ``s`` gives ``r ← r + (k − 1)·j`` and
    ``j ← j·s`` (a dilated kernel counts as ``d·(k − 1) + 1``). Batch norm, activations and dropout leave both
    unchanged. After anything that mixes all positions (a Linear layer, an adaptive pool, a flatten) the field is
    the whole input, reported as ``None``. Height and width are tracked apart; a row shows the larger. The
    recursion assumes the layers form a chain, as in :class:`~neuralab.models.CNN`; it means nothing for graphs
    or recurrent nets.

FLOPs
    Floating-point operations per sample, a multiply-add counted as 2, as most papers do:
    ``2 · C_in/groups · k_h · k_w · H_out · W_out · C_out`` for a ``Conv2d`` and ``2 · in · out`` for a
    ``Linear`` (per position when the input has extra dimensions). Biases, batch norm, activations, pooling and
    dropout cost a few operations per element, far fewer than the products, and are counted as 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from neuralab.errors import NeuralabError

__all__ = ["LayerRow", "format_summary", "summarize"]

# Layers whose output at one position depends on a k×k window of their input with stride s.
_WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
# Layers that act on each position alone and keep the receptive field.
_POINTWISE = (nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Identity)


@dataclass
class LayerRow:
    """One leaf module's line in a summary.

    Attributes
    ----------
    name
        Qualified name in the model (``features.0``); ``"(model)"`` when the model itself is the only layer.
    kind
        Class name (``Conv2d``).
    output_shape
        Shape of the layer's output for one sample, without the batch dimension.
    params
        Number of parameters of the layer (counted at its first call only, for a layer used twice).
    receptive_field
        Side in input pixels of the window one output position sees; ``None`` once positions are mixed.
    flops
        Floating-point operations for one sample (a multiply-add counts 2).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    receptive_field: int | None
    flops: int


def _pair(v: Any) -> tuple[int, int]:
    """An int or a 2-tuple as (height, width)."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _first_tensor(out: Any) -> Tensor | None:
    """The output tensor, or the first tensor of a tuple/list output (an LSTM's, for example)."""
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((t for t in map(_first_tensor, out) if t is not None), None)
    return None


def _flops(module: nn.Module, x: Tensor | None, y: Tensor) -> int:
    """Multiply-adds × 2 of a Conv2d or Linear for one sample (the batch is 1); 0 for other layers."""
    if isinstance(module, nn.Conv2d):
        k_h, k_w = module.kernel_size
        c_out, h_out, w_out = y.shape[-3:]
        return 2 * (module.in_channels // module.groups) * k_h * k_w * h_out * w_out * c_out
    if isinstance(module, nn.Linear):
        positions = y.numel() // module.out_features  # 1 for (1, out); T for a (1, T, out) sequence
        return 2 * module.in_features * module.out_features * positions
    return 0


class _Field:
    """The receptive-field recursion ``r ← r + (k − 1)·j``, ``j ← j·s`` on both axes; ``None`` once lost."""

    def __init__(self) -> None:
        self.r: tuple[int, int] | None = (1, 1)
        self.j = (1, 1)

    def update(self, module: nn.Module, x: Tensor | None, y: Tensor) -> int | None:
        if self.r is None:
            return None
        if isinstance(module, _WINDOWED):
            k, s = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
            d = _pair(getattr(module, "dilation", 1))
            k = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
            self.r = (self.r[0] + (k[0] - 1) * self.j[0], self.r[1] + (k[1] - 1) * self.j[1])
            self.j = (self.j[0] * s[0], self.j[1] * s[1])
        elif isinstance(module, _POINTWISE) or module.__module__.startswith("torch.nn.modules.activation"):
            pass
        elif x is not None and x.shape == y.shape and y.dim() == 4:
            pass  # an unknown layer that keeps (C, H, W), such as our Step activation: assume it is pointwise
        else:
            self.r = None  # Linear, Flatten, adaptive pools, anything else: every output sees the whole input
            return None
        return max(self.r)


def _leaves(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Modules with no children, plus containers that own parameters directly (so totals add up)."""
    for name, module in model.named_modules():
        if not any(True for _ in module.children()) or any(True for _ in module.parameters(recurse=False)):
            yield name or "(model)", module


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """Summarise each leaf layer of ``model`` for one input of shape ``input_shape``.

    Parameters
    ----------
    model
        Any ``nn.Module`` whose forward takes one tensor. Its training flags are restored afterwards.
    input_shape
        Shape of one sample, without the batch dimension: ``(1, 28, 28)`` for a grey-scale CNN, ``(64,)`` for an
        MLP. The forward pass sees zeros of shape ``(1, *input_shape)`` on the model's device and dtype.

    Returns
    -------
    list[LayerRow]
        One row per leaf-module call, in the order of the forward pass.

    Raises
    ------
    NeuralabError
        If ``input_shape`` is not a tuple of positive ints; the model's own error if it rejects the shape.

    Examples
    --------
    >>> from neuralab.models import MLP
    >>> [(r.kind, r.params, r.flops) for r in summarize(MLP(4, [3], 2), (4,))]
    [('Linear', 15, 24), ('ReLU', 0, 0), ('Linear', 8, 12)]
    """
    shape = tuple(input_shape)
    if not shape or any(not isinstance(s, int) or s < 1 for s in shape):
        raise NeuralabError(f"input_shape must be the shape of one sample, positive ints without the batch "
                            f"dimension, e.g. (1, 28, 28); got {input_shape!r}")
    first = next(model.parameters(), None)
    x = torch.zeros((1, *shape), device=first.device if first is not None else "cpu",
                    dtype=first.dtype if first is not None and first.is_floating_point() else torch.float32)
    rows: list[LayerRow] = []
    seen: set[int] = set()
    field = _Field()

    def hook(name: str, module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        y, x_in = _first_tensor(out), _first_tensor(args)
        if y is None:
            return
        params = 0 if id(module) in seen else sum(p.numel() for p in module.parameters(recurse=False))
        seen.add(id(module))
        rows.append(LayerRow(name, type(module).__name__, tuple(y.shape[1:]), params,
                             field.update(module, x_in, y), _flops(module, x_in, y)))

    modes = {m: m.training for m in model.modules()}
    handles = [m.register_forward_hook(lambda mod, a, o, n=n: hook(n, mod, a, o)) for n, m in _leaves(model)]
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
    return rows


def _human(n: int) -> str:
    """1234567 → ' (1.23M)'; '' below a thousand."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f" ({n / scale:.2f}{unit})"
    return ""


def format_summary(rows: list[LayerRow]) -> str:
    """A plain-text table of :func:`summarize`'s rows, with totals: parameters, FLOPs per sample, and the final
    receptive field (the last one known, i.e. what each feature fed to the first fully connected layer sees).

    Examples
    --------
    >>> from neuralab.models import MLP
    >>> print(format_summary(summarize(MLP(4, [3], 2), (4,))).splitlines()[-3])
    Total params: 23
    """
    header = ("Layer", "Kind", "Output shape", "Params", "RF", "FLOPs")
    table = [header] + [(r.name, r.kind, "×".join(map(str, r.output_shape)) or "scalar", f"{r.params:,}",
                         "-" if r.receptive_field is None else str(r.receptive_field), f"{r.flops:,}")
                        for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    right = (False, False, False, True, True, True)

    def fmt(line: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(line, widths, right)).rstrip()

    rule = "-" * len(fmt(header))
    fields = [r.receptive_field for r in rows if r.receptive_field is not None]
    total_params, total_flops = sum(r.params for r in rows), sum(r.flops for r in rows)
    totals = [f"Total params: {total_params:,}",
              f"FLOPs/sample: {total_flops:,}{_human(total_flops)}",
              f"Receptive field: {fields[-1]}×{fields[-1]} px" if fields else "Receptive field: n/a"]
    return "\n".join([fmt(header), rule, *map(fmt, table[1:]), rule, *totals])

