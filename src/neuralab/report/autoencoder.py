"""Figures for an autoencoder or VAE run: reconstructions, the latent space, samples, and the loss terms.

The models are duck-typed. Every one needs ``encode(x) -> (B, latent_dim)`` and ``decode(z)``; the rest is optional:

- ``reconstruct(x)`` (else ``decode(encode(x))``);
- ``noise`` other than ``"none"`` with ``corrupt(x, generator=None)``: a denoising autoencoder;
- ``sparsity`` in ``("l1", "kl")`` with ``mean_activations(x)`` and ``sparsity_target``: a sparse autoencoder;
- ``sample(n, generator=None)`` and ``interpolate(x_a, x_b, steps)``: a VAE.

Each function writes one PNG (matplotlib, Agg backend) and returns its path; :func:`autoencoder_figures` draws what
the model supports and returns the ``figures.json`` entries. Models run in eval mode under ``no_grad`` and get their
training flag back afterwards. Flat inputs are drawn as images of ``image_shape`` ``(C, H, W)``, or as square
grey images when the number of features is a perfect square (784 → 28×28). The image handling and tiling, and the
samples grid itself, come from :mod:`neuralab.report.images`, which any generator can use.

>>> from neuralab.report.autoencoder import autoencoder_figures
>>> autoencoder_figures(vae, x_test, y_test, history, run_dir)  # doctest: +SKIP
[{'file': 'reconstructions.png', 'title': 'Reconstructions (test)', 'caption': '...'}, ...]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.report._figures import inference, model_device
from neuralab.report._figures import pyplot as _pyplot
from neuralab.report._figures import save_figure as _save
from neuralab.report.images import infer_image_shape, samples_grid, show_picture, tile_images, to_pictures
from neuralab.report.plots import COLORS, epochs, values

__all__ = [
    "autoencoder_figures",
    "interpolation_figure",
    "latent_projection",
    "latent_scatter",
    "loss_terms_curves",
    "manifold_grid",
    "reconstruction_grid",
    "sparsity_histogram",
]

logger = logging.getLogger(__name__)

TILE_INCHES = 0.75
MAX_SCATTER_POINTS = 5000
MAX_ENCODED = 2000  # images encoded for the latent scatter and the sparsity histogram
BATCH_SIZE = 256
N_SAMPLES = 64  # prior samples in samples.png
MAX_LEGEND_CLASSES = 20  # more distinct labels than this are treated as a continuous value with a colour bar
TERM_NAMES = {"reconstruction": "reconstruction", "kl": "KL divergence", "sparsity": "sparsity penalty"}


def _reconstruct(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model.reconstruct(x) if hasattr(model, "reconstruct") else model.decode(model.encode(x))


def _latent_dim(model: nn.Module, x: torch.Tensor | None = None) -> int:
    """``model.latent_dim``, else the width of ``encode`` on one row of ``x``."""
    dim = getattr(model, "latent_dim", None)
    if isinstance(dim, int) and dim > 0:
        return dim
    if x is None:
        raise NeuralabError(f"{type(model).__name__} has no int latent_dim attribute; pass latent_dim=")
    with inference(model):
        return int(model.encode(x[:1].to(model_device(model))).shape[-1])


def reconstruction_grid(model: nn.Module, x: torch.Tensor, path: Path, *, noisy: torch.Tensor | None = None,
                        n: int = 10, image_shape: Sequence[int] | None = None) -> Path:
    """Inputs over their reconstructions, ``n`` columns.

    Parameters
    ----------
    model
        An autoencoder with ``reconstruct(x)`` (or ``encode``/``decode``).
    x
        Clean inputs ``(N, C, H, W)`` or flat ``(N, D)``; the first ``n`` are drawn.
    path
        Where to write the PNG.
    noisy
        Corrupted versions of ``x`` for a denoising autoencoder: drawn as a middle row, and it is these that are
        reconstructed, which is the denoiser's job.
    n
        Columns (examples).
    image_shape
        ``(C, H, W)`` to draw flat rows as; by default a square grey image.

    Returns
    -------
    Path
        ``path``.
    """
    if not isinstance(n, int) or n < 1:
        raise NeuralabError(f"n must be a positive int; got {n!r}")
    x = x[:n]
    if noisy is not None and noisy.shape[1:] != x.shape[1:]:
        raise NeuralabError(f"noisy must have the shape of x; got {tuple(noisy.shape)} and {tuple(x.shape)}")
    noisy = noisy[:len(x)] if noisy is not None else None
    with inference(model):
        source = (noisy if noisy is not None else x).to(model_device(model))
        recon = _reconstruct(model, source).cpu()
    mse = float(((recon.reshape(len(x), -1).float() - x.reshape(len(x), -1).float().cpu()) ** 2).mean())
    rows = [("input", x)] + ([("noisy input", noisy)] if noisy is not None else []) + [("reconstruction", recon)]
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), 1, figsize=(TILE_INCHES * len(x) + 1.0, TILE_INCHES * len(rows) + 0.6),
                             squeeze=False)
    for ax, (name, batch) in zip(axes[:, 0], rows):
        show_picture(ax, tile_images(to_pictures(batch, image_shape), 1, len(x)))
        ax.set_ylabel(name, fontsize=8)
    target = "clean input" if noisy is not None else "input"
    fig.suptitle(f"Reconstructions (MSE to the {target} {mse:.4f})", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def latent_projection(codes: np.ndarray) -> tuple[np.ndarray, str, tuple[str, str]]:
    """The codes in 2-D for a scatter plot: as they are when 2-D, else their first two principal components.

    Returns
    -------
    tuple
        ``(points (N, 2), method, (x_label, y_label))`` where ``method`` is ``"code"`` or ``"pca"`` (a 1-D code is
        drawn against zeros and counts as ``"code"``).
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2 or codes.shape[1] < 1:
        raise NeuralabError(f"codes must have shape (N, d) with N >= 2; got {codes.shape}")
    d = codes.shape[1]
    if d == 1:
        return np.column_stack([codes[:, 0], np.zeros(len(codes))]), "code", ("z₁ (1-D code)", "")
    if d == 2:
        return codes, "code", ("z₁", "z₂")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0).fit(codes)
    share = pca.explained_variance_ratio_
    return pca.transform(codes), "pca", (f"PC 1 of the {d}-D code ({share[0]:.0%} of variance)",
                                         f"PC 2 ({share[1]:.0%} of variance)")


def latent_scatter(codes: np.ndarray, labels: np.ndarray | None, path: Path) -> Path:
    """The latent codes as a 2-D scatter coloured by label (PCA to 2-D when the code is wider; see the axes).

    At most 5,000 points are drawn, a fixed random subset. Up to 20 distinct labels get one colour each and a
    legend; more (a continuous target) get a colour bar.

    Parameters
    ----------
    codes
        Latent codes, shape ``(N, d)``.
    labels
        One label per code, shape ``(N,)``, or None for a single colour.
    path
        Where to write the PNG.

    Returns
    -------
    Path
        ``path``.
    """
    points, method, (xlabel, ylabel) = latent_projection(codes)
    if labels is not None and len(labels) != len(points):
        raise NeuralabError(f"labels must hold one label per code; got {len(labels)} labels for {len(points)} codes")
    keep = np.arange(len(points))
    if len(points) > MAX_SCATTER_POINTS:
        keep = np.sort(np.random.default_rng(0).choice(len(points), MAX_SCATTER_POINTS, replace=False))
    points = points[keep]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    size = 6 if len(points) > 1000 else 14
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, alpha=0.6, color=COLORS["train"], linewidths=0)
    else:
        labels = np.asarray(labels)[keep]
        classes = np.unique(labels)
        if len(classes) <= MAX_LEGEND_CLASSES:
            cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
            for i, c in enumerate(classes):
                at = labels == c
                ax.scatter(points[at, 0], points[at, 1], s=size, alpha=0.7, color=cmap(i), label=str(c),
                           linewidths=0)
            ax.legend(title="class", fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
        else:
            image = ax.scatter(points[:, 0], points[:, 1], s=size, alpha=0.7, c=labels.astype(float),
                               cmap="viridis", linewidths=0)
            fig.colorbar(image, ax=ax, label="label")
    ax.set(xlabel=xlabel, ylabel=ylabel,
           title=f"Latent space ({'the code' if method == 'code' else 'PCA'}, {len(points)} points)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def manifold_grid(vae: nn.Module, path: Path, *, n: int = 15, span: float | None = None,
                  image_shape: Sequence[int] | None = None, latent_dim: int | None = None) -> Path:
    """Decode a regular ``n``×``n`` grid over the first two latent dimensions (Kingma & Welling 2014, Fig. 4).

    The grid is evenly spaced in probability, ``Φ⁻¹(linspace(0.05, 0.95, n))`` for the standard normal prior, so
    that it covers the prior's mass rather than its empty tails; ``span`` gives an evenly spaced
    ``[-span, span]`` grid instead. Further latent dimensions are held at 0 (the prior mean), as the title says.

    Parameters
    ----------
    vae
        A model with ``decode(z)`` and ``latent_dim`` (or pass ``latent_dim``).
    path
        Where to write the PNG.
    n
        Grid points per axis.
    span
        Half-width of an evenly spaced grid, or None for the Gaussian-quantile grid.
    image_shape
        ``(C, H, W)`` to draw flat outputs as.
    latent_dim
        The latent width when the model has no ``latent_dim`` attribute.

    Returns
    -------
    Path
        ``path``.
    """
    if not isinstance(n, int) or n < 2:
        raise NeuralabError(f"n must be an int >= 2; got {n!r}")
    dim = latent_dim or _latent_dim(vae)
    if dim < 2:
        raise NeuralabError(f"manifold_grid needs a latent_dim of at least 2; got {dim}")
    if span is None:
        grid = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)])
    else:
        grid = np.linspace(-abs(span), abs(span), n)
    z1, z2 = np.meshgrid(grid, grid[::-1])  # z₂ grows upwards, as on a plot's y axis
    z = torch.zeros(n * n, dim)
    z[:, 0], z[:, 1] = torch.as_tensor(z1.ravel()), torch.as_tensor(z2.ravel())
    with inference(vae):
        decoded = vae.decode(z.to(model_device(vae))).cpu()
    pictures = to_pictures(decoded, image_shape)
    h, w = pictures.shape[1:3]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(min(0.5 * n + 1.5, 10.0), min(0.5 * n + 1.5, 10.0)))
    show_picture(ax, tile_images(pictures, n, n))
    centres = np.arange(n) * (np.array([w, h])[:, None] + 1) + (np.array([w, h])[:, None] - 1) / 2
    ticks = [f"{v:.1f}" for v in np.round(grid, 1) + 0.0]  # + 0.0 turns -0.0 into 0.0
    ax.set_xticks(centres[0], ticks, fontsize=6, rotation=90)
    ax.set_yticks(centres[1], ticks[::-1], fontsize=6)
    ax.set(xlabel="z₁", ylabel="z₂")
    rest = f"; z₃…z_{dim} held at 0" if dim > 2 else ""
    ax.set_title(f"Decoded latent grid ({'Gaussian quantiles' if span is None else f'±{abs(span):g}'}{rest})",
                 fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def interpolation_figure(vae: nn.Module, x_a: torch.Tensor, x_b: torch.Tensor, path: Path, *, steps: int = 10,
                         image_shape: Sequence[int] | None = None) -> Path:
    """One row: ``x_a``, the decoded path from its code to ``x_b``'s (``vae.interpolate``), then ``x_b``.

    Parameters
    ----------
    vae
        A model with ``interpolate(x_a, x_b, steps=...)``; without one, the codes ``encode(x)`` are joined by a
        straight line and decoded.
    x_a, x_b
        Two single examples (``(C, H, W)`` or ``(D,)``).
    path
        Where to write the PNG.
    steps
        Decoded points on the path, ends included.
    image_shape
        ``(C, H, W)`` to draw flat examples as.

    Returns
    -------
    Path
        ``path``.
    """
    if not isinstance(steps, int) or steps < 2:
        raise NeuralabError(f"steps must be an int >= 2; got {steps!r}")
    if x_a.shape != x_b.shape:
        raise NeuralabError(f"x_a and x_b must have the same shape; got {tuple(x_a.shape)} and {tuple(x_b.shape)}")
    device = model_device(vae)
    with inference(vae):
        a, b = x_a.to(device), x_b.to(device)
        if hasattr(vae, "interpolate"):
            path_images = vae.interpolate(a, b, steps=steps)
        else:
            z = vae.encode(torch.stack([a, b]))  # (2, d)
            t = torch.linspace(0, 1, steps, device=device)[:, None]
            path_images = vae.decode((1 - t) * z[:1] + t * z[1:])
    batch = torch.cat([x_a[None].cpu().float(), path_images.cpu().float().reshape(steps, *x_a.shape),
                       x_b[None].cpu().float()])
    pictures = to_pictures(batch, image_shape)
    plt = _pyplot()
    fig, axes = plt.subplots(1, steps + 2, figsize=(TILE_INCHES * (steps + 2) + 0.4, TILE_INCHES + 0.9))
    for i, (ax, picture) in enumerate(zip(axes, pictures)):
        show_picture(ax, picture)
        ax.set_xlabel("A" if i == 0 else "B" if i == steps + 1 else f"{(i - 1) / (steps - 1):.2g}", fontsize=7)
        if i in (0, steps + 1):
            for spine in ax.spines.values():
                spine.set_color(COLORS["val"])
    fig.suptitle("Latent interpolation: input A, decoded path A → B, input B", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def loss_terms_curves(history: list[dict], path: Path,
                      keys: Sequence[str] = ("reconstruction", "kl")) -> Path | None:
    """One panel per loss term: ``train_<key>`` and ``val_<key>`` per epoch.

    Parameters
    ----------
    history
        Per-epoch logs, as in ``metrics.json``; missing values, ``None`` and NaN become gaps.
    path
        Where to write the PNG.
    keys
        The terms to draw; those never logged are left out.

    Returns
    -------
    Path or None
        ``path``, or None (nothing written) when no term in ``keys`` was logged.
    """
    x = epochs(history)
    panels = []
    for key in keys:
        series = [(split, values(history, f"{split}_{key}")) for split in ("train", "val")]
        series = [(split, y) for split, y in series if np.isfinite(y).any()]
        if series:
            panels.append((key, series))
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 0.4, 3.4), squeeze=False)
    marker = "o" if len(x) <= 30 else None
    for ax, (key, series) in zip(axes[0], panels):
        for split, y in series:
            ax.plot(x, np.where(np.isfinite(y), y, np.nan), label=split, color=COLORS[split], marker=marker,
                    markersize=3, linewidth=1.5)
        ax.set(title=TERM_NAMES.get(key, key), xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def sparsity_histogram(mean_activations: np.ndarray, rho: float | None, path: Path) -> Path:
    """Histogram of each hidden unit's mean activation, with the sparsity target ρ marked.

    Returns
    -------
    Path
        ``path``.
    """
    act = np.asarray(mean_activations, dtype=np.float64).ravel()
    if act.size == 0:
        raise NeuralabError("mean_activations must hold one value per hidden unit; got an empty array")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.hist(act[np.isfinite(act)], bins=min(50, max(10, act.size // 4)), color=COLORS["train"], alpha=0.85)
    if rho is not None:
        ax.axvline(rho, color=COLORS["val"], linestyle="--", linewidth=1.5, label=f"target ρ = {rho:g}")
        ax.legend(fontsize="small")
    ax.set(xlabel="mean activation over the inputs", ylabel="hidden units",
           title=f"Mean hidden activations ({act.size} units, mean {np.nanmean(act):.3g})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _batched(model: nn.Module, fn: Any, x: torch.Tensor) -> list[torch.Tensor]:
    """``fn`` on ``x`` in batches of 256 under :func:`~neuralab.report._figures.inference`, results on the CPU."""
    device = model_device(model)
    with inference(model):
        return [fn(x[i:i + BATCH_SIZE].to(device)).cpu() for i in range(0, len(x), BATCH_SIZE)]


def _mean_activations(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """``model.mean_activations`` over ``x``, batch means weighted by batch size."""
    parts = _batched(model, model.mean_activations, x)
    sizes = [len(x[i:i + BATCH_SIZE]) for i in range(0, len(x), BATCH_SIZE)]
    return (sum(p.double() * s for p, s in zip(parts, sizes)) / len(x)).numpy()


def _other_example(labels: np.ndarray | None, n: int) -> int:
    """Index of the first example whose label differs from example 0's (else 1), for an A → B interpolation."""
    if labels is not None:
        differs = np.flatnonzero(np.asarray(labels)[:n] != np.asarray(labels)[0])
        if differs.size:
            return int(differs[0])
    return 1


def autoencoder_figures(model: nn.Module, x: torch.Tensor, labels: np.ndarray | None, history: list[dict],
                        out: Path, *, split: str = "test", image_shape: Sequence[int] | None = None,
                        generator_seed: int = 0) -> list[dict[str, str]]:
    """Draw the figures the model supports into ``out`` and return their ``figures.json`` entries.

    Always ``reconstructions.png`` (with a noisy-input row for a denoising autoencoder, whose ``corrupt`` gets a
    generator seeded ``generator_seed``) and ``latent.png`` (the first 2,000 examples encoded); for a VAE
    (``sample``) ``samples.png`` and ``interpolation.png``, plus ``manifold.png`` when ``latent_dim == 2``; for a
    sparse autoencoder ``sparsity.png``; and ``loss_terms.png`` when the history logs loss terms. Image figures are
    skipped (logged) when the inputs are neither images nor flat square images and no ``image_shape`` is given.

    Parameters
    ----------
    model
        The trained autoencoder or VAE.
    x
        Inputs of ``split``, ``(N, C, H, W)`` or flat ``(N, D)``, N >= 2.
    labels
        Class labels of ``x`` for colouring the latent space, or None.
    history
        Per-epoch logs.
    out
        The run directory.
    split
        Name of the split, for the titles.
    image_shape
        ``(C, H, W)`` to draw flat rows as.
    generator_seed
        Seed for the corruption and the prior samples.

    Returns
    -------
    list[dict[str, str]]
        ``{"file", "title", "caption"}`` per figure, in display order.
    """
    if not isinstance(x, torch.Tensor) or len(x) < 2:
        raise NeuralabError(f"x must be a tensor of at least 2 examples; got {getattr(x, 'shape', type(x))}")
    if labels is not None and len(labels) != len(x):
        raise NeuralabError(f"labels must hold one label per example; got {len(labels)} labels for {len(x)} inputs")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[dict[str, str]] = []

    def add(path: Path | None, title: str, caption: str) -> None:
        if path is not None:
            figures.append({"file": Path(path).name, "title": title, "caption": caption})

    try:
        infer_image_shape(x, image_shape)
        images = True
    except NeuralabError as err:
        images = False
        logger.info("skipping the image figures: %s", err)
    is_vae = hasattr(model, "sample")
    dim = _latent_dim(model, x)

    if images:
        noisy = None
        if getattr(model, "noise", "none") not in (None, "none") and hasattr(model, "corrupt"):
            generator = torch.Generator(device=x.device).manual_seed(generator_seed)
            with inference(model):
                noisy = model.corrupt(x[:10], generator=generator)
        add(reconstruction_grid(model, x, out / "reconstructions.png", noisy=noisy, image_shape=image_shape),
            f"Reconstructions ({split})",
            "Top: inputs; middle: the inputs corrupted with the model's noise; bottom: what the model rebuilds from "
            "the corrupted inputs. A good denoiser restores the clean strokes." if noisy is not None else
            "Top: inputs; bottom: their reconstructions through the bottleneck. Blur means lost detail; classes "
            "swapped for one another mean the code does not separate them.")

    head = x[:MAX_ENCODED]
    codes = torch.cat(_batched(model, model.encode, head)).reshape(len(head), -1).numpy()
    how = (f"the {dim}-D code" if dim <= 2 else f"the first two principal components of the {dim}-D code")
    add(latent_scatter(codes, None if labels is None else np.asarray(labels)[:len(head)], out / "latent.png"),
        f"Latent space ({split}): " + (f"the {dim}-D code" if dim <= 2 else f"PCA of the {dim}-D code"),
        f"{len(head)} {split} examples as {how}{', coloured by class' if labels is not None else ''}"
        f"{' (the mean of q(z|x))' if is_vae else ''}. Classes in separate clusters mean the code keeps what tells "
        f"them apart, learned without labels.")

    if is_vae and images:
        if dim == 2:
            add(manifold_grid(model, out / "manifold.png", image_shape=image_shape, latent_dim=dim),
                "Learned manifold",
                "Images decoded from a regular grid over the 2-D latent space, spaced by the prior's quantiles "
                "(Kingma & Welling 2014, Fig. 4). Smooth changes from tile to tile mean a continuous latent space.")
        add(samples_grid(model, out / "samples.png", n=N_SAMPLES, seed=generator_seed, image_shape=image_shape,
                         title=f"Samples from the prior (n = {N_SAMPLES}, seed {generator_seed})"),
            "Samples from the prior",
            "Images decoded from z ~ N(0, I). Blurry or mixed images are common for a VAE with a pixel-wise "
            "likelihood; garbage means the posterior does not match the prior.")
        b = _other_example(labels, len(x))
        add(interpolation_figure(model, x[0], x[b], out / "interpolation.png", image_shape=image_shape),
            f"Latent interpolation ({split})",
            "Two inputs (of different classes when labels allow) and the images decoded along the path between "
            "their codes. Plausible images all the way along mean the latent space has no holes between them.")

    if getattr(model, "sparsity", None) in ("l1", "kl") and hasattr(model, "mean_activations"):
        rho = getattr(model, "sparsity_target", None)
        add(sparsity_histogram(_mean_activations(model, head), rho, out / "sparsity.png"),
            f"Hidden-unit activity ({split})",
            f"Mean activation of each code unit over {len(head)} {split} examples"
            f"{f', with the target ρ = {rho:g}' if rho is not None else ''}. A sparse code has most units near "
            f"the target; units stuck at 0 never fire and are wasted.")

    add(loss_terms_curves(history, out / "loss_terms.png", keys=("reconstruction", "kl", "sparsity")),
        "Loss terms",
        "Each term of the objective per epoch, train and validation." + (
            " The KL term measures how far the codes stray from the prior; a KL near 0 with poor reconstructions "
            "is posterior collapse." if is_vae else ""))
    return figures
