import numpy as np
import pytest
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.report.autoencoder import (
    autoencoder_figures,
    interpolation_figure,
    latent_projection,
    latent_scatter,
    loss_terms_curves,
    manifold_grid,
    reconstruction_grid,
    sparsity_histogram,
)
from neuralab.report.images import samples_grid

PNG = b"\x89PNG\r\n\x1a\n"
SHAPE = (1, 4, 4)


def _is_png(path):
    return path.is_file() and path.stat().st_size > 100 and path.read_bytes()[:8] == PNG


class StubAE(nn.Module):
    """A linear autoencoder with the duck-typed interface; records the mode and inputs it is called with."""

    def __init__(self, latent_dim=2, shape=SHAPE, flat_output=False):
        super().__init__()
        self.latent_dim, self.shape, self.flat_output = latent_dim, shape, flat_output
        self.encoder = nn.Linear(int(np.prod(shape)), latent_dim)
        self.decoder = nn.Linear(latent_dim, int(np.prod(shape)))
        self.modes: list[bool] = []
        self.reconstructed: list[torch.Tensor] = []

    def encode(self, x):
        self.modes.append(self.training)
        assert not torch.is_grad_enabled()
        return self.encoder(x.flatten(1))

    def decode(self, z):
        out = torch.sigmoid(self.decoder(z))
        return out if self.flat_output else out.reshape(len(z), *self.shape)

    def reconstruct(self, x):
        self.reconstructed.append(x)
        return self.decode(self.encode(x)).reshape(x.shape)


class StubDenoisingAE(StubAE):
    noise = "gaussian"

    def corrupt(self, x, generator=None):
        assert isinstance(generator, torch.Generator)
        return (x + 0.3 * torch.randn(x.shape, generator=generator)).clamp(0, 1)


class StubSparseAE(StubAE):
    sparsity = "kl"
    sparsity_target = 0.05

    def mean_activations(self, x):
        return torch.sigmoid(self.encode(x)).mean(0)


class StubVAE(StubAE):
    def sample(self, n, generator=None):
        return self.decode(torch.randn(n, self.latent_dim, generator=generator))

    def interpolate(self, x_a, x_b, steps=8):
        z = self.encode(torch.stack([x_a, x_b]))
        t = torch.linspace(0, 1, steps)[:, None]
        return self.decode((1 - t) * z[:1] + t * z[1:])


@pytest.fixture
def data():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(24, *SHAPE, generator=gen)
    labels = np.arange(24) % 3
    return x, labels


HISTORY = [{"epoch": e, "train_loss": 3.0 / e, "train_reconstruction": 2.0 / e, "train_kl": 1.0 / e,
            "val_reconstruction": 2.2 / e, "val_kl": 1.1 / e} for e in (1, 2, 3)]


def test_each_figure_function_writes_a_png(tmp_path, data):
    x, labels = data
    torch.manual_seed(0)
    vae = StubVAE(latent_dim=2)
    codes = np.random.default_rng(0).normal(size=(24, 5))
    written = [
        reconstruction_grid(vae, x, tmp_path / "r.png", n=6),
        reconstruction_grid(vae, x, tmp_path / "rn.png", noisy=x.flip(0), n=6),
        latent_scatter(codes, labels, tmp_path / "l.png"),
        latent_scatter(codes, None, tmp_path / "l0.png"),
        latent_scatter(codes[:, :2], np.linspace(0, 1, 24), tmp_path / "lc.png"),  # continuous: colour bar
        manifold_grid(vae, tmp_path / "m.png", n=5),
        manifold_grid(vae, tmp_path / "ms.png", n=5, span=2.5),
        interpolation_figure(vae, x[0], x[1], tmp_path / "i.png", steps=5),
        samples_grid(vae, tmp_path / "s.png", n=10),
        loss_terms_curves(HISTORY, tmp_path / "t.png"),
        sparsity_histogram(np.random.default_rng(0).uniform(0, 0.2, 32), 0.05, tmp_path / "h.png"),
    ]
    assert all(_is_png(p) for p in written)
    assert written[0] == tmp_path / "r.png"


def test_flat_784_inputs_are_drawn_as_28_by_28_and_other_widths_need_image_shape(tmp_path):
    x = torch.rand(4, 784)
    ae = StubAE(shape=(784,), flat_output=True)
    assert _is_png(reconstruction_grid(ae, x, tmp_path / "flat.png", n=4))
    assert _is_png(reconstruction_grid(StubAE(shape=(12,)), torch.rand(4, 12), tmp_path / "shaped.png",
                                       image_shape=(1, 3, 4)))
    with pytest.raises(NeuralabError, match="image_shape"):
        reconstruction_grid(StubAE(shape=(12,)), torch.rand(4, 12), tmp_path / "bad.png")
    with pytest.raises(NeuralabError, match=r"image_shape must be \(C, H, W\) with 12 values"):
        reconstruction_grid(StubAE(shape=(12,)), torch.rand(4, 12), tmp_path / "bad.png", image_shape=(1, 4, 4))


def test_denoising_grid_reconstructs_the_noisy_input(tmp_path, data):
    x, _ = data
    ae = StubAE()
    noisy = 1 - x
    reconstruction_grid(ae, x, tmp_path / "r.png", noisy=noisy, n=4)
    assert torch.equal(ae.reconstructed[-1], noisy[:4])


def test_latent_projection_uses_the_code_in_2d_and_pca_above():
    rng = np.random.default_rng(0)
    points, method, labels = latent_projection(rng.normal(size=(50, 2)))
    assert method == "code" and labels == ("z₁", "z₂") and points.shape == (50, 2)
    points, method, labels = latent_projection(rng.normal(size=(50, 8)))
    assert method == "pca" and points.shape == (50, 2)
    assert labels[0].startswith("PC 1 of the 8-D code") and "variance" in labels[1]


def test_latent_scatter_caps_the_points_drawn(tmp_path):
    codes = np.random.default_rng(0).normal(size=(6000, 3))
    labels = np.arange(6000) % 10
    assert _is_png(latent_scatter(codes, labels, tmp_path / "big.png"))
    with pytest.raises(NeuralabError, match="7 labels for 6000 codes"):
        latent_scatter(codes, labels[:7], tmp_path / "bad.png")


def test_loss_terms_curves_is_none_without_term_keys(tmp_path):
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2}, {"epoch": 2, "train_loss": 0.5, "val_loss": 0.9}]
    assert loss_terms_curves(history, tmp_path / "t.png") is None
    assert loss_terms_curves([], tmp_path / "t.png") is None
    assert not (tmp_path / "t.png").exists()


def test_manifold_grid_needs_two_latent_dimensions(tmp_path):
    with pytest.raises(NeuralabError, match="at least 2; got 1"):
        manifold_grid(StubVAE(latent_dim=1), tmp_path / "m.png")


@pytest.mark.parametrize("model, expected", [
    (StubAE(), {"reconstructions.png", "latent.png"}),
    (StubDenoisingAE(), {"reconstructions.png", "latent.png"}),
    (StubSparseAE(latent_dim=6), {"reconstructions.png", "latent.png", "sparsity.png"}),
    (StubVAE(latent_dim=2), {"reconstructions.png", "latent.png", "manifold.png", "samples.png",
                             "interpolation.png", "loss_terms.png"}),
    (StubVAE(latent_dim=8), {"reconstructions.png", "latent.png", "samples.png", "interpolation.png",
                             "loss_terms.png"}),
], ids=["ae", "denoising", "sparse", "vae2", "vae8"])
def test_autoencoder_figures_draws_what_the_model_supports(tmp_path, data, model, expected):
    x, labels = data
    history = HISTORY if isinstance(model, StubVAE) else [{"epoch": 1, "train_loss": 1.0}]
    model.train()
    figures = autoencoder_figures(model, x, labels, history, tmp_path, split="val")
    assert {f["file"] for f in figures} == expected
    assert all(set(f) == {"file", "title", "caption"} and f["title"] and f["caption"] for f in figures)
    assert all(_is_png(tmp_path / f["file"]) for f in figures)
    assert model.training and model.modes and not any(model.modes)  # eval during the calls, train mode restored
    latent = next(f for f in figures if f["file"] == "latent.png")
    d = model.latent_dim
    assert latent["title"] == f"Latent space (val): {'PCA of the' if d > 2 else 'the'} {d}-D code"
    assert ("principal components of the" in latent["caption"]) == (model.latent_dim > 2)


def test_autoencoder_figures_adds_a_seeded_noisy_row_for_a_denoiser(tmp_path, data):
    x, labels = data
    runs = []
    for _ in range(2):
        model = StubDenoisingAE()
        figures = autoencoder_figures(model, x, labels, [], tmp_path, generator_seed=3)
        runs.append(model.reconstructed[0])
    assert "corrupted" in figures[0]["caption"]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], x[:10])


def test_autoencoder_figures_skips_image_figures_for_non_image_data(tmp_path):
    model = StubVAE(latent_dim=2, shape=(6,), flat_output=True)
    figures = autoencoder_figures(model, torch.rand(10, 6), None, [], tmp_path)
    assert [f["file"] for f in figures] == ["latent.png"]
    with pytest.raises(NeuralabError, match="3 labels for 10 inputs"):
        autoencoder_figures(model, torch.rand(10, 6), np.zeros(3), [], tmp_path)
