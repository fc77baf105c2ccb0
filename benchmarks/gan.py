"""GANs on MNIST: the DCGAN's FID on a fixed classifier's features against the real-against-real floor, epoch by
epoch, its class coverage, and the throughput of its training step against a plain PyTorch DCGAN loop.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/gan.py [--parts classifier dcgan throughput cgan]
      [--epochs 20] [--n 10000] [--classifier RUN] [--quick]

Results merge into benchmarks/gan.json (``--out``) after each part; ``--report`` reprints the Markdown section.

1. ``classifier``: ``mnist-cnn`` as shipped (seed 0), whose penultimate features (256) score every sample; its test
   accuracy and the sha256 of its weights are recorded (the goal asks ≥ 99.3%). ``--classifier RUN`` reuses one.
2. ``dcgan``: ``mnist-dcgan`` as shipped; after every epoch the generator (eval mode) draws N samples from a fixed
   seed, scored by FID and KID against N test images; the floor is the FID of N training images against the same
   N test images. Training time excludes the scoring. At the end, the classifier labels the N samples (class
   shares) and the first epoch at or under 3 × the floor is reported with its cumulative training time.
3. ``throughput``: training steps per second on MNIST batches of 128, the same ``models.GAN`` (DCGAN, seed 0),
   the same Adam settings: the engine (``fit``, through ``train_step``) against a plain PyTorch loop written as
   PyTorch's DCGAN example (one generator pass, D on the detached fakes, then G through the updated D); median of
   alternating repetitions.
4. ``cgan``: ``mnist-cgan`` as shipped; FID against the floor, and how often the classifier reads the asked label.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import machine, timed_pair

from neuralab.train import Callback

ROOT = Path(__file__).resolve().parent
PARTS = ("classifier", "dcgan", "throughput", "cgan")


def part_classifier(runs: Path, quick: bool) -> dict[str, Any]:
    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe
    from neuralab.tasks._quality import weights_sha256

    out = runs / "mnist-cnn"
    start = time.perf_counter()
    run = train_recipe(load_recipe("mnist-cnn", ["trainer.epochs=1"] if quick else []), out_dir=out,
                       write_report=False)
    return {"run": str(out), "seconds": time.perf_counter() - start,
            "test_accuracy": run.metrics()["final"]["test"]["accuracy"], "sha256": weights_sha256(run.model)}


class ScoreEachEpoch(Callback):
    """An engine callback: FID/KID of N samples after every epoch, its own time kept out of the training time."""

    order = 90

    def __init__(self, features: Any, test: torch.Tensor, n: int, seed: int) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance

        self.features, self.n, self.seed = features, n, seed
        self.fid = FrechetInceptionDistance(feature=features, normalize=True, reset_real_features=False)
        for start in range(0, n, 500):
            self.fid.update(test[start:start + 500], real=True)
        self.rows: list[dict[str, float]] = []
        self.scoring = 0.0
        self.started = time.perf_counter()

    def on_fit_start(self, state: Any) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, state: Any) -> None:
        begin = time.perf_counter()
        model = state.model
        model.eval()
        generator = torch.Generator().manual_seed(self.seed)
        labels = torch.arange(self.n) % model.n_classes if model.conditional else None
        with torch.no_grad():
            fake = torch.cat([model.sample(min(500, self.n - s), generator,
                                           None if labels is None else labels[s:s + 500])
                              for s in range(0, self.n, 500)])
        model.train()
        self.fid.reset()
        for start in range(0, self.n, 500):
            self.fid.update(fake[start:start + 500], real=False)
        fid = float(self.fid.compute())
        self.scoring += time.perf_counter() - begin
        self.rows.append({"epoch": state.epoch, "fid": fid,
                          "train_seconds": time.perf_counter() - self.started - self.scoring})
        print(json.dumps(self.rows[-1]), flush=True)  # the log keeps the curve if the run is cut short


def part_gan(recipe_name: str, classifier: str, epochs: int, n: int, runs: Path, quick: bool) -> dict[str, Any]:
    from neuralab.recipes import load_recipe
    from neuralab.tasks import prepare_data, train_recipe
    from neuralab.tasks._quality import ClassifierFeatures
    from neuralab.tasks.generation import Generation

    sets = [f"trainer.epochs={epochs}", f"data.classifier={classifier}", f"data.eval_samples={n}"]
    recipe = load_recipe(recipe_name, sets)
    data = prepare_data(recipe)
    shape = tuple(data.image_shape)
    test = data.splits["test"][0][:n].reshape(-1, *shape).float()
    features = ClassifierFeatures(Generation()._check_classifier(recipe).model, shape)
    scorer = ScoreEachEpoch(features, test, len(test), seed=0)
    out = runs / recipe_name
    start = time.perf_counter()
    run = train_recipe(recipe, out_dir=out, callbacks=[scorer], write_report=True)
    wall = time.perf_counter() - start
    quality = run.metrics()["quality"]
    floor = quality["floor"]["fid"]
    reached = next((r for r in scorer.rows if r["fid"] <= 3 * floor), None)
    return {"recipe": recipe_name, "epochs": epochs, "n": quality["n"], "wall_seconds": wall,
            "per_epoch": scorer.rows, "quality": quality, "floor": floor,
            "goal_epoch": reached["epoch"] if reached else None,
            "goal_train_seconds": reached["train_seconds"] if reached else None, "run": str(out)}


def part_throughput(steps: int, reps: int) -> dict[str, Any]:
    from neuralab.data import load_dataset
    from neuralab.models import GAN
    from neuralab.train import FitData, OptimizerConfig, TrainerConfig, fit

    ds = load_dataset("mnist")
    x = torch.tensor(ds.x[: steps * 128], dtype=torch.float32).reshape(-1, 1, 28, 28) / 255

    def build() -> GAN:
        torch.manual_seed(0)
        return GAN(784, image_size=28, architecture="dcgan")

    def engine() -> None:
        fit(build(), FitData((x,)), TrainerConfig(epochs=1, batch_size=128, seed=0, device="cpu"),
            optimizer=OptimizerConfig(name="adam", lr=2e-4, betas=[0.5, 0.999]))

    def plain() -> None:
        model = build()
        opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(model.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        bce = torch.nn.BCEWithLogitsLoss()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        for start in range(0, len(x), 128):
            real = x[order[start:start + 128]] * 2 - 1
            fake = model.generator(torch.randn(len(real), 100))
            opt_d.zero_grad()
            real_logits, fake_logits = model.discriminator(real, None), model.discriminator(fake.detach(), None)
            d_loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            out = model.discriminator(fake, None)
            bce(out, torch.ones_like(out)).backward()
            opt_g.step()
            float(d_loss)  # what the example logs

    ours, theirs = timed_pair(engine, plain, reps)
    return {"steps": len(x) // 128, "batch": 128, "engine_seconds": ours, "plain_seconds": theirs,
            "ratio": float(np.median(theirs) / np.median(ours)), "threads": torch.get_num_threads()}


def report(results: dict[str, Any]) -> str:
    info = results.get("machine", {})
    lines = [f"Machine: {info.get('cpu')}, {info.get('cores')} cores, {info.get('torch_threads')} torch threads, "
             f"torch {info.get('torch')}." + (" QUICK RUN: not for BENCHMARKS.md." if results.get("quick") else ""),
             ""]
    c = results.get("classifier")
    if c:
        lines += [f"Classifier: `mnist-cnn` seed 0, test accuracy {c['test_accuracy']:.4f}, weights sha256 "
                  f"`{c['sha256'][:16]}…` ({c['seconds'] / 60:.0f} min).", ""]
    for key in ("dcgan", "cgan"):
        g = results.get(key)
        if not g:
            continue
        q = g["quality"]
        shares = ", ".join(f"{s:.1%}" for s in q["classes"]["share"])
        lines += [f"**`{g['recipe']}`**, {g['epochs']} epochs, N = {g['n']:,}, seed 0: FID "
                  f"{q['samples']['fid']:.2f} against a floor of {g['floor']:.2f} ({q['fid_over_floor']:.1f}× the "
                  f"floor), KID {q['samples']['kid']:.4f} ± {q['samples']['kid_std']:.4f}; class shares {shares}"
                  + (f"; {q['classes']['warning']}" if q["classes"]["warning"] else "")
                  + (f"; label read back {q['label_accuracy']:.1%}" if "label_accuracy" in q else "") + ".", ""]
        lines += ["| epoch | FID | × floor | training time (min) |", "|---|---|---|---|"]
        for row in g["per_epoch"]:
            lines.append(f"| {row['epoch']} | {row['fid']:.2f} | {row['fid'] / g['floor']:.1f} | "
                         f"{row['train_seconds'] / 60:.1f} |")
        lines.append("")
        if g["goal_epoch"]:
            lines += [f"FID ≤ 3× the floor first at epoch {g['goal_epoch']}, after {g['goal_train_seconds'] / 60:.1f} "
                      "min of training.", ""]
        else:
            lines += ["FID did not reach 3× the floor in these epochs.", ""]
    t = results.get("throughput")
    if t:
        lines += [f"**Training step throughput** (DCGAN, batch {t['batch']}, {t['steps']} steps, "
                  f"{t['threads']} threads; median of {len(t['engine_seconds'])} alternating runs): engine "
                  f"{t['steps'] / np.median(t['engine_seconds']):.1f} steps/s, plain PyTorch loop "
                  f"{t['steps'] / np.median(t['plain_seconds']):.1f} steps/s, ratio {t['ratio']:.3f}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=["classifier", "dcgan", "throughput"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--classifier", help="A trained mnist-cnn run to score with, instead of training one.")
    parser.add_argument("--runs", type=Path, default=Path(tempfile.gettempdir()) / "neuralab-bench-gan")
    parser.add_argument("--quick", action="store_true", help="A smoke run; not for BENCHMARKS.md.")
    parser.add_argument("--out", type=Path, default=ROOT / "gan.json")
    parser.add_argument("--report", action="store_true", help="Only reprint the section from --out.")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if not args.report:
        results["machine"], results["quick"] = machine(), args.quick
        args.runs.mkdir(parents=True, exist_ok=True)
        for part in args.parts:
            if part == "classifier":
                results["classifier"] = part_classifier(args.runs, args.quick)
            elif part == "throughput":
                results["throughput"] = part_throughput(20 if args.quick else 100, 3)
            else:
                classifier = args.classifier or (results.get("classifier") or {}).get("run")
                if classifier is None:
                    raise SystemExit("no classifier: run --parts classifier first, or give --classifier RUN")
                name = "mnist-dcgan" if part == "dcgan" else "mnist-cgan"
                results[part] = part_gan(name, classifier, 1 if args.quick else args.epochs,
                                         min(args.n, 500) if args.quick else args.n, args.runs, args.quick)
            args.out.write_text(json.dumps(results, indent=1))
    print(report(results))


if __name__ == "__main__":
    main()
