"""Autoencoder and VAE benchmarks on MNIST (issue 5): VAE NLL, SdA test error, linear probes, denoising PSNR, VAE
training throughput.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/autoencoders.py [--parts ...] [--quick]
Each part is independent (``--parts vae``, ``--parts throughput,sda`` ...), so parts can run in separate processes;
every result is printed as one JSON line and merged into ``benchmarks/autoencoders.json`` (under a file lock) as
soon as it is measured, so an interrupted run keeps what it finished. ``--report`` prints the Markdown section for
BENCHMARKS.md from the JSON. ``--quick`` is a smoke run (2,000 training rows, 1 epoch, k = 50) that writes to
``/tmp/autoencoders-quick.json``; its numbers mean nothing.

Data and protocol
-----------------
MNIST's official 60,000/10,000 split. Training rows are the first 55,000 of the official training set, validation the
last 5,000; the test set is used once per model, for the reported number, never for a choice. Pixels are x / 255.

1. **VAE NLL** (``vae``). MLP VAE 784-512-256, 32-D Gaussian latent, ReLU, Bernoulli decoder (the ``mnist-vae``
   recipe's model), KL warm-up over the first 10 epochs, Adam lr 1e-3 with a cosine schedule over ``--vae-epochs``,
   batch 128. Training batches are **dynamically binarised** (``binarize=True``: every time an image is drawn it is
   resampled as Bernoulli(pixel / 255)). The validation and test images are binarised **once**, with
   ``torch.Generator().manual_seed(0)`` (validation) and ``manual_seed(1)`` (test) over the float tensors in their
   natural order. The weights kept are those of the epoch with the best validation ELBO. Reported: test ELBO on all
   10,000 binarised test images and the importance-sampled NLL with k = 5000 (``VAE.importance_nll``, the IWAE bound
   of Burda et al. 2016) on all of them if the measured cost fits ``--nll-budget`` seconds, otherwise on a fixed
   random subset (``randperm(10000, generator=manual_seed(0))[:n]``, n ≥ 1,000), with its standard error.
2. **Stacked denoising autoencoder** (``sda``). A deep denoising autoencoder 784-1000-1000 (ReLU code) trained end to
   end (not greedy layer-wise) with 25% masking noise through ``train_recipe("mnist-denoising-ae")``; then the
   ``mnist-mlp`` recipe with hidden sizes [1000, 1000] and ``model.init_from`` set to that run, fine-tuned on the
   recipe's stratified 55,000/5,000 split and scored once on the 10,000 test images.
3. **Linear probe** (``probe``). Each autoencoder type with a 64-unit code, trained a few epochs, frozen; a
   scikit-learn ``LogisticRegression`` on standardised training codes; test accuracy. Raw pixels as reference.
4. **Denoising PSNR** (``psnr``). A denoising autoencoder 784-512-128 trained with masking 25% or gaussian σ = 0.3,
   tested on test images corrupted the same way with a fixed seed; PSNR (peak 1.0) of noisy input vs clean and of the
   reconstruction vs clean, averaged per image.
5. **Throughput** (``throughput``). Samples/s of ``neuralab.train.fit`` on the VAE against a hand-written loop doing
   the same work, alternating pairs as in ``benchmarks/engine.py``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralab.data import load_dataset
from neuralab.models import VAE
from neuralab.models.autoencoder import Autoencoder
from neuralab.train import FitData, OptimizerConfig, SchedulerConfig, TrainerConfig, fit
from neuralab.train.config import EarlyStoppingConfig

from _common import machine, small_mnist, timed_pair  # noqa: E402  (benchmarks/ is on sys.path)

GOALS = {"nll": 86.0, "sda_error_pct": 1.1, "throughput_ratio": 0.95}
VAL_ROWS = 5_000  # the last 5,000 official training images
TEST_BINARIZE_SEED, VAL_BINARIZE_SEED = 1, 0
VAE_HIDDEN, VAE_LATENT, WARMUP_EPOCHS = [512, 256], 32, 10
BATCH = 128
HERE = Path(__file__).resolve().parent


class Results:
    """Results merged into one JSON file under a lock, so parts running in separate processes share it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, key: str, value: Any, history: str | None = None) -> None:
        """Set ``key``; with ``history``, also append the value to that list (earlier runs of a repeated part)."""
        print(json.dumps({key: value}), flush=True)
        lock = Path(tempfile.gettempdir()) / (self.path.name + ".lock")
        with open(lock, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            data = json.loads(self.path.read_text()) if self.path.is_file() else {}
            if history is not None:
                data[history] = data.get(history, [data[key]] if key in data else []) + [value]
            data[key] = value
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1) + "\n")
            tmp.replace(self.path)


# --- data -------------------------------------------------------------------------------------------------------

def mnist(train_rows: int | None = None, test_rows: int | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Float (N, 784) images / 255 and int64 labels: train (first 55,000), val (last 5,000), test (10,000)."""
    ds = load_dataset("mnist")
    split = ds.predefined_split

    def part(idx: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(np.asarray(ds.x[idx])).float().div_(255.0).reshape(len(idx), 784)
        return x, torch.as_tensor(np.asarray(ds.y[idx]), dtype=torch.long)

    x, y = part(split.train)
    x_te, y_te = part(split.test)
    n_train = len(x) - VAL_ROWS
    out = {"train": (x[:n_train], y[:n_train]), "val": (x[n_train:], y[n_train:]), "test": (x_te, y_te)}
    if train_rows is not None:
        out["train"] = tuple(t[:train_rows] for t in out["train"])
        out["val"] = tuple(t[:max(train_rows // 10, 100)] for t in out["val"])
    if test_rows is not None:
        out["test"] = tuple(t[:test_rows] for t in out["test"])
    return out


def binarize_once(x: torch.Tensor, seed: int) -> torch.Tensor:
    """One fixed Bernoulli(x) draw, the evaluation protocol for dynamically binarised MNIST."""
    return torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))


# --- 1. VAE NLL --------------------------------------------------------------------------------------------------

def new_vae(seed: int, warmup_steps: int, latent_dim: int = VAE_LATENT) -> VAE:
    torch.manual_seed(seed)
    return VAE(784, VAE_HIDDEN, latent_dim, activation="relu", likelihood="bernoulli", binarize=True,
               warmup_steps=warmup_steps)


def part_vae(args: argparse.Namespace, data: dict[str, Any], results: Results) -> None:
    """Train the VAE, keep the best validation ELBO, then test ELBO and k = 5000 NLL."""
    x_tr = data["train"][0]
    x_val = binarize_once(data["val"][0], VAL_BINARIZE_SEED)
    x_te = binarize_once(data["test"][0], TEST_BINARIZE_SEED)
    steps = math.ceil(len(x_tr) / BATCH)
    model = new_vae(0, WARMUP_EPOCHS * steps if not args.quick else steps)
    config = TrainerConfig(epochs=args.vae_epochs, batch_size=BATCH, device="cpu", seed=0,
                           early_stopping=EarlyStoppingConfig(patience=10_000, monitor="val_elbo", mode="max",
                                                              restore_best=True))
    start = time.perf_counter()
    state = fit(model, FitData((x_tr,), val=(x_val,)), config, optimizer=OptimizerConfig(name="adam", lr=1e-3),
                scheduler=SchedulerConfig(name="cosine"))
    train_s = time.perf_counter() - start
    history = [{k: h[k] for k in ("epoch", "train_elbo", "train_kl", "val_elbo", "time") if k in h}
               for h in state.history]
    best = max(state.history, key=lambda h: h["val_elbo"])
    head = {"architecture": f"784-{'-'.join(map(str, VAE_HIDDEN))}-z{VAE_LATENT} relu, Bernoulli decoder",
            "epochs": args.vae_epochs, "warmup_steps": model.warmup_steps, "train_rows": len(x_tr),
            "val_rows": len(x_val), "train_s": train_s, "best_epoch": int(best["epoch"]),
            "best_val_elbo": best["val_elbo"], "history": history}
    results.add("vae_train", head)

    model.eval()
    g = torch.Generator().manual_seed(2)
    elbo = torch.cat([model.elbo(x_te[i:i + 1000], generator=g) for i in range(0, len(x_te), 1000)])
    results.add("vae_test_elbo", {"n": len(x_te), "elbo": elbo.mean().item(),
                                  "se": (elbo.std() / math.sqrt(len(elbo))).item(),
                                  "test_binarize_seed": TEST_BINARIZE_SEED})
    vae_nll(args, model, x_te, elbo, results)


def vae_nll(args: argparse.Namespace, model: VAE, x_te: torch.Tensor, elbo: torch.Tensor, results: Results) -> None:
    """k-sample importance NLL: time 100 images, then the full test set or the largest subset that fits."""
    k, per = (50, 50) if args.quick else (5000, 100)
    order = torch.randperm(len(x_te), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(3)
    values: list[torch.Tensor] = []
    start = time.perf_counter()
    values.append(model.importance_nll(x_te[order[:per]], k=k, chunk=500, generator=g))
    per_image = (time.perf_counter() - start) / per
    eta_full = per_image * len(x_te)
    n = len(x_te) if eta_full <= args.nll_budget else max(1000, int(args.nll_budget / per_image) // per * per)
    n = min(n, len(x_te))
    print(json.dumps({"nll_per_image_s": per_image, "eta_full_s": eta_full, "n": n}), flush=True)
    for i in range(per, n, per):
        values.append(model.importance_nll(x_te[order[i:i + per]], k=k, chunk=500, generator=g))
        if (i // per) % 10 == 0:
            done = torch.cat(values)
            print(json.dumps({"nll_progress": len(done), "mean": done.mean().item()}), flush=True)
    nll = torch.cat(values)
    subset_elbo = elbo[order[:n]]
    results.add("vae_nll", {"k": k, "n": n, "full_test_set": n == len(x_te), "nll": nll.mean().item(),
                            "se": (nll.std() / math.sqrt(n)).item(), "elbo_same_images": subset_elbo.mean().item(),
                            "per_image_s": per_image, "eta_full_s": eta_full, "seconds": time.perf_counter() - start,
                            "subset_rule": "randperm(10000, generator=manual_seed(0))[:n]"})


# --- 2. stacked denoising autoencoder, pretrained then fine-tuned -----------------------------------------------

def part_sda(args: argparse.Namespace, data: dict[str, Any], results: Results) -> None:
    """Deep denoising AE 784-1000-1000 (end to end), then ``mnist-mlp`` [1000, 1000] initialised from its encoder."""
    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe

    tmp = Path(tempfile.mkdtemp(prefix="sda-"))
    extra = [f"data.data_dir={small_mnist(tmp / 'mnist', 2_000, 500)}"] if args.quick else []
    pretrain = ["model.hidden_sizes=[1000]", "model.latent_dim=1000", "model.code_activation=relu",
                f"trainer.epochs={args.pretrain_epochs}", *extra]
    start = time.perf_counter()
    ae = train_recipe(load_recipe("mnist-denoising-ae", pretrain), out_dir=tmp / "pretrain", write_report=False)
    ae_metrics = ae.metrics()
    pre = {"recipe": "mnist-denoising-ae", "overrides": pretrain, "seconds": time.perf_counter() - start,
           "val_loss": [h.get("val_loss") for h in ae_metrics["history"]]}
    results.add("sda_pretrain", pre)
    finetune = ["model.hidden_sizes=[1000, 1000]", f"model.init_from={tmp / 'pretrain'}",
                f"trainer.epochs={args.finetune_epochs}", *extra]
    results.add("sda", {**_classifier(finetune, tmp / "finetune"), "pretrain_seconds": pre["seconds"]})
    if args.sda_control:  # the same fine-tuning from a random initialisation: what pretraining adds
        results.add("sda_control", _classifier([f for f in finetune if "init_from" not in f], tmp / "control"))


def _classifier(overrides: list[str], out: Path) -> dict[str, Any]:
    """Train ``mnist-mlp`` with ``overrides``; its test error (scored once) and validation accuracy per epoch."""
    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe

    start = time.perf_counter()
    run = train_recipe(load_recipe("mnist-mlp", overrides), out_dir=out, write_report=False)
    metrics = run.metrics()
    return {"recipe": "mnist-mlp", "overrides": overrides, "seconds": time.perf_counter() - start,
            "test_error_pct": 100 * (1 - metrics["final"]["test"]["accuracy"]), "test": metrics["final"]["test"],
            "val_accuracy": [h.get("val_accuracy") for h in metrics["history"]],
            "epoch_s": [h["time"] for h in metrics["history"]]}


# --- 3. linear probe ---------------------------------------------------------------------------------------------

CODE = 64


def probe_models(seed: int, steps: int) -> dict[str, torch.nn.Module]:
    """One model per autoencoder type, all with a 64-unit code; the one-layer ones follow the papers' form."""
    def ae(**kw: Any) -> Autoencoder:
        torch.manual_seed(seed)
        return Autoencoder(784, kw.pop("hidden_sizes", []), CODE, code_activation=kw.pop("code", "sigmoid"), **kw)

    return {
        "deep (784-512-256-64, linear code)": ae(hidden_sizes=[512, 256], code="linear"),
        "basic (784-64 sigmoid, no penalty)": ae(),
        "sparse (784-64 sigmoid, KL ρ=0.05, weight 3)": ae(sparsity="kl", sparsity_target=0.05, sparsity_weight=3.0),
        "denoising (784-64 sigmoid, masking 25%)": ae(noise="masking", noise_level=0.25),
        "contractive (784-64 sigmoid, weight 0.1)": ae(contractive_weight=0.1),
        "VAE (784-512-256-z64, code = μ)": new_vae(seed, steps, CODE),
    }


def logistic_probe(train: torch.Tensor, y_train: torch.Tensor, test: torch.Tensor, y_test: torch.Tensor
                   ) -> dict[str, float]:
    """Standardise on train, fit LogisticRegression (lbfgs, C = 1), return test accuracy and seconds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    scaler = StandardScaler().fit(train.numpy())
    clf = LogisticRegression(max_iter=1000).fit(scaler.transform(train.numpy()), y_train.numpy())
    accuracy = float(clf.score(scaler.transform(test.numpy()), y_test.numpy()))
    return {"test_accuracy": accuracy, "probe_s": time.perf_counter() - start, "n_iter": int(clf.n_iter_.max())}


@torch.no_grad()
def codes(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model.encode(x[i:i + 2000]) for i in range(0, len(x), 2000)])


def part_probe(args: argparse.Namespace, data: dict[str, Any], results: Results) -> None:
    """Each AE type trained ``--probe-epochs`` on the training rows, codes frozen, logistic regression on them."""
    (x_tr, y_tr), (x_te, y_te) = data["train"], data["test"]
    steps = math.ceil(len(x_tr) / BATCH)
    for seed in range(args.seeds):
        for name, model in probe_models(seed, steps).items():
            start = time.perf_counter()
            config = TrainerConfig(epochs=args.probe_epochs, batch_size=BATCH, device="cpu", seed=seed)
            state = fit(model, FitData((x_tr,)), config, optimizer=OptimizerConfig(name="adam", lr=1e-3))
            row = {"model": name, "seed": seed, "epochs": args.probe_epochs, "train_s": time.perf_counter() - start,
                   "final_train_loss": state.history[-1]["train_loss"],
                   **logistic_probe(codes(model, x_tr), y_tr, codes(model, x_te), y_te)}
            results.add(f"probe/{name}/{seed}", row)
    results.add("probe/raw pixels (784)", {"model": "raw pixels (784)", **logistic_probe(x_tr, y_tr, x_te, y_te)})


# --- 4. denoising PSNR -------------------------------------------------------------------------------------------

NOISES = (("masking", 0.25), ("gaussian", 0.3))


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB with peak 1.0: ``10·log10(1 / MSE)``."""
    return 10 * torch.log10(1.0 / (a - b).pow(2).mean(1))


def part_psnr(args: argparse.Namespace, data: dict[str, Any], results: Results) -> None:
    """A DAE 784-512-128 per noise type and seed; PSNR of noisy and reconstructed test images against clean."""
    x_tr, x_te = data["train"][0], data["test"][0]
    for noise, level in NOISES:
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            model = Autoencoder(784, [512], 128, code_activation="sigmoid", noise=noise, noise_level=level)
            # One fixed corruption of the test set (seed 0), the same for every seed's model.
            noisy = model.corrupt(x_te, generator=torch.Generator().manual_seed(0))
            start = time.perf_counter()
            config = TrainerConfig(epochs=args.psnr_epochs, batch_size=BATCH, device="cpu", seed=seed)
            fit(model, FitData((x_tr,)), config, optimizer=OptimizerConfig(name="adam", lr=1e-3))
            model.eval()
            with torch.no_grad():
                recon = torch.cat([model.reconstruct(noisy[i:i + 2000]) for i in range(0, len(noisy), 2000)])
                clean_recon = torch.cat([model.reconstruct(x_te[i:i + 2000]) for i in range(0, len(x_te), 2000)])
            results.add(f"psnr/{noise}/{seed}", {
                "noise": noise, "level": level, "seed": seed, "epochs": args.psnr_epochs,
                "train_s": time.perf_counter() - start, "noisy_psnr": psnr(noisy, x_te).mean().item(),
                "denoised_psnr": psnr(recon, x_te).mean().item(),
                "clean_input_psnr": psnr(clean_recon, x_te).mean().item()})


# --- 5. throughput -------------------------------------------------------------------------------------------------


def run_fit_vae(x: torch.Tensor, warmup: int) -> None:
    """One epoch of ``fit`` on the VAE (fast path, Adam lr 1e-3, batch 128)."""
    model = new_vae(0, warmup)
    fit(model, FitData((x,)), TrainerConfig(epochs=1, batch_size=BATCH, device="cpu", seed=0),
        optimizer=OptimizerConfig(name="adam", lr=1e-3))


def run_plain_vae(x: torch.Tensor, warmup: int) -> float:
    """The hand-written loop: per-epoch randperm, index slicing, ``vae.loss``, Adam; returns the epoch's mean loss."""
    model = new_vae(0, warmup)
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    model.train()
    losses = []
    for i in range(0, len(x), BATCH):
        loss = model.loss((x[order[i:i + BATCH]],))["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return torch.stack(losses).mean().item()


def part_throughput(args: argparse.Namespace, data: dict[str, Any], results: Results) -> None:
    """Samples/s of ``fit`` against the plain loop on the same VAE, alternating pairs."""
    x = data["train"][0][:args.throughput_rows]
    warmup = 10 * math.ceil(len(x) / BATCH)
    t_fit, t_plain = timed_pair(lambda: run_fit_vae(x, warmup), lambda: run_plain_vae(x, warmup), args.pairs)
    paired = [p / f for f, p in zip(t_fit, t_plain)]
    results.add("throughput", {
        "rows": len(x), "batch_size": BATCH, "pairs": args.pairs, "fit_s": t_fit, "plain_s": t_plain,
        "fit_samples_per_s": len(x) / statistics.median(t_fit), "plain_samples_per_s": len(x) / statistics.median(t_plain),
        "ratio_of_medians": statistics.median(t_plain) / statistics.median(t_fit), "paired_ratios": paired,
        "paired_ratio_median": statistics.median(paired), "loadavg": os.getloadavg()}, history="throughput_runs")


# --- the Markdown section ------------------------------------------------------------------------------------------

def _mean_std(values: list[float], digits: int = 2, unit: str = "") -> str:
    if len(set(values)) == 1:  # one run, or a number that does not depend on the seed
        return f"{values[0]:.{digits}f}{unit}" + (" (1 run)" if len(values) == 1 else "")
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}{unit}"


def report(r: dict[str, Any]) -> str:
    """The Markdown section for BENCHMARKS.md, from the merged JSON."""
    yes = lambda ok: "met" if ok else "**missed**"
    machines = [v for k, v in r.items() if k.startswith("machine_")]
    ends = [v["loadavg_end"][0] for k, v in r.items() if k.startswith("done_")]
    m = machines[0]
    quick = " QUICK RUN, not for BENCHMARKS.md." if any(x["quick"] for x in machines) else ""
    lines = ["## Autoencoders and VAE (issue 5): `benchmarks/autoencoders.py`", "",
             (f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['cpu_capability']}), "
             f"{m['torch_threads']} torch thread per process (`--threads 1`; OpenBLAS limited to 1 as well), "
             f"Python {m['python']}, scikit-learn {m['sklearn']}. The machine was shared with other agents' jobs: "
             f"1-minute load average {min(x['loadavg_start'][0] for x in machines):.1f}–"
             f"{max(x['loadavg_start'][0] for x in machines):.1f} when the parts started and "
             f"{min(ends, default=float('nan')):.1f}–{max(ends, default=float('nan')):.1f} when they ended "
             f"(2 cores).{quick}"), "",
             "| metric | result | goal | met? |", "|---|---|---|---|"]
    if "vae_nll" in r:
        n, e, t = r["vae_nll"], r["vae_test_elbo"], r["vae_train"]
        where = f"all {n['n']:,} test images" if n["full_test_set"] else f"a fixed random {n['n']:,} of the 10,000 test images"
        lines.append(f"| VAE test NLL, k = {n['k']} (IWAE bound), dynamically binarised MNIST | **{n['nll']:.2f} ± "
                     f"{n['se']:.2f} nats** ({where}, ± standard error; {t['epochs']} epochs) | ≤ {GOALS['nll']} | "
                     f"{yes(n['nll'] <= GOALS['nll'])} |")
        lines.append(f"| VAE test ELBO (1 sample per image), all {e['n']:,} test images | {e['elbo']:.2f} ± {e['se']:.2f} "
                     f"nats (−ELBO {-e['elbo']:.2f}) | (reported) | — |")
    if "sda" in r:
        sda = r["sda"]
        lines.append(f"| stacked denoising AE, pretrained then fine-tuned, MNIST test error | **{sda['test_error_pct']:.2f}%** "
                     f"(1 seed) | ≤ {GOALS['sda_error_pct']}% | {yes(sda['test_error_pct'] <= GOALS['sda_error_pct'])} |")
    if "sda_control" in r:
        lines.append(f"| same fine-tuning from random initialisation (control) | {r['sda_control']['test_error_pct']:.2f}% "
                     "| — | — |")
    if "throughput" in r:
        tp = r["throughput"]
        lines.append(f"| VAE training samples/s, `fit` vs plain loop, batch 128 | {tp['fit_samples_per_s']:,.0f} vs "
                     f"{tp['plain_samples_per_s']:,.0f}: ratio **{tp['ratio_of_medians']:.3f}** (side-by-side median "
                     f"{tp['paired_ratio_median']:.3f}, range {min(tp['paired_ratios']):.3f}–"
                     f"{max(tp['paired_ratios']):.3f}) | ≥ {GOALS['throughput_ratio']} | "
                     f"{yes(tp['ratio_of_medians'] >= GOALS['throughput_ratio'])} |")
    runs = r.get("throughput_runs", [])
    if len(runs) > 1:
        def describe(i: int, t: dict[str, Any]) -> str:
            load = f", load {t['loadavg'][0]:.1f}" if "loadavg" in t else ""
            return (f"run {i + 1}, {len(t['fit_s'])} pairs{load}: {t['ratio_of_medians']:.3f}; "
                    f"{t['paired_ratio_median']:.3f}")

        lines += ["", "Throughput, every run of the part (ratio of medians; side-by-side median): "
                  + "; ".join(describe(i, t) for i, t in enumerate(runs)) + "."]
    probes = [v for k, v in r.items() if k.startswith("probe/")]
    if probes:
        names = list(dict.fromkeys(v["model"] for v in probes))
        seeds = len({v.get("seed") for v in probes if "seed" in v})
        epochs = next(v["epochs"] for v in probes if "epochs" in v)
        lines += ["", (f"Linear probe: 64-unit codes, each model trained {epochs} epochs on the training rows "
                  f"(Adam lr 1e-3, batch 128), frozen; `LogisticRegression` (lbfgs, C = 1, standardised codes) fitted "
                  f"on the training codes; test accuracy, mean ± std over {seeds} seeds."), "",
                  "| model | test accuracy | AE training time (s) |", "|---|---|---|"]
        for name in names:
            rows = [v for v in probes if v["model"] == name]
            acc = _mean_std([100 * v["test_accuracy"] for v in rows], unit="%")
            acc = acc if "seed" in rows[0] else acc.replace(" (1 run)", " (deterministic)")
            secs = _mean_std([v["train_s"] for v in rows], 0) if "train_s" in rows[0] else "—"
            lines.append(f"| {name} | {acc} | {secs} |")
    noises = [v for k, v in r.items() if k.startswith("psnr/")]
    if noises:
        lines += ["", (f"Denoising PSNR (peak 1.0, mean over the test images of 10·log10(1/MSE)): a denoising "
                  f"autoencoder 784-512-128 (sigmoid code) per noise type, {noises[0]['epochs']} epochs, mean ± std over "
                  f"{len({v['seed'] for v in noises})} seeds; the test images are corrupted once (seed 0)."), "",
                  ("| noise (train and test) | noisy input vs clean | reconstruction vs clean | reconstruction of the "
                  "clean input |"), "|---|---|---|---|"]
        for noise, level in NOISES:
            rows = [v for v in noises if v["noise"] == noise]
            if rows:
                label = f"masking {level:.0%}" if noise == "masking" else f"gaussian σ = {level} (clamped to [0, 1])"
                lines.append(f"| {label} | {_mean_std([v['noisy_psnr'] for v in rows], unit=' dB')} | "
                             f"**{_mean_std([v['denoised_psnr'] for v in rows], unit=' dB')}** | "
                             f"{_mean_std([v['clean_input_psnr'] for v in rows], unit=' dB')} |")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------------------------

PARTS: dict[str, Callable[[argparse.Namespace, dict[str, Any], Results], None]] = {
    "throughput": part_throughput, "vae": part_vae, "sda": part_sda, "psnr": part_psnr, "probe": part_probe}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="throughput,vae,sda,psnr,probe", help="comma-separated parts to run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 rows, 1 epoch, k = 50")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/autoencoders.json)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the probe and PSNR parts")
    parser.add_argument("--vae-epochs", type=int, default=30)
    parser.add_argument("--nll-budget", type=float, default=300.0, help="seconds allowed for the k = 5000 NLL")
    parser.add_argument("--pretrain-epochs", type=int, default=5, help="SdA: denoising autoencoder epochs")
    parser.add_argument("--finetune-epochs", type=int, default=15, help="SdA: fine-tuning epochs")
    parser.add_argument("--no-sda-control", dest="sda_control", action="store_false",
                        help="skip the SdA control (the same fine-tuning from a random initialisation)")
    parser.add_argument("--probe-epochs", type=int, default=3)
    parser.add_argument("--psnr-epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=7, help="throughput: alternating pairs")
    parser.add_argument("--throughput-rows", type=int, default=10_000, help="throughput: rows in one epoch")
    parser.add_argument("--report", action="store_true", help="print the Markdown section from the JSON and exit")
    args = parser.parse_args(argv)
    out = args.out or (Path(tempfile.gettempdir()) / "autoencoders-quick.json" if args.quick
                       else HERE / "autoencoders.json")
    if args.report:
        print(report(json.loads(out.read_text())))
        return
    if args.threads:
        # Under contention extra threads spin: on this shared machine 2 threads ran a VAE epoch 15x slower than 1.
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)  # numpy/OpenBLAS under scikit-learn's LogisticRegression too
    if args.quick:
        args.vae_epochs = args.pretrain_epochs = args.finetune_epochs = args.probe_epochs = args.psnr_epochs = 1
        args.seeds, args.pairs, args.nll_budget, args.throughput_rows = 1, 2, 10.0, 2_000
    results = Results(out)
    data = mnist(2_000, 500) if args.quick else mnist()
    for name in args.parts.split(","):
        if name not in PARTS:
            parser.error(f"unknown part {name!r}; choose from {sorted(PARTS)}")
        start = time.perf_counter()
        results.add(f"machine_{name}", {**machine(), "quick": args.quick, "argv": sys.argv[1:]})
        PARTS[name](args, data, results)
        results.add(f"done_{name}", {"seconds": time.perf_counter() - start, "loadavg_end": os.getloadavg()})


if __name__ == "__main__":
    sys.exit(main())
