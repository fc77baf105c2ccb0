"""summarize / format_summary: parameters, FLOPs and receptive fields checked by hand on tiny networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models import MLP
from neuralab.models.cnn import CNN
from neuralab.models.summary import LayerRow, format_summary, summarize


def fields(model: nn.Module, input_shape: tuple[int, ...]) -> list[int | None]:
    return [row.receptive_field for row in summarize(model, input_shape)]


def test_tiny_conv_net_flops_params_and_shapes_by_hand():
    model = nn.Sequential(nn.Conv2d(2, 3, kernel_size=3), nn.ReLU(), nn.Flatten(), nn.Linear(27, 5))
    rows = summarize(model, (2, 5, 5))
    assert [r.kind for r in rows] == ["Conv2d", "ReLU", "Flatten", "Linear"]
    assert [r.output_shape for r in rows] == [(3, 3, 3), (3, 3, 3), (27,), (5,)]
    # Conv2d(2→3, 3×3) on 5×5 without padding: output 3×3 (5 − 3 + 1), so
    #   2 · C_in · k_h · k_w · H_out · W_out · C_out = 2 · 2 · 3 · 3 · 3 · 3 · 3
    #                                               = 2 · 2 · 9 · 9 · 3 = 972
    #   params = C_out · C_in · k_h · k_w + C_out = 3 · 2 · 9 + 3 = 57
    # Linear(27→5): 2 · 27 · 5 = 270 FLOPs; 27 · 5 + 5 = 140 params.
    assert [r.flops for r in rows] == [972, 0, 0, 270]
    assert [r.params for r in rows] == [57, 0, 0, 140]
    assert [r.name for r in rows] == ["0", "1", "2", "3"]


def test_grouped_conv_flops_divide_by_groups():
    # Conv2d(4→6, 3×3, groups=2, padding 1) on 4×4: each output channel sees 4/2 = 2 input channels,
    #   2 · (4/2) · 3 · 3 · 4 · 4 · 6 = 2 · 2 · 9 · 16 · 6 = 3,456
    rows = summarize(nn.Conv2d(4, 6, 3, padding=1, groups=2), (4, 4, 4))
    assert rows == [LayerRow("(model)", "Conv2d", (6, 4, 4), 6 * 2 * 9 + 6, 3, 3456)]


def test_receptive_field_of_two_3x3_convs_is_5():
    # r starts at 1 with jump j = 1; each 3×3 stride-1 conv adds (3 − 1) · 1 = 2: 1 → 3 → 5.
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
    assert fields(model, (1, 9, 9)) == [3, 5]


def test_receptive_field_of_conv3_pool2_conv3_is_8():
    # conv3: r = 1 + 2·1 = 3, j = 1; pool2 (stride 2): r = 3 + 1·1 = 4, j = 2; conv3: r = 4 + 2·2 = 8.
    # By hand: one output of the last conv sees 3 pooled cells, which span 3·2 = 6 cells of the first conv's
    # output, each of which sees 3 pixels with overlap: 6 + 3 − 1 = 8 pixels.
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    assert fields(model, (1, 12, 12)) == [3, 3, 4, 8]


def test_receptive_field_with_stride_and_dilation():
    # conv3 stride 2: r = 3, j = 2; conv3 dilation 2 acts as a 5-wide kernel: r = 3 + (5 − 1)·2 = 11.
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3, dilation=2))
    assert fields(model, (1, 16, 16)) == [3, 11]


def test_cnn_summary_totals_and_receptive_field():
    model = CNN(in_channels=1, image_size=28, conv_channels=(4, 8), hidden_sizes=(16,), out_features=10)
    rows = summarize(model, (1, 28, 28))
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    assert rows[0].name == "features.0" and rows[0].receptive_field == 3
    conv_rows = [r for r in rows if r.name.startswith("features.")]
    assert conv_rows[-1].output_shape == model.feature_shape
    # conv3 → 3, pool → 4 (j = 2), conv3 → 4 + 2·2 = 8, pool → 8 + 1·2 = 10
    assert [r.receptive_field for r in conv_rows if r.kind in ("Conv2d", "MaxPool2d")] == [3, 4, 8, 10]
    assert all(r.receptive_field is None for r in rows if r.name.startswith("head."))
    # conv1: 2·1·9·28·28·4 = 56,448; conv2: 2·4·9·14·14·8 = 112,896; head: 2·392·16 + 2·16·10 = 12,864
    assert sum(r.flops for r in rows) == 56_448 + 112_896 + 12_864
    assert rows[-1].output_shape == (10,)


def test_summarize_restores_training_mode_and_does_not_touch_batchnorm_stats():
    model = CNN(conv_channels=(4,), hidden_sizes=(8,))
    model.train()
    model.head.eval()  # a mixed state survives too
    before = model.features[1].running_mean.clone()
    summarize(model, (1, 28, 28))
    assert model.training and model.features.training and not model.head.training
    assert torch.equal(model.features[1].running_mean, before)


def test_mlp_summary_has_no_receptive_field():
    model = MLP(in_features=64, hidden_sizes=[32, 16], out_features=3, dropout=0.1, batch_norm=True)
    rows = summarize(model, (64,))
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    assert all(r.receptive_field is None for r in rows)
    assert sum(r.flops for r in rows) == 2 * (64 * 32 + 32 * 16 + 16 * 3)
    assert rows[-1].output_shape == (3,)
    text = format_summary(rows)
    assert "Receptive field: n/a" in text
    assert f"Total params: {sum(p.numel() for p in model.parameters()):,}" in text


def test_parameters_owned_by_a_container_are_counted_once():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 4)
            self.scale = nn.Parameter(torch.ones(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(self.linear(x)) * self.scale  # the same Linear twice

    model = Scaled()
    rows = summarize(model, (4,))
    assert [r.name for r in rows] == ["linear", "linear", "(model)"]
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters()) == 24
    assert sum(r.flops for r in rows) == 2 * (2 * 4 * 4)


def test_format_summary_lists_every_layer_and_the_totals():
    model = CNN(conv_channels=(4,), hidden_sizes=(8,), out_features=10)
    rows = summarize(model, (1, 28, 28))
    text = format_summary(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["Layer", "Kind", "Output", "shape", "Params", "RF", "FLOPs"]
    assert len(lines) == 2 + len(rows) + 1 + 3
    assert "features.0  Conv2d" in text and "4×28×28" in text
    assert f"Total params: {sum(r.params for r in rows):,}" in text
    assert f"FLOPs/sample: {sum(r.flops for r in rows):,}" in text
    assert lines[-1] == "Receptive field: 4×4 px"  # conv3 then pool2: 3 + 1 = 4


@pytest.mark.parametrize("shape", [(), (0, 28, 28), (1.5,)])
def test_bad_input_shape_is_a_clear_error(shape):
    with pytest.raises(NeuralabError, match="input_shape must be the shape of one sample"):
        summarize(MLP(4, [3], 2), shape)
