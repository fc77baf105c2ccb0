import numpy as np
import pytest
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models import CNN, MLP
from neuralab.report.classification import (
    classification_figures,
    conv_outputs,
    plot_confident_mistakes,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_first_layer_filters,
)

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["cat", "dog", "owl"]


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return CNN(in_channels=1, image_size=8, conv_channels=(4, 8), hidden_sizes=(8,), out_features=3)


@pytest.fixture
def data():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(12, 1, 8, 8, generator=gen)
    y = np.array(CLASSES * 4)
    proba = torch.rand(12, 3, generator=gen).softmax(1).numpy()
    return x, y, proba


def test_confusion_matrix_is_written_for_perfect_and_imperfect_predictions(tmp_path):
    y = np.array(CLASSES * 4)
    assert _is_png(plot_confusion_matrix(y, y, CLASSES, tmp_path / "perfect.png"))
    assert _is_png(plot_confusion_matrix(y, np.roll(y, 1), CLASSES, tmp_path / "wrong.png", normalize=False))


def test_confusion_matrix_names_an_unknown_label(tmp_path):
    with pytest.raises(NeuralabError, match="'emu'"):
        plot_confusion_matrix(["cat", "emu"], ["cat", "dog"], CLASSES, tmp_path / "c.png")


@pytest.mark.parametrize("in_channels", [1, 3, 5])
def test_first_layer_filters_are_drawn_for_any_number_of_input_channels(tmp_path, in_channels):
    weight = torch.randn(6, in_channels, 3, 3)
    assert _is_png(plot_first_layer_filters(weight, tmp_path / "filters.png"))


def test_conv_outputs_gives_one_map_per_conv_layer_and_restores_training_mode(cnn, data):
    x = data[0]
    cnn.train()
    maps = conv_outputs(cnn.features, x[0])
    convs = [m for m in cnn.features if isinstance(m, nn.Conv2d)]
    assert len(maps) == len(convs) == 2
    # Each conv's output shape, worked out by running the layers before it (batch 1).
    h = x[:1]
    expected = []
    cnn.eval()
    with torch.no_grad():
        for layer in cnn.features:
            h = layer(h)
            if isinstance(layer, nn.Conv2d):
                expected.append(h[0])
    assert [tuple(m.shape) for m in maps] == [(4, 8, 8), (8, 4, 4)]
    for got, want in zip(maps, expected):
        torch.testing.assert_close(got, want)
    cnn.train()
    conv_outputs(cnn.features, x[0])
    assert cnn.features.training


def test_feature_maps_are_drawn(tmp_path, cnn, data):
    assert _is_png(plot_feature_maps(cnn.features, data[0][0], tmp_path / "maps.png", max_maps=3))


def test_confident_mistakes_are_drawn_and_a_run_without_mistakes_says_so(tmp_path, data):
    x, y, proba = data
    assert _is_png(plot_confident_mistakes(x, y, proba, CLASSES, tmp_path / "mistakes.png", n=4))
    perfect = np.eye(3)[[CLASSES.index(c) for c in y]]
    assert _is_png(plot_confident_mistakes(x, y, perfect, CLASSES, tmp_path / "none.png"))


def test_confident_mistakes_rejects_mismatched_shapes(tmp_path, data):
    x, y, proba = data
    with pytest.raises(NeuralabError, match="proba"):
        plot_confident_mistakes(x, y, proba[:5], CLASSES, tmp_path / "m.png")


def test_classification_figures_for_a_cnn_lists_four_figures(tmp_path, cnn, data):
    x, y, proba = data
    figures = classification_figures(cnn, x, y, proba, CLASSES, tmp_path)
    assert [f["file"] for f in figures] == ["confusion.png", "filters.png", "feature_maps.png", "mistakes.png"]
    assert all(f["title"] and f["caption"] for f in figures)
    assert all(_is_png(tmp_path / f["file"]) for f in figures)


def test_classification_figures_for_an_mlp_draws_only_the_confusion_matrix(tmp_path, data):
    x, y, proba = data
    model = MLP(in_features=64, hidden_sizes=(8,), out_features=3)
    figures = classification_figures(model, x.flatten(1), y, proba, CLASSES, tmp_path)
    assert [f["file"] for f in figures] == ["confusion.png"]
    assert _is_png(tmp_path / "confusion.png")


def test_classification_figures_unflattens_flat_inputs_for_a_cnn(tmp_path, cnn, data):
    x, y, proba = data
    standardised = (x.flatten(1) - 0.5) * 4  # flat rows outside [0, 1], as a CNN on scaled tabular digits gets
    figures = classification_figures(cnn, standardised, y, proba, CLASSES, tmp_path)
    assert len(figures) == 4 and _is_png(tmp_path / "mistakes.png")
