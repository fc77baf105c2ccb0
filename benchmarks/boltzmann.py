"""Boltzmann machines: RBM features against scikit-learn's example, speed against BernoulliRBM, the AIS
log-likelihood of an MNIST RBM, and DBN pretraining against a random start.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/boltzmann.py --parts digits speed ais dbn
      [--seeds 3] [--ais-k 1] [--ais-epochs 50] [--quick]

Each part merges its results into benchmarks/boltzmann.json (``--out``) as it finishes; ``--report`` reprints the
Markdown section from it.

1. ``digits``: scikit-learn's "RBM features for digit classification" example, side by side: the digits nudged by
   one pixel in four directions, scaled to [0, 1], split 80/20 with seed 0; ``BernoulliRBM(n_components=100,
   learning_rate=0.06, n_iter=10)`` then ``LogisticRegression(C=6000)`` (lbfgs, 1000 iterations: the example's
   ``newton-cg`` with ``tol=1`` stops at once in this scikit-learn), against the same pipeline with
   ``neuralab.estimators.RBM`` and the same settings. Test accuracy over seeds 0..N-1 of the RBMs.
2. ``speed``: the wall time per epoch of both RBMs on MNIST's 60,000 training images (intensities in [0, 1]), 500
   hidden units, batch 100, learning rate 0.05, PCD-1 for both (BernoulliRBM's only algorithm), 2 epochs, 3
   alternating repetitions; the test pseudo-log-likelihood of each (scikit-learn's score_samples: one random pixel
   flipped; mean of 5 draws).
3. ``ais``: ``mnist-rbm`` (binarised MNIST, 500 hidden, CD-k with k ``--ais-k``) trained ``--ais-epochs`` epochs,
   its log Z estimated by AIS with the paper's settings (100 runs, 14,500 betas, base-rate model), and the mean test
   log-likelihood with its ±3σ bounds. The paper's CD-25 model scores −86.34 nats; CD-1 about −125.
4. ``dbn``: ``mnist-dbn`` pretrained, then ``mnist-dbn-finetune`` from it, and the same network from a random start,
   each over seeds 0..N-1; test error. Hinton et al. 2006: 1.25%, the same net from random about 1.6%.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine

ROOT = Path(__file__).resolve().parent
PARTS = ("digits", "speed", "ais", "dbn")


def nudge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's example: each 8×8 image and its copies shifted by one pixel up, down, left and right."""
    from scipy.ndimage import convolve

    vectors = [[[0, 1, 0], [0, 0, 0], [0, 0, 0]], [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
               [[0, 0, 0], [0, 0, 1], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 1, 0]]]
    shifted = [np.apply_along_axis(lambda r, w=w: convolve(r.reshape((8, 8)), mode="constant", weights=w).ravel(),
                                   1, x) for w in vectors]
    return np.concatenate([x, *shifted]), np.concatenate([y] * 5)


def part_digits(seeds: int, quick: bool) -> dict[str, Any]:
    from sklearn import datasets, linear_model
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import BernoulliRBM
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import minmax_scale

    from neuralab.estimators import RBM

    x, y = datasets.load_digits(return_X_y=True)
    x, y = nudge(np.asarray(x, "float32"), y)
    x = minmax_scale(x, feature_range=(0, 1))
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    iterations = 2 if quick else 10
    rows = []
    for seed in range(seeds):
        for name, rbm in (("scikit-learn BernoulliRBM", BernoulliRBM(n_components=100, learning_rate=0.06,
                                                                      n_iter=iterations, random_state=seed)),
                          ("neuralab RBM", RBM(n_components=100, learning_rate=0.06, n_iter=iterations,
                                               random_state=seed))):
            model = Pipeline([("rbm", rbm), ("logistic", linear_model.LogisticRegression(max_iter=1000, C=6000))])
            start = time.perf_counter()
            model.fit(x_train, y_train)
            rows.append({"model": name, "seed": seed, "accuracy": float(model.score(x_test, y_test)),
                         "seconds": time.perf_counter() - start})
            print(json.dumps(rows[-1]), flush=True)
    raw = linear_model.LogisticRegression(max_iter=1000, C=100).fit(x_train, y_train)
    return {"rows": rows, "raw_pixels_accuracy": float(raw.score(x_test, y_test)), "n_iter": iterations}


def _mnist(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    from neuralab.data import load_dataset

    ds = load_dataset("mnist")
    split = ds.predefined_split
    x = ds.x.reshape(len(ds.x), -1).astype(np.float32) / 255.0
    train, test = x[split.train], x[split.test]
    return (train[:3000], test[:1000]) if quick else (train, test)


def part_speed(quick: bool) -> dict[str, Any]:
    from sklearn.neural_network import BernoulliRBM

    from neuralab.estimators import RBM

    train, test = _mnist(quick)
    epochs, reps = (1, 1) if quick else (2, 3)
    settings = dict(n_components=500, learning_rate=0.05, batch_size=100, n_iter=epochs, random_state=0)
    times: dict[str, list[float]] = {"scikit-learn BernoulliRBM": [], "neuralab RBM": []}
    pll: dict[str, list[float]] = {key: [] for key in times}
    for rep in range(reps):
        order = list(times) if rep % 2 == 0 else list(reversed(times))  # alternate: load drift hits both
        for name in order:
            model = BernoulliRBM(**settings) if name.startswith("scikit") else RBM(**settings)
            start = time.perf_counter()
            model.fit(train)
            times[name].append((time.perf_counter() - start) / epochs)
            if rep == 0:
                rng = np.random.RandomState(0)
                for _ in range(5):
                    if name.startswith("scikit"):
                        model.random_state = rng
                    pll[name].append(float(model.score_samples(test).mean()))
            print(json.dumps({"model": name, "rep": rep, "seconds_per_epoch": times[name][-1]}), flush=True)
    return {"settings": {**settings, "epochs": epochs, "pcd": True, "rows": len(train)}, "seconds_per_epoch": times,
            "test_pseudo_log_likelihood": {k: float(np.mean(v)) for k, v in pll.items()}}


def part_ais(k: int, epochs: int, quick: bool) -> dict[str, Any]:
    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe

    overrides = [f"model.k={k}", f"trainer.epochs={1 if quick else epochs}"]
    if quick:
        overrides += ["model.ais_betas=1000", "model.ais_runs=20"]
    start = time.perf_counter()
    run = train_recipe(load_recipe("mnist-rbm", overrides), out_dir=ROOT.parent / "runs" /
                       f"bench-boltzmann-ais-k{k}-{time.strftime('%Y%m%d-%H%M%S')}", write_report=False)
    metrics = run.metrics()
    return {"k": k, "epochs": len(metrics["history"]), "seconds": time.perf_counter() - start,
            "likelihood": metrics["likelihood"], "run": str(run.path)}


def part_dbn(seeds: int, quick: bool) -> dict[str, Any]:
    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe

    folder = ROOT.parent / "runs" / f"bench-boltzmann-dbn-{time.strftime('%Y%m%d-%H%M%S')}"
    short = ["trainer.epochs=3"] if quick else []
    rows = []
    for seed in range(seeds):
        start = time.perf_counter()
        dbn = train_recipe(load_recipe("mnist-dbn", [f"trainer.seed={seed}", *short]), out_dir=folder / f"dbn-{seed}",
                           write_report=False)
        pretrain = time.perf_counter() - start
        for name, extra in (("pretrained", [f"model.init_from={dbn.path}"]), ("random start", [])):
            start = time.perf_counter()
            run = train_recipe(load_recipe("mnist-dbn-finetune", [f"trainer.seed={seed}", *short, *extra]),
                               out_dir=folder / f"{name.replace(' ', '-')}-{seed}", write_report=False)
            final = run.metrics()["final"]
            rows.append({"model": name, "seed": seed, "test_error": 1 - final["test"]["accuracy"],
                         "val_error": 1 - final["val"]["accuracy"], "epochs": len(run.metrics()["history"]),
                         "seconds": time.perf_counter() - start + (pretrain if name == "pretrained" else 0.0)})
            print(json.dumps(rows[-1]), flush=True)
    return {"rows": rows}


def _num(value: float | None, digits: int = 2, infinity: str = "−∞") -> str:
    """A number for the table; None (JSON has no infinity: a bound AIS could not give) as ``infinity``."""
    return infinity if value is None else f"{value:.{digits}f}"


def _mean_std(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    v = np.array(values, dtype=float) * scale
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.{digits}f}"


def report(results: dict[str, Any]) -> str:
    info = results.get("machine", {})
    lines = [f"Machine: {info.get('cpu')}, {info.get('cores')} cores, {info.get('torch_threads')} torch threads, "
             f"torch {info.get('torch')}." + (" QUICK RUN: not for BENCHMARKS.md." if results.get("quick") else ""),
             ""]
    if "digits" in results:
        d = results["digits"]
        lines += ["**RBM features + logistic regression on the digits** (scikit-learn's example, side by side; test "
                  f"accuracy over {len({r['seed'] for r in d['rows']})} RBM seeds; raw pixels: "
                  f"{d['raw_pixels_accuracy']:.4f})", "", "| features | accuracy | fit time (s) |", "|---|---|---|"]
        for name in dict.fromkeys(r["model"] for r in d["rows"]):
            sel = [r for r in d["rows"] if r["model"] == name]
            lines.append(f"| {name} | {_mean_std([r['accuracy'] for r in sel], digits=4)} | "
                         f"{_mean_std([r['seconds'] for r in sel], digits=1)} |")
        lines.append("")
    if "speed" in results:
        s = results["speed"]
        median = {k: float(np.median(v)) for k, v in s["seconds_per_epoch"].items()}
        sk, nl = median["scikit-learn BernoulliRBM"], median["neuralab RBM"]
        lines += [f"**Time per epoch against scikit-learn's BernoulliRBM** (MNIST, {s['settings']['rows']:,} images, "
                  f"500 hidden, batch 100, PCD-1, {s['settings']['epochs']} epochs; median of "
                  f"{len(s['seconds_per_epoch']['neuralab RBM'])} alternating runs)", "",
                  "| RBM | seconds per epoch | test pseudo-log-likelihood |", "|---|---|---|",
                  f"| scikit-learn BernoulliRBM | {sk:.1f} | "
                  f"{s['test_pseudo_log_likelihood']['scikit-learn BernoulliRBM']:.2f} |",
                  f"| neuralab RBM | {nl:.1f} | {s['test_pseudo_log_likelihood']['neuralab RBM']:.2f} |",
                  f"| speed-up | {sk / nl:.1f}× | |", ""]
    for key in sorted(k for k in results if k.startswith("ais")):
        a = results[key]
        test = a["likelihood"]["test"]
        lines += [f"**AIS log-likelihood, CD-{a['k']}, {a['epochs']} epochs** ({a['likelihood']['runs']} runs, "
                  f"{a['likelihood']['betas']} betas, base-rate model; {a['seconds'] / 60:.0f} min): mean test "
                  f"log-likelihood {_num(test['log_likelihood'])} nats, ±3σ [{_num(test['low'])}, "
                  f"{_num(test['high'], infinity='+∞')}]; log Z = {_num(a['likelihood']['log_z'])}.", ""]
    if "dbn" in results:
        rows = results["dbn"]["rows"]
        lines += ["**DBN on MNIST: pretrained against a random start** (784-500-500-2000-10, sigmoid units; test error "
                  f"over seeds {sorted({r['seed'] for r in rows})})", "",
                  "| start | test error (%) | validation error (%) | time per seed (min) |", "|---|---|---|---|"]
        for name in ("pretrained", "random start"):
            sel = [r for r in rows if r["model"] == name]
            if sel:
                lines.append(f"| {name} | {_mean_std([r['test_error'] for r in sel], 100)} | "
                             f"{_mean_std([r['val_error'] for r in sel], 100)} | "
                             f"{np.mean([r['seconds'] for r in sel]) / 60:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ais-k", type=int, default=1)
    parser.add_argument("--ais-epochs", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="A smoke run on a little data; not for BENCHMARKS.md.")
    parser.add_argument("--out", type=Path, default=ROOT / "boltzmann.json")
    parser.add_argument("--report", action="store_true", help="Only reprint the section from --out.")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if not args.report:
        results["machine"], results["quick"] = machine(), args.quick
        for part in args.parts:
            if part == "digits":
                results["digits"] = part_digits(args.seeds, args.quick)
            elif part == "speed":
                results["speed"] = part_speed(args.quick)
            elif part == "ais":
                results[f"ais_k{args.ais_k}"] = part_ais(args.ais_k, args.ais_epochs, args.quick)
            else:
                results["dbn"] = part_dbn(args.seeds, args.quick)
            args.out.write_text(json.dumps(results, indent=1))
    print(report(results))


if __name__ == "__main__":
    main()
