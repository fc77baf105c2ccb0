"""The LeNet-style CNN: shapes over a sweep of configurations, gradients, seeding, safetensors, input forms, errors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from neuralab.errors import NeuralabError
from neuralab.models.cnn import CNN, conv_output_size

# (constructor keywords, input shape without batch, expected feature_shape (C, H, W))
CONFIGS = {
    # 28 → pool 14 → pool 7
    "default": (dict(conv_channels=(4, 8)), (1, 28, 28), (8, 7, 7)),
    # stride 2 with "same" pads 1: 28 → 14 → pool 7 → 4 (⌈7/2⌉) → pool 2
    "stride2": (dict(conv_channels=(4, 8), stride=2), (1, 28, 28), (8, 2, 2)),
    # padding 0, 5×5: 28 → 24 → pool 12 → 8 → pool 4
    "padding0": (dict(conv_channels=(4, 8), kernel_size=5, padding=0), (1, 28, 28), (8, 4, 4)),
    "avg_pool": (dict(conv_channels=(4, 8), pool="avg"), (1, 28, 28), (8, 7, 7)),
    "no_pool": (dict(conv_channels=(4, 8), pool="none", image_size=12), (1, 12, 12), (8, 12, 12)),
    # three blocks, pool after block 2 only: 16 → 16 → pool 8 → 8
    "pool_every2": (dict(conv_channels=(4, 4, 8), pool_every=2, image_size=16), (1, 16, 16), (8, 8, 8)),
    "no_bn_tanh_dropout": (dict(conv_channels=(4, 8), batch_norm=False, activation="tanh", dropout=0.2,
                                conv_dropout=0.1), (1, 28, 28), (8, 7, 7)),
    "rgb32": (dict(in_channels=3, image_size=32, conv_channels=(4, 8), hidden_sizes=(16, 16)), (3, 32, 32),
              (8, 8, 8)),
    # even kernel with "same" at stride 1 (torch pads asymmetrically), non-square image: 10×14 → 5×7
    "even_kernel_rect": (dict(conv_channels=(4,), kernel_size=4, image_size=(10, 14)), (1, 10, 14), (4, 5, 7)),
    "per_layer_lists": (dict(conv_channels=(4, 8), kernel_size=(5, 3), stride=(1, 2), padding=(2, 0),
                             hidden_sizes=()), (1, 28, 28), (8, 3, 3)),
    # pools cut to the image: a 1×5 strip pools 1×2 (5 → 2 → 1), then the third pool is left out
    "pool_if_fits_strip": (dict(conv_channels=(4, 8, 8), image_size=(1, 5), pool_if_fits=True), (1, 1, 5),
                           (8, 1, 1)),
    # 2×9 → pool 1×4 → pool 1×2 (only the width) → pool 1×1
    "pool_if_fits_2x9": (dict(conv_channels=(4, 4, 4), image_size=(2, 9), pool_if_fits=True), (1, 2, 9),
                         (4, 1, 1)),
    # a single pixel: no pool at all, the convolutions see only their kernel's centre
    "pool_if_fits_1x1": (dict(in_channels=3, conv_channels=(4, 4), image_size=1, pool_if_fits=True), (3, 1, 1),
                         (4, 1, 1)),
}


def make(seed: int = 0, **kwargs) -> CNN:
    torch.manual_seed(seed)
    return CNN(**{"hidden_sizes": (16,), **kwargs})


# torch warns that an even kernel with padding="same" copies the input to pad it asymmetrically: expected here.
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("name", CONFIGS)
def test_cnn_sweep_shapes_gradients_seed_and_safetensors(name, tmp_path):
    kwargs, shape, feature_shape = CONFIGS[name]
    model = make(out_features=5, **kwargs)
    assert model.feature_shape == feature_shape
    assert model.head.in_features == feature_shape[0] * feature_shape[1] * feature_shape[2]

    x = torch.randn(4, *shape)
    out = model(x)
    assert out.shape == (4, 5)
    assert torch.isfinite(out).all()
    assert model.features(x).shape[1:] == feature_shape  # the arithmetic agrees with torch

    out.pow(2).mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{pname} got no gradient"

    first, again = make(out_features=5, **kwargs), make(out_features=5, **kwargs)
    for (pname, a), b in zip(first.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), f"{pname} differs with the same seed"
    assert not torch.equal(make(seed=1, **kwargs).features[0].weight, again.features[0].weight)

    save_file(model.state_dict(), tmp_path / "cnn.safetensors")
    fresh = make(seed=7, out_features=5, **kwargs)
    fresh.load_state_dict(load_file(tmp_path / "cnn.safetensors"))
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))


def test_conv_output_size_is_the_floor_formula():
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(28, 3, stride=2, padding=1) == 14
    assert conv_output_size(7, 2, stride=2) == 3  # pooling drops the odd row
    assert conv_output_size(2, 3) == 0


def test_lenet5_has_its_published_parameter_count():
    # LeNet-5 (C1 6@5×5, S2, C3 16@5×5, S4, F5 120, F6 84, output 10) on 32×32 has 61,706 weights when C3 is fully
    # connected to S2: 156 + 2,416 + 48,120 + 10,164 + 850.
    model = CNN(in_channels=1, image_size=32, conv_channels=(6, 16), kernel_size=5, padding=0, pool="avg",
                batch_norm=False, activation="tanh", hidden_sizes=(120, 84), out_features=10)
    assert model.feature_shape == (16, 5, 5)
    assert sum(p.numel() for p in model.parameters()) == 61_706


def test_first_layer_filters_and_feature_maps_are_reachable():
    model = make(conv_channels=(6, 8), kernel_size=5)
    assert model.features[0].weight.shape == (6, 1, 5, 5)
    maps = model.features[:3](torch.randn(2, 1, 28, 28))  # conv → BN → ReLU of block 1
    assert maps.shape == (2, 6, 28, 28)


def test_flat_and_channelless_inputs_give_the_same_logits():
    model = make(conv_channels=(4,)).eval()
    x = torch.randn(3, 1, 28, 28)
    expected = model(x)
    assert torch.equal(model(x[:, 0]), expected)  # (B, H, W)
    assert torch.equal(model(x.flatten(1)), expected)  # (B, 784)


def test_flat_rgb_input_is_read_in_channel_height_width_order():
    model = make(in_channels=3, image_size=8, conv_channels=(4,)).eval()
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(model(x.flatten(1)), model(x))


def test_channels_last_input_matches_contiguous():
    model = make(in_channels=3, image_size=16, conv_channels=(4, 8)).eval()
    x = torch.randn(2, 3, 16, 16)
    xl = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(model(xl), model(x))
    model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(model(xl), model(x))
    model.train()(xl).sum().backward()
    assert model.features[0].weight.grad is not None


def test_wrong_input_shape_shows_expected_and_got():
    model = make(conv_channels=(4,))
    with pytest.raises(NeuralabError, match=r"\(B, 1, 28, 28\).*\(B, 784\).*got \(2, 1, 32, 32\)"):
        model(torch.randn(2, 1, 32, 32))
    rgb = make(in_channels=3, image_size=8, conv_channels=(4,))
    with pytest.raises(NeuralabError, match=r"\(B, 3, 8, 8\) or \(B, 192\); got \(2, 8, 8\)"):
        rgb(torch.randn(2, 8, 8))  # (B, H, W) is only for one channel


def test_too_small_image_names_the_layer():
    # 8 → pool 4 → pool 2 → pool 1 → the fourth pool would give 0×0; it sits at features[15] (4 layers a block)
    with pytest.raises(NeuralabError, match=r"features\[15\] \(max pool after block 4\).*1×1 gives 0×0"):
        CNN(image_size=8, conv_channels=(4, 4, 4, 4))
    assert CNN(image_size=8, conv_channels=(4, 4, 4, 4), pool_if_fits=True).feature_shape == (4, 1, 1)
    # a 5×5 kernel without padding on a 3×3 image: the very first conv
    with pytest.raises(NeuralabError, match=r"features\[0\] \(Conv2d of block 1, kernel 5, stride 1\)"):
        CNN(image_size=3, conv_channels=(4,), kernel_size=5, padding=0)
    with pytest.raises(NeuralabError, match=r"features\[0\] \(Conv2d"):  # cutting pools cannot fix a kernel
        CNN(image_size=3, conv_channels=(4,), kernel_size=5, padding=0, pool_if_fits=True)


@pytest.mark.parametrize("kwargs", [
    dict(image_size=8, conv_channels=(4, 4, 4)),  # 8 → 4 → 2 → 1: every pool fits
    dict(image_size=(10, 14), conv_channels=(4, 8), kernel_size=4, pool="avg"),
    dict(image_size=28, conv_channels=(4, 4, 8), pool_every=2, stride=(1, 2, 1)),
])
def test_pool_if_fits_changes_nothing_where_every_pool_fits(kwargs):
    plain, cut = make(**kwargs), make(**kwargs, pool_if_fits=True)
    assert repr(cut) == repr(plain) and cut.feature_shape == plain.feature_shape
    for (name, a), b in zip(plain.state_dict().items(), cut.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs"
    x = torch.randn(3, 1, *plain.image_size)
    assert torch.equal(cut.eval()(x), plain.eval()(x))


def test_pool_if_fits_cuts_pools_to_the_map_and_drops_them_at_1x1():
    model = CNN(image_size=(2, 9), conv_channels=(4, 4, 4, 4), pool="avg", pool_if_fits=True)
    windows = [m.kernel_size for m in model.features if isinstance(m, torch.nn.AvgPool2d)]
    assert windows == [2, (1, 2), (1, 2)]  # 2×9 → 1×4 → 1×2 → 1×1, and no fourth pool
    assert model.feature_shape == (4, 1, 1)
    assert model(torch.randn(2, 1, 2, 9)).shape == (2, 10)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(pool="min"), "pool must be one of max, avg, none; got 'min'"),
    (dict(padding="valid"), "padding must be an int, one int per conv layer, or 'same'"),
    (dict(kernel_size=(3, 3, 3)), r"kernel_size must be an int or one value per conv layer \(2\)"),
    (dict(stride=0), "stride must be int"),
    (dict(conv_channels=()), "conv_channels must list at least one"),
    (dict(in_channels=0), "in_channels must be a positive int; got 0"),
    (dict(image_size=(28,)), "image_size must be a positive int or"),
    (dict(pool_every=0), "pool_every must be a positive int"),
    (dict(conv_dropout=1.0), r"conv_dropout must be in \[0, 1\)"),
    (dict(dropout=-0.1), r"dropout must be in \[0, 1\)"),
    (dict(activation="relux"), "relu"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(NeuralabError, match=message):
        CNN(**kwargs)
